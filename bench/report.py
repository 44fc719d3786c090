"""Drawing a run's report (every plot, report.html and report.md): this tree against another commit's code, side by
side, on the same runs, in fresh processes taken in turn.

Run:  .venv/bin/python bench/report.py [--against COMMIT] [--rounds 3]   (COMMIT defaults to cdfebdb, the last
      commit that drew each gallery image on an Axes of its own)

Trains three small runs here (the 8x8 digits with seed003_mlp, 3,000 Fashion-MNIST images with seed003_mlp, and
`gridlab make-thermal`'s frames with gridlab_cnn), checks COMMIT out into a git worktree, and then, round after round,
starts one process per tree that redraws each run's report (``evaluation.rebuild_report``: the model loaded, the
test split predicted, the saliency maps and every plot) once to warm up and three times timed, on its own copy of
the runs. Prints the best CPU seconds per report and the ratio, and writes docs/benchmarks.md (section "report").
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from _bench import ROOT, against_parser, child_env, machine, other_tree, rounds_in_trees, train_runs, write_section

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")     # machine() imports Keras here
RUNS = {"digits": ["data=digits", "model=seed003_mlp", "epochs=2"],
        "fashion-mnist": ["data=fashion-mnist", "model=seed003_mlp", "epochs=2", "limit=3000"],
        "thermal": ["data=thermal", "model=gridlab_cnn", "epochs=2"]}
TIMER = """
import json, sys, time
from gridlab.evaluation import rebuild_report
out = {}
for folder in sys.argv[1:]:
    rebuild_report(folder)
    times = []
    for _ in range(3):
        start = time.process_time()
        rebuild_report(folder)
        times.append(time.process_time() - start)
    out[folder] = min(times)
print(json.dumps(out))
"""


def main() -> None:
    args = against_parser(__doc__, "cdfebdb")
    work = Path(tempfile.mkdtemp(prefix="gridlab-report-"))
    env = child_env(drop=("PYTHONPATH",))
    train_runs(work, RUNS, env, "report=false")
    with other_tree(args.against, work) as old:
        trees = {"this tree": ROOT, args.against: old}
        best = {key: min(seconds) for key, seconds in rounds_in_trees(TIMER, trees, work, RUNS, env,
                                                                      args.rounds).items()}
    lines = [f"Machine: {machine()}. Command: `.venv/bin/python bench/report.py --against {args.against} --rounds "
             f"{args.rounds}`. Best of {3 * args.rounds} redraws per run (CPU seconds of the process).", "",
             f"| run | this tree, s | {args.against}, s | ratio |", "|---|---|---|---|"]
    for name in RUNS:
        now, then = best[("this tree", name)], best[(args.against, name)]
        lines.append(f"| {name} | {now:.2f} | {then:.2f} | **{now / then:.2f}x** |")
    text = "\n".join(lines)
    print(text)
    print(json.dumps({f"{k[0]}/{k[1]}": round(v, 3) for k, v in best.items()}))
    write_section("report", text)


if __name__ == "__main__":
    main()
