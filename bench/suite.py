"""The test suite against the commit issue 30 was filed at: pytest's own time of the old suite and of this tree's,
one right after the other, the order turned round every round.

Run:  .venv/bin/python bench/suite.py [--against 33e7d68] [--rounds 4] [PYTEST ARGS ...]

Checks COMMIT out into a git worktree, then in each round runs the old suite as it ran when the issue was filed (one
process: ``python -m pytest -q -p no:cacheprovider -p no:warnings`` in the worktree, which is first on PYTHONPATH,
with ml_dtypes 0.7.0 before the virtual environment's own, as a fresh install of that commit gets it; installed into
``.bench-cache/`` once) and this tree's ``bash scripts/test.sh -q``, the old suite first in odd rounds and second in
even ones. The order of a pair can decide more than any change (twenty-first session, 2-core AMD EPYC: six pairs
averaged 0.519x with the old suite first and 0.458x with it second; in the twenty-second the other way round, 0.494x
and 0.525x), so the figure to quote is the mean over both orders, which an even number of rounds gives. PYTEST ARGS
(a test path, ``-k ...``) go to both suites, for a quick look at part of them. Prints each pair and the means, and
writes docs/benchmarks.md (section "suite-bench").
"""
from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from _bench import ROOT, baseline_path, child_env, machine, other_tree, publish

FILED_AT = "33e7d68"        # issue 30's "current time" was this commit's suite
PASSED = re.compile(r"(\d+) passed.* in ([\d.]+)s")


def pytest_time(argv: list[str], cwd: Path, env: dict) -> tuple[int, float]:
    """(tests passed, pytest's own seconds) from the summary line of a suite run; a run with a failure stops the
    bench with its last lines."""
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True)
    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    found = PASSED.search(summary)
    if done.returncode != 0 or found is None or "failed" in summary or "error" in summary:
        raise SystemExit(f"{' '.join(argv)} in {cwd} failed ({done.returncode}):\n{done.stdout[-2000:]}"
                         f"{done.stderr[-1000:]}")
    return int(found.group(1)), float(found.group(2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", default=FILED_AT)
    parser.add_argument("--rounds", type=int, default=4, help="an even number takes each order equally often")
    args, pytest_args = parser.parse_known_args()
    overlay = baseline_path("ml_dtypes==0.7.0")
    env = child_env(drop=("PYTHONPATH", "KERAS_BACKEND"))
    work = Path(tempfile.mkdtemp(prefix="gridlab-suite-"))
    with other_tree(args.against, work) as tree:
        suites = {"old": ([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:warnings",
                           *pytest_args], tree, {**env, "PYTHONPATH": os.pathsep.join([str(tree), str(overlay)])}),
                  "new": (["bash", "scripts/test.sh", "-q", *pytest_args], ROOT, env)}
        pairs = []          # (the suite run first, {suite: (tests, seconds)}, new against old)
        for r in range(args.rounds):
            first = "old" if r % 2 == 0 else "new"
            print(f"round {r + 1} of {args.rounds}: {first} suite first ...", flush=True)
            took = {name: pytest_time(*suites[name]) for name in (first, "new" if first == "old" else "old")}
            pairs.append((first, took, took["new"][1] / took["old"][1]))
            print(f"  old {took['old'][1]:.1f} s ({took['old'][0]} tests), new {took['new'][1]:.1f} s "
                  f"({took['new'][0]} tests): {pairs[-1][2]:.3f}x", flush=True)
    lines = [f"Measured on: {machine()}. Command: `.venv/bin/python bench/suite.py --against {args.against} "
             f"--rounds {args.rounds}{' ' + ' '.join(pytest_args) if pytest_args else ''}`. pytest's own time of "
             "each suite, one right after the other.", "",
             "| round | first | old suite | new suite | new against old |", "|---|---|---|---|---|"]
    for r, (first, took, ratio) in enumerate(pairs, 1):
        lines.append(f"| {r} | {first} | {took['old'][1]:.1f} s ({took['old'][0]} tests) | "
                     f"{took['new'][1]:.1f} s ({took['new'][0]} tests) | {ratio:.3f}x |")
    by_order = {f: [ratio for first, _, ratio in pairs if first == f] for f in ("old", "new")}
    means = "; ".join(f"{statistics.mean(v):.3f}x with the {f} suite first" for f, v in by_order.items() if v)
    lines += ["", f"Mean **{statistics.mean(p[2] for p in pairs):.3f}x** over {len(pairs)} pairs ({means})."]
    publish("suite-bench", lines, "## The test suite against the commit issue 30 was filed at (bench/suite.py)")


if __name__ == "__main__":
    main()
