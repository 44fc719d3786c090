"""Seed 004's deep MLP against gridlab's CNN on the synthetic thermal set (imbalanced 6,697 : 392).

Run:  .venv/bin/gridlab make-thermal data/thermal && .venv/bin/python bench/thermal.py data/thermal
Prints balanced accuracy, minority (not_face) recall, accuracy and training time per recipe, and writes
docs/benchmarks.md (section "thermal").
"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import _bench  # noqa: E402,F401  (the project root on sys.path; the shared helpers)

RECIPES = [
    ("seed 004 as written: MLP, /255, no class weights, argmax", {
        "model": "seed004_mlp", "optimizer": "rmsprop", "epochs": 10, "batch": 32, "patience": 0,
        "scaling": "divide255", "class_weight": "none", "threshold": "0.5"}),
    ("seed 004 MLP with gridlab defaults (standardize, class weights, F1 threshold)", {
        "model": "seed004_mlp", "optimizer": "rmsprop", "epochs": 10, "batch": 32, "patience": 3}),
    ("gridlab_cnn with gridlab defaults", {"model": "gridlab_cnn", "epochs": 10, "batch": 32, "patience": 3}),
]


def main() -> int:
    from _bench import machine, write_section

    import gridlab

    data = sys.argv[1] if len(sys.argv) > 1 else "data/thermal"
    if not Path(data).is_dir():
        print(f"{data}: not found. Make it first: gridlab make-thermal {data}", file=sys.stderr)
        return 2
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, overrides in RECIPES:
            start = time.perf_counter()
            run = gridlab.train(data=data, project=tmp, report=False, verbose=False, **overrides)
            wall = time.perf_counter() - start
            m = run.metrics
            minority = run.info.class_names[run.info.positive_class]
            rows.append((label, m["balanced_accuracy"], m["per_class"][minority]["recall"], m["accuracy"],
                         m.get("pr_auc_macro") or 0.0, run.info.threshold, run.info.train_seconds, wall,
                         run.info.parameters))
            print(f"{label}: balanced accuracy {rows[-1][1]:.4f}, {minority} recall {rows[-1][2]:.4f}, "
                  f"accuracy {rows[-1][3]:.4f}, threshold {rows[-1][5]:.3f}, training {rows[-1][6]:.0f} s", flush=True)
    table = ["| recipe | parameters | balanced accuracy | minority recall | accuracy | PR-AUC (macro) | threshold | "
             "training s |", "|---|---|---|---|---|---|---|---|"]
    table += [f"| {r[0]} | {r[8]:,} | {r[1]:.4f} | {r[2]:.4f} | {r[3]:.4f} | {r[4]:.4f} | {r[5]:.3f} | {r[6]:.0f} |"
              for r in rows]
    write_section("thermal", "## Thermal face / not-face on the synthetic set (`bench/thermal.py`)\n\n"
                  f"Measured on: {machine()}.\nData: `gridlab make-thermal data/thermal` (synthetic, 6,697 face : "
                  "392 not_face; test split 20% stratified = 1,418 frames). Minority class: not_face.\n"
                  "Command: `.venv/bin/python bench/thermal.py data/thermal`\n\n" + "\n".join(table))
    print("\n".join(table))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
