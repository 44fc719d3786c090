"""Sensor-grid load speed on a seed-004-sized set (7,089 frames of 110x120 = 93.6 M values).

Run:  .venv/bin/python bench/grid_load.py [DATA]     (DATA defaults to data/thermal, made with make-thermal)
Prints, in one process: a numpy.loadtxt baseline, gridlab cold (no cache), gridlab first load (parse + write the
cache), gridlab warm (cache hit), with values/s and ratios against the baseline. Writes docs/benchmarks.md
(section "grid-load").
"""
from __future__ import annotations

import io
import shutil
import sys
import tempfile
import time
from pathlib import Path

import _bench  # noqa: E402,F401  (the project root on sys.path; the shared helpers)


def main() -> int:
    import os

    import numpy as np
    from _bench import machine, write_section

    from gridlab.config import load_config
    from gridlab.sources.layout import discover
    from gridlab.sources.sensor_grid import GridFormat, read_sensor_folder

    data = Path(sys.argv[1] if len(sys.argv) > 1 else "data/thermal")
    if not data.is_dir():
        print(f"{data}: not found. Make it first: gridlab make-thermal {data}", file=sys.stderr)
        return 2
    os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="gridlab-bench-")   # a cache of our own, empty
    c = load_config({"data": str(data)})
    fmt = GridFormat.from_config(c)
    train, _, _ = discover(data, c.grid_glob)
    files = [p for p, _ in train]

    def baseline():
        out = []
        for p in files:
            lines = [ln for ln in Path(p).read_bytes().split(b"\n")[fmt.skip_rows:] if len(ln.split()) >= 100]
            out.append(np.loadtxt(io.BytesIO(b"\n".join(lines)), usecols=range(*fmt.cols), dtype=np.float32))
        return np.stack(out)

    rows = []

    def timed(label, fn, repeat=1):
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            x = fn()
            times.append(time.perf_counter() - start)
        seconds = float(np.median(times))
        spread = f" (median of {repeat}: min {min(times):.2f}, max {max(times):.2f})" if repeat > 1 else ""
        rows.append((label + spread, seconds, x.size / seconds / 1e6))
        print(f"{label}: {seconds:.2f} s{spread}, {x.size / seconds / 1e6:.1f} M values/s, shape {x.shape}",
              flush=True)
        return x

    ref = timed("baseline: numpy.loadtxt, one process", baseline)
    cold = timed("gridlab cold (no cache)", lambda: read_sensor_folder(data, fmt, c.grid_glob, cache=False).x_train, 3)
    first = timed("gridlab first load (parse + write cache)",
                  lambda: read_sensor_folder(data, fmt, c.grid_glob).x_train)
    warm = timed("gridlab warm (cache hit)", lambda: read_sensor_folder(data, fmt, c.grid_glob).x_train, 7)
    same = np.array_equal(np.sort(ref.ravel()), np.sort(cold.ravel())) and np.array_equal(cold, warm) and \
        np.array_equal(cold, first)
    print(f"identical values: {same}")
    shutil.rmtree(os.environ["XDG_CACHE_HOME"], ignore_errors=True)
    base = rows[0][1]
    table = ["| load | seconds | M values/s | speed-up vs loadtxt |", "|---|---|---|---|"]
    table += [f"| {label} | {s:.2f} | {v:.1f} | {base / s:.1f}x |" for label, s, v in rows]
    write_section("grid-load", "## Sensor-grid loading (`bench/grid_load.py`)\n\n"
                  f"Measured on: {machine()}.\nData: `gridlab make-thermal data/thermal` ({len(files):,} frames of "
                  f"{cold.shape[1]}x{cold.shape[2]} = {cold.size / 1e6:.1f} M values, "
                  f"{sum(Path(p).stat().st_size for p in files) / 2**20:.0f} MiB of text; files in the OS page cache)."
                  f"\nCommand: `.venv/bin/python bench/grid_load.py data/thermal`. Targets: cold <= 8 s, warm <= 0.5 s."
                  f" All loads gave identical values: {same}.\n\n" + "\n".join(table))
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
