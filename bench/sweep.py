"""What Ray Tune buys a sweep on this machine: 8 trials of gridlab_fast (preset=fast) on Fashion-MNIST, learning
rate x batch, with ASHA, against the same 8 configurations trained one after another by `gridlab train`.

Run:  .venv/bin/python bench/sweep.py          (about 10 minutes on 2 cores)
1. `gridlab sweep data=fashion-mnist preset=fast lr=[...] batch=[...] sweep_search=grid` on a local Ray started
   by gridlab (1 CPU per trial, so 2 trials side by side on 2 cores; ASHA stops trials that fall behind at epochs
   1 and 2): wall time, trials stopped early, the best trial's validation and test accuracy.
2. The same 8 configurations, each `gridlab train` in its own process, one after another (each with both cores),
   with the same settings as the trials (report and label audit included): wall time, the best validation and test
   accuracy.
3. Ray's overhead on tiny data: 4 one-epoch trials of the seed 003 MLP on the 8x8 digits, one at a time, against
   the same 4 trainings in one process: start-up and per-trial seconds.
Every command runs as a user would type it (subprocesses). Writes the section "sweep" of docs/benchmarks.md.
"""
from __future__ import annotations

import csv
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _bench  # noqa: E402,F401  (the project root on sys.path; the shared helpers)

LRS, BATCHES = (0.002, 0.004, 0.008, 0.016), (128, 256)
ENV = _bench.child_env()


def gridlab(*args, cwd, show: bool = False) -> float:
    """Run one gridlab command as a user would; its wall time. With ``show`` its output's summary is printed."""
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "gridlab", *args], cwd=cwd, env=ENV, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"gridlab {' '.join(args)} failed:\n{out.stderr[-3000:]}")
    if show:
        lines = out.stdout.splitlines()
        first = next((i for i, line in enumerate(lines) if line.startswith("trial ")), 0)
        print("\n".join(line for line in lines if line.startswith("sweep ")) + "\n" + "\n".join(lines[first:]),
              flush=True)
    return time.perf_counter() - start


def main() -> int:
    import json

    from _bench import machine, write_section

    from gridlab.hardware import read_cpu

    cpu = read_cpu()
    print(f"CPU: {cpu.kind}, {cpu.cores} cores", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        space = [f"lr=[{','.join(map(str, LRS))}]", f"batch=[{','.join(map(str, BATCHES))}]"]
        sweep_s = gridlab("sweep", "data=fashion-mnist", "preset=fast", *space, "sweep_search=grid",
                          "sweep_metric=val_accuracy", "name=lr-batch", cwd=tmp, show=True)
        rows = list(csv.DictReader(open(Path(tmp) / "runs" / "lr-batch" / "trials.csv")))
        stopped = [r for r in rows if r["status"].startswith("stopped")]
        best = rows[0]
        print(f"sweep: {sweep_s:.0f} s, {len(stopped)} of {len(rows)} stopped early, best {best['trial']} "
              f"lr={best['lr']} batch={best['batch']} val_accuracy {best['val_accuracy']} test "
              f"{best['test_accuracy']}", flush=True)

        sequential, seq_rows = 0.0, []
        for lr in LRS:
            for batch in BATCHES:
                name = f"seq-{lr}-{batch}"
                # the same run as a trial's, report and audit included
                sequential += gridlab("train", "data=fashion-mnist", "preset=fast", f"lr={lr}", f"batch={batch}",
                                      f"name={name}", "-q", cwd=tmp)
                folder = Path(tmp) / "runs" / name
                history = list(csv.DictReader(open(folder / "history.csv")))
                seq_rows.append((lr, batch, max(float(r["val_accuracy"]) for r in history),
                                 json.loads((folder / "metrics.json").read_text())["accuracy"]))
                print(f"sequential lr={lr} batch={batch}: val {seq_rows[-1][2]:.4f} test {seq_rows[-1][3]:.4f} "
                      f"({sequential:.0f} s so far)", flush=True)
        seq_best = max(seq_rows, key=lambda r: r[2])

        tiny = ["data=digits", "model=seed003_mlp", "epochs=1", "report=false", "audit=false", "calibrate=false"]
        ray_s = gridlab("sweep", *tiny, "batch=[16,32,64,128]", "sweep_search=grid", "sweep_scheduler=none",
                        "sweep_cpus_per_trial=2", "name=tiny", cwd=tmp)
        plain_s = gridlab("train", *tiny, "batch=16", "name=p1", "-q", cwd=tmp)
        code = ("import gridlab, time\nstart = time.perf_counter()\nfor b in (16, 32, 64, 128):\n"
                "    gridlab.train(data='digits', model='seed003_mlp', epochs=1, report=False, audit=False, "
                "calibrate=False, batch=b, name=f'p{b}', verbose=False)\nprint(time.perf_counter() - start)")
        out = subprocess.run([sys.executable, "-c", code], cwd=tmp, env=ENV, capture_output=True, text=True)
        in_process = float(_bench.last_line(out.stdout, as_json=False))
        print(f"tiny: sweep {ray_s:.1f} s, one gridlab train process {plain_s:.1f} s, 4 trainings in one process "
              f"{in_process:.1f} s", flush=True)

    ratio = sequential / sweep_s
    write_section("sweep", f"## Sweeps on Ray Tune (`bench/sweep.py`)\n\n"
                  f"Measured on: {machine()}; CPU {cpu.kind}.\n"
                  "Command: `.venv/bin/python bench/sweep.py`. Fashion-MNIST, `preset=fast` (gridlab_fast, 3 "
                  f"epochs), learning rate {list(LRS)} x batch {list(BATCHES)}: 8 configurations, each command "
                  "run as a user types it.\n\n"
                  "| how | wall time | trials stopped early | best configuration | its best validation accuracy | "
                  "its test accuracy |\n|---|---|---|---|---|---|\n"
                  f"| `gridlab sweep ... sweep_search=grid` (local Ray, 1 CPU per trial: 2 side by side; ASHA) | "
                  f"{sweep_s:.0f} s | {len(stopped)} of 8 | lr={best['lr']}, batch={best['batch']} | "
                  f"{float(best['val_accuracy']):.4f} | {float(best['test_accuracy'] or 'nan'):.4f} |\n"
                  "| the same 8 by `gridlab train`, one after another (2 cores each; report included, as in the "
                  "trials) | "
                  f"{sequential:.0f} s | - | "
                  f"lr={seq_best[0]}, batch={seq_best[1]} | {seq_best[2]:.4f} | {seq_best[3]:.4f} |\n\n"
                  f"The sweep took {ratio:.2f}x less wall time (target >= 1.6x): two trials share the two cores, "
                  "and ASHA ends the trials that fall behind after their first or second epoch.\n\n"
                  "Ray's overhead on tiny data (the 8x8 digits, seed 003 MLP, 1 epoch; 4 trials one at a time with "
                  f"both CPUs): the sweep command took {ray_s:.1f} s; one `gridlab train` process {plain_s:.1f} s "
                  f"(start-up included); the 4 trainings in one Python process {in_process:.1f} s. So about "
                  f"{(ray_s - in_process) / 4:.1f} s per trial goes to Ray (starting the local cluster and its "
                  "worker process, which imports TensorFlow once and runs the trials one after another "
                  "(`reuse_actors`), reporting).")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
