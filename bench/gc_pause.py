"""Start-up with Python's garbage collector paused while Keras is imported and the imported objects moved to its
oldest generation (``backend.collector_paused``, what gridlab does) against the same code with that taken out, side
by side, in fresh processes taken in turn.

Run:  .venv/bin/python bench/gc_pause.py [--rounds 7]

Each process runs gridlab's own code; the baseline's differs in one line, which replaces the pause with a context
that does nothing. Measured per process: CPU seconds (user + system, ``os.wait4``) and wall seconds of
``backend.use()`` (Keras imported on TensorFlow, the CPU backend; and on JAX) and of ``gridlab predict`` of one PNG
with a small run trained here. Prints the medians and the ratios and writes docs/benchmarks.md (section
"gc-pause").
"""
from __future__ import annotations

import sys

import _bench

UNPAUSED = ("import contextlib, gridlab.backend as b\n"
            "b.collector_paused = lambda keep_frozen=False: contextlib.nullcontext()\n")
USE = "from gridlab.backend import use; use()\n"
PREDICT = "import sys; from gridlab.cli import main; sys.exit(main(['predict', 'runs/s', 'one.png']))\n"


def main() -> int:
    rounds, work, env = _bench.process_bench(__doc__, "gc-pause")     # Keras imported as a library caller imports it
    cases = {"backend.use() on TensorFlow": (USE, env),
             "backend.use() on JAX": (USE, {**env, "KERAS_BACKEND": "jax"}),
             "gridlab predict one.png (TensorFlow)": (PREDICT, env)}
    ways = {"paused": "", "not paused": UNPAUSED}
    results = _bench.taken_in_turn(rounds, cases, ways, lambda case, way: _bench.timed(
        [sys.executable, "-c", ways[way] + cases[case][0]], cases[case][1], work))
    lines = _bench.side_by_side("gc_pause.py", rounds, results, cases, "paused", "not paused",
                                ("paused (gridlab)", "not paused", "paused", "not"))
    print("\n".join(lines))
    _bench.write_section("gc-pause", "\n".join([
        "## Start-up: the garbage collector paused while Keras is imported (`bench/gc_pause.py`)", "", *lines, "",
        "Importing Keras on TensorFlow makes about 460,000 objects that live as long as the process, and Python's "
        "cyclic collector runs about 1,100 times on the way, finding almost nothing; right after, it would still go "
        "through them all in its young generations. `backend.use` imports Keras with the collector off, then moves "
        "every object to the oldest generation (`gc.freeze()` and at once `gc.unfreeze()`: a move, nothing stays "
        "frozen) and turns it back on as it was. What the import left as garbage, about 2 MiB, goes at the next "
        "full pass. Keras on JAX imports far less, so it gains less."]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
