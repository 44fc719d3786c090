"""gridlab's own processes: Keras' import kept frozen (``gc.freeze``, ``backend.collector_paused(keep_frozen=True)``,
what gridlab does where ``backend.lean_imports``) against the same code moving the import's objects to the oldest
generation and unfreezing them (what a library caller's process gets), side by side, in fresh processes taken in
turn.

Run:  .venv/bin/python bench/frozen.py [--rounds 7]

Each process is gridlab's command line (``cli.run``, Keras imported lean); the baseline's code differs in one line,
which makes ``collector_paused`` ignore ``keep_frozen``. Measured per process, from its start to its end (Python's
passes over the objects as the process ends included): CPU seconds (user + system, ``os.wait4``) and wall seconds
of ``gridlab predict`` of one PNG, ``gridlab evaluate`` and ``gridlab train`` (digits, one epoch, with its report) on
a small run trained here. Prints the medians and the ratios and writes docs/benchmarks.md (section "frozen").
"""
from __future__ import annotations

import shutil
import sys

import _bench

UNFROZEN = ("import gridlab.backend as b\n_paused = b.collector_paused\n"
            "b.collector_paused = lambda keep_frozen=False: _paused(False)\n")
COMMANDS = {"gridlab predict one.png": ["predict", "runs/s", "one.png"],
            "gridlab evaluate (digits test split)": ["evaluate", "runs/s"],
            "gridlab train (digits, 1 epoch, report)": ["train", "data=digits", "model=seed003_mlp", "epochs=1",
                                                        "audit=false", "name=t"]}
WAYS = {"kept frozen": "", "moved, not kept": UNFROZEN}


def main() -> int:
    rounds, work, env = _bench.process_bench(__doc__, "frozen")

    def measure(case: str, way: str) -> tuple[float, float, float]:
        shutil.rmtree(work / "runs" / "t", ignore_errors=True)     # each train starts afresh
        return _bench.timed([sys.executable, "-c", WAYS[way] + _bench.CLI_RUN, *COMMANDS[case]], env, work)

    results = _bench.taken_in_turn(rounds, COMMANDS, WAYS, measure)
    lines = _bench.side_by_side("frozen.py", rounds, results, COMMANDS, "kept frozen", "moved, not kept",
                                ("kept frozen (gridlab's own process)", "moved, not kept", "frozen", "moved"))
    print("\n".join(lines))
    _bench.write_section("frozen", "\n".join([
        "## gridlab's own processes keep Keras' import frozen (`bench/frozen.py`)", "", *lines, "",
        "Importing Keras on TensorFlow makes about 460,000 objects that live as long as the process. When a process "
        "ends, Python's teardown runs the cyclic collector over everything still tracked, and in a process that "
        "imported TensorFlow, scikit-learn and matplotlib that costs about a second of CPU after the command's "
        "last line. Where gridlab owns the process (its command line, servers, sweep trials, Ray workers: "
        "`backend.lean_imports`), `backend.use` leaves the import's objects frozen (`gc.freeze()`): no pass of the "
        "collector goes through them again, during the run or at its end. A library caller's process gets the "
        "move to the oldest generation only (`bench/gc_pause.py`), so nothing stays frozen there."]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
