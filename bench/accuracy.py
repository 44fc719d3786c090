"""Reproduce the seeds' recipes with gridlab and print test accuracy and wall time (issue: core).

Run:  .venv/bin/python bench/accuracy.py            (about 5-8 minutes on 2 cores)
      .venv/bin/python bench/accuracy.py --quick    (digits only, seconds)
Writes the table into docs/benchmarks.md (section "accuracy").
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

RECIPES = [
    # (label, target, overrides)
    ("seed 001 CNN, seed recipe, Fashion-MNIST", 0.910,
     {"data": "fashion-mnist", "model": "seed001_cnn", "preset": "seed"}),
    ("seed 003 ReLU MLP + Dropout(0.3), Fashion-MNIST", 0.870,
     {"data": "fashion-mnist", "model": "seed003_mlp", "dropout": 0.3, "preset": "seed"}),
    ("seed 001 CNN, seed recipe, digits (8x8)", 0.970,
     {"data": "digits", "model": "seed001_cnn", "preset": "seed", "epochs": 60, "patience": 5}),
]


def main() -> int:
    import gridlab
    from _docs import machine, write_section

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="digits only")
    args = parser.parse_args()
    recipes = RECIPES[2:] if args.quick else RECIPES
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, target, overrides in recipes:
            start = time.perf_counter()
            run = gridlab.train(**overrides, project=tmp, report=False, verbose=False)
            wall = time.perf_counter() - start
            acc = run.metrics["accuracy"]
            rows.append((label, acc, target, run.info["epochs_run"], run.info["train_seconds"], wall))
            print(f"{label}: test accuracy {acc:.4f} (target >= {target:.3f}: {'met' if acc >= target else 'MISSED'})"
                  f", {run.info['epochs_run']} epochs, training {run.info['train_seconds']:.0f} s, wall {wall:.0f} s",
                  flush=True)
    table = ["| recipe | test accuracy | target | epochs | training s | wall s |", "|---|---|---|---|---|---|"]
    table += [f"| {r[0]} | {r[1]:.4f} | >= {r[2]:.3f} {'(met)' if r[1] >= r[2] else '(missed)'} | {r[3]} | "
              f"{r[4]:.0f} | {r[5]:.0f} |" for r in rows]
    if not args.quick:
        write_section("accuracy", "## Seed recipes reproduced (`bench/accuracy.py`)\n\n"
                      f"Measured on: {machine()}.\nCommand: `.venv/bin/python bench/accuracy.py`\n\n"
                      + "\n".join(table))
    print("\n".join(table))
    return 0 if all(r[1] >= r[2] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
