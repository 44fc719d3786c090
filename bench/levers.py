"""Issue 16's levers, one at a time, on the 2-minute recipe (`preset=fast epochs=15 augment=true augment_shift=0.07
tta=true`, calibration off), each in a process of its own; and the arithmetic bound of this CPU.

Run:  .venv/bin/python bench/levers.py [--levers base ema0.99 bn_noscale] [--seeds 1 2]   (about 2 min per run)
      .venv/bin/python bench/levers.py --roofline          (a few seconds: float32 matmul and gridlab_fast's main
                                                            convolution in GFLOP/s, TensorFlow with gridlab's oneDNN)
Levers: ``ema<m>`` keeps an exponential moving average of the weights (Keras' ``use_ema``, momentum m) and swaps it
in for validation and the checkpoints (``keras.callbacks.SwapEMAWeights``); ``bn_noscale`` drops batch norm's
scale; ``bn_fastmom`` uses batch norm momentum 0.6; ``alt_flip`` mirrors each image in alternate epochs instead of
at random; ``tta_flip`` averages the image and its mirror image only at test time (not gridlab's six views);
``lookahead<alpha>`` moves slow weights alpha of the way to the fast ones after every compiled call; ``key=value``
changes one config key of the recipe (e.g. ``weight_decay=0.0005``, ``whiten=true``, ``epochs=3``). Levers join
with ``+`` (``whiten=true+tta_flip``). Prints one JSON line per run (test accuracy, training seconds).
Figures: docs/benchmarks.md, "Design probes".
"""
from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import time

import _bench  # noqa: E402,F401  (the project root on sys.path; the shared helpers)

RECIPE = {"preset": "fast", "epochs": 15, "augment": True, "augment_shift": 0.07, "tta": True, "calibrate": False}


def apply(lever: str) -> list:
    """Patch gridlab for one lever (or several joined by ``+``), in this process only; returns extra Keras
    callbacks the lever needs."""
    extra = []
    for one in lever.split("+"):
        extra += _apply_one(one)
    return extra


def _apply_one(lever: str) -> list:
    import keras

    from gridlab.models import zoo
    from gridlab.training import callbacks, fit

    if lever.startswith("ema"):
        momentum, make = float(lever[3:] or 0.99), fit.make_optimizer

        def with_ema(config, total):
            opt = make(config, total)
            return type(opt).from_config({**opt.get_config(), "use_ema": True, "ema_momentum": momentum})

        class EmaMonitor(callbacks.Monitor):     # the EMA weights are validated and checkpointed
            def set_model(self, model):
                super().set_model(model)
                self.swap = keras.callbacks.SwapEMAWeights(swap_on_epoch=True)
                self.swap.set_model(model)

            def on_epoch_begin(self, epoch, logs=None):
                self.swap.on_epoch_begin(epoch, logs)
                super().on_epoch_begin(epoch, logs)

            def on_epoch_end(self, epoch, logs=None):
                self.swap.params = self.params
                self.swap.on_epoch_end(epoch, logs)
                super().on_epoch_end(epoch, logs)

            def on_test_begin(self, logs=None):
                self.swap.on_test_begin(logs)

            def on_test_end(self, logs=None):
                self.swap.on_test_end(logs)

        fit.make_optimizer, callbacks.Monitor = with_ema, EmaMonitor
    elif lever == "bn_noscale":
        zoo.batch_norm = lambda: keras.layers.BatchNormalization(momentum=0.9, dtype="float32", scale=False)
    elif lever == "bn_fastmom":
        zoo.batch_norm = lambda: keras.layers.BatchNormalization(momentum=0.6, dtype="float32")
    elif lever == "alt_flip":
        return _alternating_flips()
    elif lever == "tta_flip":
        _flip_views()
    elif lever.startswith("lookahead"):
        return [_lookahead(float(lever[9:] or 0.5))]
    elif lever != "base" and "=" not in lever:
        raise SystemExit(f"unknown lever {lever!r}")
    return []


def _alternating_flips() -> list:
    """Mirror images from the feed instead of RandomFlip: each training image gets a fixed random bit, and it is
    mirrored in the epochs where that bit XOR (epoch is odd) is 1, so every image is seen both ways in turn
    (airbench's alternating flips). Returns the callback that tells the feed the epoch."""
    import keras
    import numpy as np
    import tensorflow as tf

    import gridlab.models as models
    from gridlab.datasets import feed

    epoch = tf.Variable(0, dtype=tf.int64, trainable=False)
    plain = feed.pipeline

    def pipeline(x, y, batch, shuffle):
        if not shuffle:
            return plain(x, y, batch, shuffle)
        bits = tf.constant(np.random.default_rng(0).integers(0, 2, len(x)), dtype=tf.int64)
        arrays = (tf.convert_to_tensor(x), tf.convert_to_tensor(y))
        order = tf.data.Dataset.range(len(x)).shuffle(len(x), reshuffle_each_iteration=True)

        def gather(index):
            images, labels = (tf.gather(a, index) for a in arrays)
            flip = tf.equal(tf.math.floormod(tf.gather(bits, index) + epoch, 2), 1)
            return tf.where(flip[:, None, None, None], tf.reverse(images, [2]), images), labels

        options = tf.data.Options()
        options.autotune.enabled = False
        return order.batch(batch).map(gather).prefetch(feed.PREFETCH).with_options(options)

    def translation_only(model, shift):
        front, rest = models._split_at_scaling(model)
        moves = [keras.layers.RandomTranslation(shift, shift, fill_mode="constant")] if shift else []
        return models._sequential_like(model, [*front, *moves, *rest])

    feed.pipeline, models.with_augmentation = pipeline, translation_only

    class Epoch(keras.callbacks.Callback):
        def on_epoch_begin(self, index, logs=None):
            epoch.assign(index)

    return [Epoch()]


def _flip_views() -> None:
    """tta with the image and its mirror image only (gridlab's test-time views before the moved views were added)."""
    import keras

    import gridlab.models as models

    six_views = models.with_test_time_views

    def two_views(model):
        full = six_views(model)       # its layers, reused: the input as the body sees it, the body, the mirror
        scaled = full.get_layer("as_float").output
        body, mirror = full.get_layer("body"), full.get_layer("mirror")
        out = keras.layers.Average(name="test_time_flip")([body(scaled), body(mirror(scaled))])
        return keras.Model(full.inputs, out, name=model.name)

    models.with_test_time_views = two_views


def _lookahead(alpha: float):
    """Lookahead (Zhang et al. 2019) with k = one compiled call (16 steps): after each call the slow weights move
    ``alpha`` of the way to the fast ones, and the fast weights restart from them."""
    import keras

    class Lookahead(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.slow = [v.numpy() for v in self.model.trainable_variables]

        def on_train_batch_end(self, batch, logs=None):
            for v, s in zip(self.model.trainable_variables, self.slow):
                s += alpha * (v.numpy() - s)
                v.assign(s)

    return Lookahead()


def child(lever: str, seed: int, project: str) -> None:
    import gridlab
    from gridlab.config import parse_overrides

    extra = apply(lever)
    keys = {**RECIPE, **parse_overrides([one for one in lever.split("+") if "=" in one])}
    run = gridlab.train(**keys, callbacks=extra, seed=seed, report=False, audit=False, verbose=False, project=project,
                        name=f"{lever.replace('=', '-').replace('+', '_')}-{seed}")
    rows = list(csv.DictReader(open(run.folder / "history.csv")))
    print(json.dumps({"lever": lever, "seed": seed, "test_acc": run.metrics["accuracy"],
                      "train_s": run.info.train_seconds, "best_epoch": run.info.best_epoch,
                      "val_acc": [round(float(r["val_accuracy"]), 4) for r in rows][-4:]}), flush=True)


def roofline() -> None:
    import gridlab

    gridlab.hardware.configure()      # oneDNN chosen before TensorFlow starts (import gridlab does it too)
    import tensorflow as tf

    from gridlab.hardware import read_cpu

    def rate(fn, args, flops, calls):
        fn(*args).numpy()
        best = 0.0
        for _ in range(5):
            started = time.perf_counter()
            for _ in range(calls):
                out = fn(*args)
            out.numpy()
            best = max(best, calls * flops / (time.perf_counter() - started) / 1e9)
        return best

    a, b = tf.random.normal((2048, 2048)), tf.random.normal((2048, 2048))
    x, w = tf.random.normal((256, 14, 14, 16)), tf.random.normal((3, 3, 16, 48))
    print(f"CPU {read_cpu().kind}")
    print(f"matmul 2048x2048 float32: {rate(tf.function(tf.matmul), (a, b), 2 * 2048 ** 3, 10):.0f} GFLOP/s")
    conv = tf.function(lambda x, w: tf.nn.conv2d(x, w, 1, "SAME"))
    print(f"conv 14x14x16 -> 48, 3x3, batch 256, forward: {rate(conv, (x, w), 256 * 196 * 144 * 48 * 2, 20):.0f} "
          "GFLOP/s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--levers", nargs="+", default=["base", "ema0.99", "bn_noscale"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--roofline", action="store_true")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.roofline:
        roofline()
        return 0
    if args.child:
        child(args.child[0], int(args.child[1]), args.child[2])
        return 0
    import tempfile

    with tempfile.TemporaryDirectory() as project:
        for seed in args.seeds:
            for lever in args.levers:
                subprocess.run([sys.executable, __file__, "--child", lever, str(seed), project], check=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
