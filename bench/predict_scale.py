"""Batch prediction at scale: `gridlab predict` (all files at once, CSV) against the streaming path (Parquet shards)
and the same on Ray Data (local Ray, 2 CPUs), on 10,000 and 100,000 PNG files written from Fashion-MNIST.

Run:  .venv/bin/python bench/predict_scale.py [--sizes 10000 100000]      (about 10 minutes on 2 cores)
Every path runs in its own process, with its own peak RSS (``_peak.py``: ru_maxrss at exit; for Ray Data the
driver's, and the peak summed RSS of Ray's worker processes sampled every 0.2 s). Reports files/s and peak
memory per path and size: the streaming paths should stay flat as the input grows 10x. Writes the section
"predict-scale" of docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import _bench  # noqa: E402,F401  (the project root on sys.path; the shared helpers)

PEAK = Path(__file__).with_name("_peak.py")
ENV = _bench.child_env()


def write_images(folder: Path, n: int) -> None:
    """n PNG files (Fashion-MNIST test images, repeated), 1,000 per sub-folder."""
    from PIL import Image

    from gridlab.sources.catalog import load_idx_set

    _, _, xt, _, _, _ = load_idx_set("fashion-mnist")
    for i in range(n):
        sub = folder / f"{i // 1000:04d}"
        if i % 1000 == 0:
            sub.mkdir(parents=True, exist_ok=True)
        Image.fromarray(xt[i % len(xt)]).save(sub / f"{i:06d}.png")


def _ray_workers_rss() -> float:
    """Summed RSS (GiB) of Ray's worker processes right now."""
    total = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            name = Path(f"/proc/{pid}/comm").read_text().strip()
            if name.startswith("ray::"):
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            continue
    return total / 2**20


def timed(argv, cwd) -> tuple[float, float, float]:
    """(seconds, the command's peak RSS in GiB (``_peak.py``), the peak summed RSS of Ray's workers in GiB)."""
    peak_workers, stop = [0.0], threading.Event()

    def sample():
        while not stop.is_set():
            peak_workers[0] = max(peak_workers[0], _ray_workers_rss())
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    start = time.perf_counter()
    out = subprocess.run([sys.executable, str(PEAK), *argv], cwd=cwd, env=ENV, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    stop.set()
    sampler.join()
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(argv[:6])} ... failed:\n{out.stderr[-3000:]}")
    peak = next(int(line.split()[1]) for line in reversed(out.stderr.splitlines()) if line.startswith("PEAK_RSS_KB"))
    return seconds, peak / 2**20, peak_workers[0]


def main() -> int:
    from _bench import machine, write_section

    from gridlab.hardware import read_cpu

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10000, 100000])
    args = parser.parse_args()
    cpu = read_cpu()
    print(f"CPU: {cpu.kind}, {cpu.cores} cores", flush=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        run_args = ["train", "data=fashion-mnist", "preset=fast", "name=model", "report=false", "audit=false", "-q"]
        subprocess.run([sys.executable, "-m", "gridlab", *run_args], cwd=tmp, env=ENV, check=True,
                       capture_output=True)
        subprocess.run([sys.executable, "-m", "gridlab", "export", "runs/model", "--format", "onnx"], cwd=tmp,
                       env=ENV, check=True, capture_output=True)
        for n in args.sizes:
            folder = tmp / f"in{n}"
            started = time.perf_counter()
            write_images(folder, n)
            print(f"{n:,} PNG files written in {time.perf_counter() - started:.0f} s", flush=True)
            listing = tmp / f"files{n}.txt"
            listing.write_text("\n".join(sorted(str(p) for p in folder.rglob("*.png"))))
            gridlab = ["-m", "gridlab", "predict", "runs/model"]
            paths = {   # gridlab.predict from Python: 100,000 paths are over the OS limit for one command line
                "`gridlab.predict(run, files, out=CSV)` (every file read, then predicted at once)":
                    ["-c", f"import gridlab; gridlab.predict('runs/model', open({str(listing)!r}).read().split(), "
                           f"out='plain{n}.csv')"],
                "streaming (`gridlab predict RUN FOLDER --out X.parquet`, 1,024 files per shard)":
                    [*gridlab, str(folder), "--out", f"stream{n}.parquet"],
                "streaming on Ray Data (`--ray`, local Ray, 2 CPUs)":
                    [*gridlab, str(folder), "--out", f"ray{n}.parquet", "--ray"],
            }
            for label, command in paths.items():
                seconds, rss, workers = timed(command, tmp)
                rows.append((label, n, seconds, rss, workers))
                print(f"{label}, {n:,} files: {seconds:.1f} s, {n / seconds:,.0f} files/s, peak RSS {rss:.2f} GiB"
                      + (f", Ray workers {workers:.2f} GiB" if workers else ""), flush=True)
    table = ["| path | files | seconds | files/s | peak RSS of the command (GiB) | peak RSS of Ray's workers (GiB) |",
             "|---|---|---|---|---|---|"]
    for label, n, seconds, rss, workers in rows:
        table.append(f"| {label} | {n:,} | {seconds:.1f} | {n / seconds:,.0f} | {rss:.2f} | "
                     + (f"{workers:.2f} |" if workers else "- |"))
    write_section("predict-scale", "## Batch prediction at scale (`bench/predict_scale.py`)\n\n"
                  f"Measured on: {machine()}; CPU {cpu.kind}.\n"
                  f"Command: `.venv/bin/python bench/predict_scale.py --sizes {' '.join(map(str, args.sizes))}`. "
                  "PNG files written from the Fashion-MNIST test images; the `preset=fast` model; each path as a "
                  "user runs it, in its own process; peak RSS is the process's own ru_maxrss (Ray's workers sampled "
                  "every 0.2 s).\n\n" + "\n".join(table))
    print("\n".join(table))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
