"""Data-parallel training (`distribute=data_parallel`, keras.distribution on JAX) against one process, on
Fashion-MNIST with `preset=fast`, every run as a user starts it (its own processes, side by side in this one script).

Run:  .venv/bin/python bench/distributed.py            (about 8 minutes on 2 cores)
Rows: one process on TensorFlow (gridlab's default), one process on JAX, two JAX processes on 127.0.0.1 (each with
every core, as a user would start them), and two JAX processes with one XLA thread each (a fair split of 2 cores).
Reports training images/s (epochs x training examples / training seconds, from run.json), the command's wall time
and the test accuracy. Writes the section "distributed" of docs/benchmarks.md.
"""
from __future__ import annotations

import json
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _bench  # noqa: E402,F401  (the project root on sys.path; the shared helpers)

BASE = _bench.child_env(drop=("KERAS_BACKEND",))     # each row names its backend, or lets gridlab choose
ONE_THREAD = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
TRAIN = ["-m", "gridlab", "train", "data=fashion-mnist", "preset=fast", "report=false", "audit=false", "-q"]


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(label: str, name: str, tmp: Path, processes: int, env: dict) -> dict:
    """Start the processes, wait for them, and read process 0's run.json and metrics.json."""
    port = _port()
    extra = ([] if processes == 1 else ["distribute=data_parallel", f"distribute_coordinator=127.0.0.1:{port}",
                                        f"distribute_processes={processes}"])
    started = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, *TRAIN, f"name={name}", *extra]
                              + ([f"distribute_process_id={i}"] if processes > 1 else []),
                              cwd=tmp, env={**BASE, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(processes)]
    outs = [p.communicate() for p in procs]
    wall = time.perf_counter() - started
    if any(p.returncode for p in procs):
        raise SystemExit(f"{label} failed:\n" + "\n".join(o[1][-2000:] for o in outs))
    info = json.loads((tmp / "runs" / name / "run.json").read_text())
    metrics = json.loads((tmp / "runs" / name / "metrics.json").read_text())
    images = info["epochs_run"] * sum(info["counts"]["train"])
    return {"label": label, "processes": processes, "images_per_s": images / info["train_seconds"],
            "train_seconds": info["train_seconds"], "wall": wall, "accuracy": metrics["accuracy"],
            "epochs": info["epochs_run"], "backend": info["versions"]["backend"]}


def main() -> int:
    from _bench import machine, write_section

    from gridlab.hardware import read_cpu

    cpu = read_cpu()
    print(f"CPU: {cpu.kind}, {cpu.cores} cores", flush=True)
    recipes = [("One process, TensorFlow (gridlab's default)", 1, {}),
               ("One process, JAX", 1, {"KERAS_BACKEND": "jax"}),
               ("Two JAX processes on 127.0.0.1 (data_parallel)", 2, {}),
               ("Two JAX processes, one XLA thread each", 2, {"XLA_FLAGS": ONE_THREAD})]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for index, (label, processes, env) in enumerate(recipes):
            row = run(label, f"run{index}", Path(tmp), processes, env)
            rows.append(row)
            print(f"{label}: {row['images_per_s']:,.0f} images/s, training {row['train_seconds']:.1f} s, wall "
                  f"{row['wall']:.1f} s, test accuracy {row['accuracy']:.4f}", flush=True)
    base = rows[1]["images_per_s"]
    table = ["| run | backend | training images/s | vs one JAX process | training s | wall s | test accuracy |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        table.append(f"| {r['label']} | {r['backend']} | {r['images_per_s']:,.0f} | {r['images_per_s'] / base:.2f}x | "
                     f"{r['train_seconds']:.1f} | {r['wall']:.1f} | {r['accuracy']:.4f} |")
    write_section("distributed", "## Data-parallel training (`bench/distributed.py`)\n\n"
                  f"Measured on: {machine()}; CPU {cpu.kind}.\n"
                  "Command: `.venv/bin/python bench/distributed.py`. Fashion-MNIST, `preset=fast` (3 epochs, global "
                  "batch 256); each run started as a user starts it; images/s = epochs x training examples / "
                  "training seconds (run.json; validation passes included). On one 2-core machine two processes "
                  "share the same two cores, so this shows the cost of the gradient all-reduce and that the "
                  "accuracy holds, not a speed-up: that needs a core (or machine) per process.\n\n"
                  + "\n".join(table))
    print("\n".join(table))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
