"""What keeping a run recoverable costs at the end of each epoch, gridlab's way against the way before it, side by
side, in fresh processes taken in turn.

Run:  .venv/bin/python bench/checkpoint.py [--rounds 3] [--epochs 10]

At every epoch's end ``training.callbacks.Monitor`` writes the history, the resume point (``last.keras``, the model
with its optimizer state, and ``state.json``) and, when the monitored score improved, the best checkpoint
(``model.keras``). On an improved epoch both files hold the same model:

- gridlab: the model is serialized once, into ``model.keras``, and ``last.keras`` is a copy of that file;
- before: the model was serialized twice (``model.save`` for each file).

Two runs on scikit-learn's digits, ``epochs`` epochs each (``ood=none calibrate=false audit=false report=false``, so
the run is training alone): seed001_cnn, and gridlab_deep (a wider network, more to serialize). Measured per process:
CPU seconds and wall seconds spent in the epoch-end callback (``Monitor.on_epoch_end``) over all epochs
(``patience=0``: every epoch runs). Prints the medians and the ratios and writes docs/benchmarks.md (section
"checkpoint").
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import _bench

MODELS = ("seed001_cnn", "gridlab_deep")

# the child: one run, the epoch-end callback timed; the way before serializes the model again for last.keras
CHILD = """
import json, sys, time
import gridlab
from gridlab.training import callbacks

spent = {"cpu": 0.0, "wall": 0.0}
plain_end = callbacks.Monitor.on_epoch_end
def timed_end(self, epoch, logs=None):
    callbacks.current = self
    cpu, wall = time.process_time(), time.perf_counter()
    plain_end(self, epoch, logs)
    spent["cpu"] += time.process_time() - cpu
    spent["wall"] += time.perf_counter() - wall
callbacks.Monitor.on_epoch_end = timed_end
if sys.argv[1] == "before":
    callbacks.copy_model = lambda source, path: callbacks.save_model(callbacks.current.model, path)
run = gridlab.train(data="digits", model=sys.argv[2], epochs=int(sys.argv[3]), patience=0, ood="none",
                    calibrate=False, audit=False, report=False, verbose=False, name=sys.argv[1] + sys.argv[2])
print(json.dumps([spent["cpu"], spent["wall"], run.info.parameters]))
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="gridlab-checkpoint-"))
    env = _bench.child_env()
    ways = ("gridlab", "before")
    results = {(model, way): [] for model in MODELS for way in ways}
    parameters = {}
    for r in range(args.rounds):
        print(f"round {r + 1} of {args.rounds} ...", flush=True)
        (work / f"{r}").mkdir()
        for model in MODELS:
            for way in ways:
                cpu, wall, parameters[model] = _bench.child_result(
                    [sys.executable, "-c", CHILD, way, model, str(args.epochs)], env, work / f"{r}",
                    what=f"{model}, {way}")
                results[(model, way)].append((cpu, wall))
    labels = {m: f"{m} ({parameters[m]:,} parameters), {args.epochs} epochs: the epoch-end callback" for m in MODELS}
    rows = _bench.side_by_side("checkpoint.py", args.rounds, {(labels[m], w): v for (m, w), v in results.items()},
                               labels.values(), "gridlab", "before", ("gridlab", "before", "gridlab", "before"))
    print("\n".join(rows))
    _bench.write_section("checkpoint", "\n".join([
        "## The end of each epoch: the best checkpoint and the resume point (`bench/checkpoint.py`)", "", *rows, "",
        "On an epoch whose score improved, `model.keras` (the best checkpoint) and `last.keras` (the resume point) "
        "hold the same model with its optimizer state. Before, the model was serialized for each; now it is "
        "serialized once and `last.keras` is a copy of `model.keras` (written beside it and renamed, as every file "
        "of a run). Epochs that did not improve still serialize the model once, for `last.keras`."]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
