"""ONNX Runtime on gridlab's ONNX export against the converter's own graph, side by side.

Run:  .venv/bin/python bench/onnx_rewrites.py [RUN ...]   (without RUN: trains the `fast` preset and seed001_cnn on
      Fashion-MNIST for 1 epoch each)

`gridlab export` rewrites two patterns of the converter's graph that ONNX Runtime runs slowly
(`export._flatten_trailing_ones`, `export._fold_flatten_transpose`). For each run: the model converted as Keras
converts it, and as gridlab writes it, checked to give the same probabilities, then timed in turn: 10,000 test arrays
(in ONNX Runtime calls of 1,024, as gridlab runs them; the best of 15 calls, in blocks of 5 calls of one file) and
one array at a time (the median of 300 calls). Writes docs/benchmarks.md (section "onnx-rewrites").
"""
from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import _bench  # noqa: F401  (the project root on sys.path; the shared helpers)

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")     # the converter's TensorFlow, quiet as `gridlab export` is


def files(run, tmp: Path) -> dict[str, Path]:
    """The run's model as the converter writes it, and as `gridlab export` writes it."""
    from gridlab.evaluation import run_dataset
    from gridlab.export import _write_model
    from gridlab.prediction import Predictor

    p = Predictor(run)
    x = run_dataset(p).x_test[:1]
    p.model(x)
    out = {"converter's graph": tmp / f"{Path(run).name}-raw.onnx", "gridlab export": tmp / f"{Path(run).name}.onnx"}
    p.model.export(str(out["converter's graph"]), format="onnx", verbose=False)
    _write_model(p.model, "onnx", out["gridlab export"], {}, x)
    return out


def measure(run, tmp: Path) -> list[str]:
    import numpy as np
    from _bench import in_blocks

    from gridlab.evaluation import run_dataset
    from gridlab.prediction import Predictor
    from gridlab.runtimes import load_runner

    x = run_dataset(Predictor(run)).x_test[:10000]
    runners = {what: load_runner("onnx", path) for what, path in files(run, tmp).items()}
    base, new = (runner(x) for runner in runners.values())
    diff = float(np.max(np.abs(base - new)))
    assert diff < 1e-4 and np.array_equal(base.argmax(1), new.argmax(1)), diff
    bulk = in_blocks({what: (lambda runner=runner: runner(x)) for what, runner in runners.items()})
    single = {what: [] for what in runners}
    for what, runner in runners.items():
        for i in range(300):
            start = time.perf_counter()
            runner(x[i:i + 1])
            single[what].append(time.perf_counter() - start)
    rate = {what: len(x) / min(t) for what, t in bulk.items()}
    p50 = {what: float(np.median(t)) * 1e3 for what, t in single.items()}
    (a, b) = runners
    rows = [f"| {Path(run).name} | {what} | {rate[what]:,.0f} | {p50[what]:.3f} ms |" for what in runners]
    rows.append(f"| {Path(run).name} | ratio | **{rate[b] / rate[a]:.2f}x** | {p50[a] / p50[b]:.2f}x |")
    print(*rows, f"(largest probability difference {diff:.1e})", sep="\n", flush=True)
    return rows


def main() -> int:
    from _bench import machine, write_section

    import gridlab

    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        runs = sys.argv[1:] or [
            gridlab.train(data="fashion-mnist", preset="fast", project=tmp, name="fast", report=False,
                          verbose=False).folder,
            gridlab.train(data="fashion-mnist", model="seed001_cnn", epochs=1, project=tmp, name="seed001_cnn",
                          report=False, verbose=False).folder]
        rows = [row for run in runs for row in measure(run, Path(tmp))]
        wall = time.perf_counter() - started
    text = ["## ONNX Runtime on gridlab's export against the converter's graph (`bench/onnx_rewrites.py`)", "",
            f"Measured on: {machine()}. Command: `.venv/bin/python bench/onnx_rewrites.py` ({wall:.0f} s). The same "
            "model converted as Keras converts it and as `gridlab export` writes it (the same probabilities, to "
            "float32 rounding); images/s on 10,000 Fashion-MNIST test arrays (the best of 15 calls, in blocks of 5 "
            "calls of one file) and the median time of one array (300 calls).", "",
            "| run | ONNX file | images/s, 10,000 arrays | one array, median |", "|---|---|---|---|", *rows, "",
            "The rewrites: an elementwise op by a scalar on a tensor whose last axis is 1 (a one-channel model's "
            "input scaling) runs on a 2-d view, which ONNX Runtime 1.32 runs 36x faster; the channels-last "
            "transpose before a Flatten is folded into the Dense weights after it."]
    write_section("onnx-rewrites", "\n".join(text))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
