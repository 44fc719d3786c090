"""The first epoch's fixed cost on TensorFlow: the optimizer built before ``fit`` (what ``gridlab train`` does,
``training.fit._new_model``) against Keras' default, which builds it inside the first traced train step. A
``tf.function`` that creates variables is traced twice, so the default traces the train step twice per run.

Run:  .venv/bin/python bench/trace.py

One process on TensorFlow (the CPU backend), one thread: for each model, a fresh model compiled as gridlab compiles
it (its optimizer, loss and accuracy metric), then ``fit`` for 2 epochs of 512 random 28x28 float32 images in
batches of 64 with 128 for validation; the two ways taken in turn, 3 times each. Prints the CPU seconds of ``fit``
(median) and how many step functions were traced (the train step and the validation step), and writes
docs/benchmarks.md (section "trace").
"""
from __future__ import annotations

import os
import statistics
import time

import _bench

MODELS = ("seed003_mlp", "seed001_cnn", "gridlab_cnn")
ROUNDS = 3


def main() -> int:
    started = time.perf_counter()
    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")
    os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")
    from gridlab.backend import use

    use()
    import keras
    import numpy as np
    from tensorflow.python.eager.polymorphic_function import tracing_compilation

    from gridlab.config import load_config
    from gridlab.models import build_model
    from gridlab.training.setup import make_optimizer

    traces = []
    create = tracing_compilation._create_concrete_function

    def counted(*args, **kwargs):
        fn = create(*args, **kwargs)
        traces.append(getattr(fn, "name", b"").decode())
        return fn

    tracing_compilation._create_concrete_function = counted   # counts traces; the work is TensorFlow's own
    rng = np.random.default_rng(0)
    x = rng.random((640, 28, 28, 1), dtype=np.float32)
    y = rng.integers(0, 10, 640)
    config = load_config({"optimizer": "adamw"})

    def fit(name: str, prebuild: bool) -> tuple[float, int]:
        model = build_model(name, (28, 28, 1), 10)
        model.compile(optimizer=make_optimizer(config, 20), loss=keras.losses.SparseCategoricalCrossentropy(),
                      metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")])
        traces.clear()
        start = time.process_time()
        if prebuild:
            model.optimizer.build(model.trainable_variables)
        model.fit(x[:512], y[:512], batch_size=64, epochs=2, validation_data=(x[512:], y[512:]), verbose=0)
        return time.process_time() - start, sum("one_step_on_data" in t and "distributed" not in t for t in traces)

    text = ["| model | Keras' default: fit (CPU s) | built first (gridlab): fit (CPU s) | "
            "steps traced (train, validation) | built first against default |", "|---|---|---|---|---|"]
    fit(MODELS[0], True)                                     # warm-up: TensorFlow's one-off start
    for name in MODELS:
        spent = {False: [], True: []}
        count = {}
        for _ in range(ROUNDS):
            for prebuild in (False, True):
                seconds, count[prebuild] = fit(name, prebuild)
                spent[prebuild].append(seconds)
        lazy, built = statistics.median(spent[False]), statistics.median(spent[True])
        text.append(f"| {name} | {lazy:.2f} | {built:.2f} | {count[False]} -> {count[True]} "
                    f"| **{built / lazy:.2f}x** |")
        print(text[-1], flush=True)
    print("\n".join(text))
    _bench.write_section("trace", "\n".join([
        "## The first epoch's fixed cost: the optimizer built before fit (`bench/trace.py`)", "",
        f"Measured on: {_bench.machine()}, one TensorFlow thread. Command: `.venv/bin/python bench/trace.py` "
        f"({time.perf_counter() - started:.0f} s). A fresh model each time, compiled as gridlab compiles it (AdamW), "
        f"`fit` for 2 epochs of 512 images (28x28) in batches of 64 with 128 for validation; the two ways in turn, "
        f"{ROUNDS} times each, median CPU seconds of `fit`.", "", *text, "",
        "Keras on TensorFlow builds the optimizer's slots inside the first traced train step, and TensorFlow traces a "
        "function that creates variables a second time. `gridlab train` builds the optimizer right after `compile` "
        "(`training.fit._new_model`), so the step is traced once: a fixed saving per run, which a sweep pays per "
        "trial and a small data set notices most. Accuracy is untouched (the same variables, the same steps)."]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
