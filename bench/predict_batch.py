"""Keras prediction in batches of different sizes: gridlab's rule (``feed.predict_batch``: the largest power of two
whose batch holds at most 2**21 input values, from 16 to 1,024) against the fixed 256 the Keras runtime used before,
side by side, on 28x28 Fashion-MNIST images and on 110x120 generated thermal frames.

Run:  .venv/bin/python bench/predict_batch.py [FASHION_RUN]   (without FASHION_RUN: trains the `fast` preset on
      Fashion-MNIST for 1 epoch; the thermal run, gridlab_cnn for 1 epoch on `gridlab make-thermal`'s frames, is
      always trained here)

For each run: images/s of ``feed.predict`` on in-memory arrays (what ``Predictor.predict_arrays`` and
``gridlab.predict`` on arrays do), of the plain model and of the model with the OOD score, at every power of two in
a range around both choices; the best of 12 calls, in blocks of 3 calls of one batch size, in turn. Prints the table
and writes docs/benchmarks.md (section "predict-batch").
"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import _bench  # noqa: F401  (the project root on sys.path; the shared helpers)

OLD = 256     # the Keras runtime's batch before feed.predict_batch


def rates(run, n: int, sizes) -> list[tuple]:
    """(batch, plain images/s, scored images/s) for each size in ``sizes``, on ``n`` test arrays (repeated when the
    test split is smaller)."""
    import numpy as np
    from _bench import in_blocks

    from gridlab.datasets import feed
    from gridlab.evaluation import run_dataset
    from gridlab.prediction import Predictor

    p = Predictor(run)
    x = run_dataset(p).x_test
    x = np.concatenate([x] * (n // len(x) + 1))[:n]
    print(f"timing {Path(run).name}: {n:,} arrays of {x.shape[1:]}, batches {', '.join(map(str, sizes))} ...",
          flush=True)
    calls = {}
    for b in sizes:
        calls[("plain", b)] = lambda b=b: feed.predict(p.model, x, b)
        calls[("scored", b)] = lambda b=b: feed.predict(p.scoring_model, x, b)
    times = in_blocks(calls, blocks=4, per_block=3)
    return [(b, n / min(times[("plain", b)]), n / min(times[("scored", b)])) for b in sizes]


def table(title: str, shape, rows) -> list[str]:
    from gridlab.datasets.feed import predict_batch

    chosen = predict_batch(shape)
    by = {b: (plain, scored) for b, plain, scored in rows}
    out = [f"**{title}** ({'x'.join(map(str, shape))} per example; gridlab's batch: {chosen})", "",
           "| batch | plain images/s | with the OOD score, images/s |", "|---|---|---|"]
    for b, plain, scored in rows:
        mark = " (gridlab)" if b == chosen else " (before)" if b == OLD else ""
        out.append(f"| {b}{mark} | {plain:,.0f} | {scored:,.0f} |")
    out.append(f"| gridlab's against {OLD} | **{by[chosen][0] / by[OLD][0]:.2f}x** | "
               f"**{by[chosen][1] / by[OLD][1]:.2f}x** |")
    return out + [""]


def main() -> int:
    from _bench import machine, write_section

    import gridlab
    from gridlab.sources.thermal_synth import make_thermal

    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        fashion = sys.argv[1] if len(sys.argv) > 1 else gridlab.train(
            data="fashion-mnist", preset="fast", epochs=1, project=tmp, name="fashion", report=False,
            verbose=False).folder
        print("training a thermal run (gridlab_cnn, 1 epoch) on generated frames ...", flush=True)
        data = make_thermal(Path(tmp) / "thermal-frames", faces=300, not_faces=100, progress=False)
        thermal = gridlab.train(data=str(data), model="gridlab_cnn", epochs=1, project=tmp, name="thermal",
                                report=False, verbose=False).folder
        text = table("Fashion-MNIST, `fast` preset, 10,000 arrays", (28, 28, 1),
                     rates(fashion, 10000, (128, 256, 512, 1024, 2048)))
        text += table("generated thermal frames, gridlab_cnn, 1,000 arrays", (110, 120, 1),
                      rates(thermal, 1000, (16, 32, 64, 128, 256)))
    print("\n".join(text))
    write_section("predict-batch", "\n".join([
        "## Prediction batch size (`bench/predict_batch.py`)", "",
        f"Measured on: {machine()}. Command: `.venv/bin/python bench/predict_batch.py` "
        f"({time.perf_counter() - started:.0f} s). `feed.predict` on in-memory arrays, the best of 12 calls per "
        "batch size (blocks of 3 calls of one size, in turn).", "", *text,
        "A small model predicts faster in large batches (less work per call around the arithmetic); for large "
        "frames the batch size barely matters, and a smaller batch holds less memory. gridlab's rule: the largest "
        "power of two whose batch holds at most 2**21 input values, from 16 to 1,024."]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
