"""Start-up where gridlab owns the process: Keras imported without the integrations gridlab never calls
(``backend.lean_imports``, what gridlab's command line does) against the same code importing everything Keras and
TensorFlow pull in, side by side, in fresh processes taken in turn.

Run:  .venv/bin/python bench/lean_import.py [--rounds 7]

Both ways run gridlab's own code; they differ in one environment variable, ``GRIDLAB_LEAN_IMPORT`` (1, as the
command line sets it, against 0, a library caller's process). The variable also keeps Keras' import frozen in
gridlab's own processes (``backend.collector_paused``), so the lean way's figures include that too;
``bench/frozen.py`` measures it alone. Measured per process: CPU seconds (user + system,
``os.wait4``) and wall seconds of ``backend.use()`` (Keras imported on TensorFlow, the CPU backend; and on JAX), of
``gridlab predict`` of one PNG and of ``gridlab train`` (digits, one epoch, with its report) on a small run trained
here. Prints the medians and the ratios and writes docs/benchmarks.md (section "lean-import").
"""
from __future__ import annotations

import shutil
import sys

import _bench

from gridlab.backend import EXTRAS, LEAN_VAR

USE = ["-c", "from gridlab.backend import use; use()"]
PREDICT = ["-m", "gridlab", "predict", "runs/s", "one.png"]
TRAIN = ["-m", "gridlab", "train", "data=digits", "model=seed003_mlp", "epochs=1", "audit=false", "name=t"]


def main() -> int:
    rounds, work, env = _bench.process_bench(__doc__, "lean-import")
    cases = {"backend.use() on TensorFlow": (USE, env),
             "backend.use() on JAX": (USE, {**env, "KERAS_BACKEND": "jax"}),
             "gridlab predict one.png": (PREDICT, env),
             "gridlab train (digits, 1 epoch, report)": (TRAIN, env)}
    ways = {"lean (command line)": "1", "everything (library caller)": "0"}

    def measure(case: str, way: str) -> tuple[float, float, float]:
        argv, case_env = cases[case]
        if argv is TRAIN:
            shutil.rmtree(work / "runs" / "t", ignore_errors=True)     # each train starts afresh
        return _bench.timed([sys.executable, *argv], {**case_env, LEAN_VAR: ways[way]}, work)

    results = _bench.taken_in_turn(rounds, cases, ways, measure)
    lines = _bench.side_by_side("lean_import.py", rounds, results, cases, "lean (command line)",
                                "everything (library caller)",
                                ("lean (gridlab's command line)", "everything", "lean", "everything"))
    print("\n".join(lines))
    hidden = ", ".join(EXTRAS)
    _bench.write_section("lean-import", "\n".join([
        "## Start-up: Keras without the integrations gridlab never calls (`bench/lean_import.py`)", "", *lines, "",
        "Keras and TensorFlow import, as they start, packages that serve only integrations gridlab never calls: "
        "scikit-learn for `keras.wrappers`, pandas for DataFrame inputs, matplotlib for `keras.visualization`, "
        "IPython to spot a notebook, JAX for `tf.lite`'s JAX converter, SciPy for sparse inputs to TensorFlow's "
        "Keras 2. Where gridlab owns the process, `backend.use` declines those imports, made by the modules "
        f"`backend.EXTRAS` names, while it imports Keras ({hidden}); every other import passes, and they are "
        "importable again right after: "
        "`train` still imports scikit-learn (metrics) and matplotlib (the report) when it needs them, "
        "so it gains least; `predict` and `serve` need neither. A library caller's process is left as it is."]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
