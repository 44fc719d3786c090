"""Served requests of many sizes: ``feed.predict`` padding each to a power of two (``feed.bucket``) against the
model predicting each request at its own size, side by side, on TensorFlow (the CPU backend) and on JAX (the GPU
backend, here on the CPU). Every new input shape is a trace of the predict function on TensorFlow and an XLA
compilation on JAX.

Run:  .venv/bin/python bench/predict_shapes.py

Each backend runs in a fresh process: seed001_cnn for 28x28 images (untrained: the weights do not change the
time), built twice so that neither way reuses the other's traces; 300 requests of 1 to 64 images in a fixed random
order, the same for both ways, taken in turn request by request. Prints seconds for the first 100 requests (where
new shapes come) and for the last 200, and writes docs/benchmarks.md (section "predict-shapes").
"""
from __future__ import annotations

import subprocess
import sys
import time

import _bench

CHILD = """
import json, sys, time
import numpy as np
from gridlab.backend import use
use()
from gridlab.datasets import feed
from gridlab.models import build_model

sizes = np.random.default_rng(0).integers(1, 65, 300)
x = np.random.default_rng(1).integers(0, 256, (64, 28, 28, 1), dtype=np.uint8)
models = {way: build_model("seed001_cnn", (28, 28, 1), 10) for way in ("exact", "bucketed")}
run = {"exact": lambda n: np.asarray(models["exact"].predict_on_batch(x[:n])),
       "bucketed": lambda n: feed.predict(models["bucketed"], x[:n], 64)}
spent = {way: [] for way in run}
for n in sizes:
    for way, fn in run.items():
        start = time.perf_counter()
        out = fn(int(n))
        spent[way].append(time.perf_counter() - start)
        assert out.shape == (n, 10)
print(json.dumps({way: [sum(t[:100]), sum(t[100:])] for way, t in spent.items()}
                 | {"shapes": [len(set(sizes.tolist())), len({feed.bucket(int(n), 64) for n in sizes})]}))
"""


def main() -> int:
    started = time.perf_counter()
    rows = []
    for backend in ("tensorflow", "jax"):
        print(f"{backend}: 300 requests of 1 to 64 images, both ways ...", flush=True)
        out = subprocess.run([sys.executable, "-c", CHILD], env=_bench.child_env(KERAS_BACKEND=backend),
                             capture_output=True, text=True, cwd=_bench.ROOT)
        if out.returncode:
            print(out.stderr[-3000:])
            return 1
        rows.append((backend, _bench.last_line(out.stdout)))
    text = ["| backend | request shapes | first 100 requests | last 200 requests |", "|---|---|---|---|"]
    for backend, r in rows:
        (e1, e2), (b1, b2) = r["exact"], r["bucketed"]
        text.append(f"| {backend}, each at its size | {r['shapes'][0]} | {e1:.2f} s | {e2:.2f} s |")
        text.append(f"| {backend}, padded to a power of two | {r['shapes'][1]} | {b1:.2f} s | {b2:.2f} s |")
        text.append(f"| {backend}: padded against each at its size | | **{b1 / e1:.2f}x** | **{b2 / e2:.2f}x** |")
    print("\n".join(text))
    _bench.write_section("predict-shapes", "\n".join([
        "## Requests of many sizes (`bench/predict_shapes.py`)", "",
        f"Measured on: {_bench.machine()}. Command: `.venv/bin/python bench/predict_shapes.py` "
        f"({time.perf_counter() - started:.0f} s). seed001_cnn on 28x28 images, 300 requests of 1 to 64 images in "
        "a fixed random order, each way with a model of its own, taken in turn; seconds summed over the requests.",
        "", *text, "",
        "`feed.predict` pads a request that fits in one batch to the next power of two (`feed.bucket`), so a model "
        "sees at most 7 shapes for requests of up to 64 examples. Each new shape is an XLA compilation on JAX and a "
        "trace on TensorFlow (which relaxes its shapes after a few, so it gains less)."]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
