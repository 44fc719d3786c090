"""Where the test suite's CPU goes: one run of ``bash scripts/test.sh -q``, each test's CPU (its worker's own and the
child processes it waited for, from a pytest plugin: bench/_plugins/cpu_per_test.py) and the machine's busy time
over the run (/proc/stat), whose difference is what no test waited for (Ray's processes, servers' helpers, the
workers' start and collection, the kernel's share).

Run:  .venv/bin/python bench/suite_cpu.py [--top 15] [PYTEST ARGS ...]

Prints the totals, the test files and the tests that took the most CPU, and writes docs/benchmarks.md (section
"suite-cpu"). Run it on an otherwise idle machine: the busy time counts every process on it."""
from __future__ import annotations

import argparse
import collections
import os
import subprocess
import tempfile
import time
from pathlib import Path

from _bench import ROOT, child_env, machine, publish

PLUGINS = Path(__file__).resolve().parent / "_plugins"


def busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy since it started (every state of /proc/stat's first line but
    idle and iowait)."""
    with open("/proc/stat") as f:
        ticks = [int(v) for v in f.readline().split()[1:]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--top", type=int, default=15)
    args, pytest_args = parser.parse_known_args()
    with tempfile.TemporaryDirectory() as work:
        log = Path(work) / "cpu.tsv"
        env = child_env(drop=("KERAS_BACKEND",), GRIDLAB_BENCH_CPU_LOG=str(log),
                        PYTHONPATH=os.pathsep.join(filter(None, [str(PLUGINS), os.environ.get("PYTHONPATH")])))
        start, began = busy_seconds(), time.perf_counter()
        done = subprocess.run(["bash", "scripts/test.sh", "-q", "-p", "cpu_per_test", *pytest_args], cwd=ROOT,
                              env=env, capture_output=True, text=True)
        busy, wall = busy_seconds() - start, time.perf_counter() - began
        if done.returncode != 0:
            raise SystemExit(f"the suite failed ({done.returncode}):\n{done.stdout[-2000:]}{done.stderr[-1000:]}")
        rows = [line.split("\t") for line in log.read_text().splitlines()]
    tests = [(float(own), float(kids), test) for _, own, kids, _, test in rows]
    own, kids = sum(t[0] for t in tests), sum(t[1] for t in tests)
    files = collections.defaultdict(list)           # test file: [(own, children) of each of its tests]
    for o, k, test in tests:
        files[test.split("::")[0]].append((o, k))
    summary = done.stdout.strip().splitlines()[-1].strip("= ")
    command = " ".join(["bench/suite_cpu.py", *pytest_args])
    lines = [f"Measured on: {machine()}. Command: `.venv/bin/python {command}` (one run of "
             f"`bash scripts/test.sh -q`: {summary}).", "",
             f"The machine was busy **{busy:.0f} core-seconds** over the run's {wall:.0f} s ({busy / wall:.2f} of "
             f"its {os.cpu_count()} cores): the tests' own CPU in the workers {own:.0f}, the child processes they "
             f"waited for {kids:.0f}, and {busy - own - kids:.0f} that no test waited for (Ray's processes, servers' "
             "helpers, the workers' start and collection, the kernel's share).", "",
             "| test file | tests | CPU in the worker | in waited-for children | together |", "|---|---|---|---|---|"]
    for name, each in sorted(files.items(), key=lambda kv: -sum(map(sum, kv[1])))[:args.top]:
        o, k = sum(e[0] for e in each), sum(e[1] for e in each)
        lines.append(f"| {name} | {len(each)} | {o:.1f} s | {k:.1f} s | {o + k:.1f} s |")
    lines += ["", "| test | CPU in the worker | in waited-for children |", "|---|---|---|"]
    for o, k, test in sorted(tests, key=lambda t: -(t[0] + t[1]))[:args.top]:
        lines.append(f"| {test.replace('|', '/')} | {o:.1f} s | {k:.1f} s |")
    publish("suite-cpu", lines, "## Where the test suite's CPU goes (bench/suite_cpu.py)")


if __name__ == "__main__":
    main()
