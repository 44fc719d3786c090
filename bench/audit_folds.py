"""What `gridlab audit RUN --folds K` costs, gridlab's way against the way before it, side by side, in fresh processes
taken in turn.

Run:  .venv/bin/python bench/audit_folds.py [--rounds 3] [--folds 3]

One run on scikit-learn's digits (seed003_mlp, 10 epochs, trained here once), audited by k-fold cross-validation:
K models, each trained with the run's config on the other folds, predicting its own fold.

- gridlab: each fold model is trained without the OOD score (``training/crossval.py``): it only predicts its fold
  and is thrown away;
- before: the same code with the fold models fitting the run's OOD score, its probe sets and its plot, as they did.

Measured per process: CPU seconds (user + system, ``os.wait4``) and wall seconds of the whole command, each round
on a fresh copy of the run. The two ways' suspects.csv are compared: the OOD score does not touch the fold models'
probabilities, so the files must be the same. Prints the medians and the ratios and writes docs/benchmarks.md
(section "audit-folds").
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import _bench

# the child: the command line's audit; the way before puts the run's OOD score back into every fold model
CHILD = """
import sys
if sys.argv[1] == "before":
    import gridlab.config as config
    plain = config.load_config
    def with_ood(overrides=None, *args, **kwargs):
        if isinstance(overrides, dict) and str(overrides.get("name", "")).startswith("fold"):
            overrides = {**overrides, "ood": "auto"}                # the run's own choice (the default)
        return plain(overrides, *args, **kwargs)
    config.load_config = with_ood
from gridlab.cli import run
sys.argv = ["gridlab", "audit", sys.argv[2], "--folds", sys.argv[3]]
run()
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--folds", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="gridlab-audit-folds-"))
    env = _bench.child_env()
    print("training the run (digits, seed003_mlp, 10 epochs) ...", flush=True)
    subprocess.run([sys.executable, "-m", "gridlab", "train", "data=digits", "model=seed003_mlp", "epochs=10",
                    "report=false", "name=run", "-q"], env=env, cwd=work, check=True, capture_output=True)
    ways = ("gridlab", "before")
    case = f"`gridlab audit RUN --folds {args.folds}` (digits, seed003_mlp, 10 epochs)"
    results = {(case, way): [] for way in ways}
    same = True
    for r in range(args.rounds):
        print(f"round {r + 1} of {args.rounds} ...", flush=True)
        suspects = {}
        for way in ways:
            copy = work / "runs" / f"{way}-{r}"
            shutil.copytree(work / "runs" / "run", copy)
            results[(case, way)].append(_bench.timed([sys.executable, "-c", CHILD, way, str(copy), str(args.folds)],
                                                     env, work))
            suspects[way] = (copy / "suspects.csv").read_text()
        same = same and suspects["gridlab"] == suspects["before"]
    rows = _bench.side_by_side("audit_folds.py", args.rounds, results, [case], "gridlab", "before",
                               ("gridlab", "before", "gridlab", "before"))
    rows += ["", f"Both ways' suspects.csv identical in every round: {'yes' if same else 'NO'}."]
    print("\n".join(rows))
    _bench.write_section("audit-folds", "\n".join([
        "## The k-fold audit: fold models without the OOD score (`bench/audit_folds.py`)", "", *rows, "",
        "Each fold model is trained with the run's config, only to predict its own fold, and is then thrown away. "
        "Before, each also fitted the run's out-of-distribution score, measured it on the probe sets and drew its "
        "plot; none of that reaches the audit."]))
    shutil.rmtree(work, ignore_errors=True)
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
