"""ONNX export (``gridlab.export.export``): this tree against another commit's code, side by side, on the same runs,
in fresh processes taken in turn.

Run:  .venv/bin/python bench/export_onnx.py [--against COMMIT] [--rounds 3]   (COMMIT defaults to 82232ec, the last
      commit whose conversion let tf2onnx copy its graph before each optimizer pass)

Trains three small runs here (the 8x8 digits with seed003_mlp, and with gridlab_fast averaging its test-time views
(tta=true: eight views, a larger graph), and `gridlab make-thermal`'s frames with gridlab_cnn; each with its OOD score,
so each export converts two models and checks both in ONNX Runtime), checks COMMIT out into a git worktree, and then,
round after round, starts one process per tree that exports each run twice: the first export in the process (as
`gridlab export` does) and a second one (as a notebook or a script that exports again). Prints the median CPU seconds
of each and the ratios, and writes docs/benchmarks.md (section "export-onnx").
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from _bench import (
    ROOT,
    against_parser,
    child_env,
    machine,
    medians,
    other_tree,
    publish,
    rounds_in_trees,
    train_runs,
)

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")     # machine() imports Keras here
RUNS = {"digits": ["data=digits", "model=seed003_mlp", "epochs=2"],
        "digits-tta": ["data=digits", "model=gridlab_fast", "epochs=2", "augment=true", "tta=true"],
        "thermal": ["data=thermal", "model=gridlab_cnn", "epochs=2"]}
TIMER = """
import json, sys, time
from gridlab.export import export
out = {}
for folder in sys.argv[1:]:
    out[folder] = []
    for _ in range(2):
        start = time.process_time()
        export(folder, "onnx")
        out[folder].append(time.process_time() - start)
print(json.dumps(out))
"""


def main() -> None:
    args = against_parser(__doc__, "82232ec")
    work = Path(tempfile.mkdtemp(prefix="gridlab-export-onnx-"))
    env = child_env(drop=("PYTHONPATH", "TF2ONNX_CATCH_ERRORS"))
    train_runs(work, RUNS, env, "report=false", "audit=false")
    with other_tree(args.against, work) as old:
        results = rounds_in_trees(TIMER, {"this tree": ROOT, args.against: old}, work, RUNS, env, args.rounds)
    lines = [f"Machine: {machine()}. Command: `.venv/bin/python bench/export_onnx.py --against {args.against} "
             f"--rounds {args.rounds}`. CPU seconds of an export of the model and its OOD scoring model, each checked "
             f"in ONNX Runtime; median of {args.rounds} processes per tree, each exporting every run twice.", "",
             f"| run | first export: this tree | {args.against} | ratio | second export: this tree | "
             f"{args.against} | ratio |", "|---|---|---|---|---|---|---|"]
    for name in RUNS:
        now, then = medians(results[("this tree", name)]), medians(results[(args.against, name)])
        lines.append(f"| {name} | {now[0]:.2f} | {then[0]:.2f} | **{now[0] / then[0]:.2f}x** | {now[1]:.2f} | "
                     f"{then[1]:.2f} | **{now[1] / then[1]:.2f}x** |")
    publish("export-onnx", lines)


if __name__ == "__main__":
    main()
