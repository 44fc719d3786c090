"""gridlab on Keras' JAX backend with TensorFlow installed: Keras' seeding and saving leaving TensorFlow unimported
(``backend.tensorflow_unasked``, what ``train`` does) against the same code letting Keras import it when it asks,
side by side, in fresh processes taken in turn.

Run:  .venv/bin/python bench/jax_unasked.py [--rounds 5]

Each process is gridlab's command line (``cli.run``) with ``KERAS_BACKEND=jax``; the baseline's code differs in one
line, which makes ``tensorflow_unasked`` do nothing. Measured per process, from its start to its end: CPU seconds
(user + system), wall seconds and peak memory (largest resident set, ``os.wait4``) of ``gridlab train`` (digits, one
epoch, with its report) and ``gridlab evaluate`` (which neither seeds nor saves: the control). Prints the medians and
the ratios and writes docs/benchmarks.md (section "jax-unasked").
"""
from __future__ import annotations

import shutil
import statistics
import sys

import _bench

ASKED = "import contextlib\nimport gridlab.backend as b\nb.tensorflow_unasked = contextlib.nullcontext\n"
COMMANDS = {"gridlab train on JAX (digits, 1 epoch, report)": ["train", "data=digits", "model=seed003_mlp",
                                                               "epochs=1", "audit=false", "name=t"],
            "gridlab evaluate on JAX (control)": ["evaluate", "runs/s"]}
WAYS = {"TensorFlow left alone": "", "imported as Keras asks": ASKED}


def main() -> int:
    rounds, work, env = _bench.process_bench(__doc__, "jax-unasked")
    env = {**env, "KERAS_BACKEND": "jax"}

    def measure(case: str, way: str) -> tuple[float, float, float]:
        shutil.rmtree(work / "runs" / "t", ignore_errors=True)     # each train starts afresh
        return _bench.timed([sys.executable, "-c", WAYS[way] + _bench.CLI_RUN, *COMMANDS[case]], env, work)

    results = _bench.taken_in_turn(rounds, COMMANDS, WAYS, measure)
    lines = _bench.side_by_side("jax_unasked.py", rounds, results, COMMANDS, "TensorFlow left alone",
                                "imported as Keras asks", ("TensorFlow left alone", "imported as Keras asks",
                                                           "left alone", "imported"))
    lines += ["", "| process | peak memory, left alone | peak memory, imported | ratio |", "|---|---|---|---|"]
    for case in COMMANDS:
        alone, asked = (statistics.median(r[2] for r in results[(case, way)]) for way in WAYS)
        lines.append(f"| {case} | {alone:,.0f} MiB | {asked:,.0f} MiB | **{alone / asked:.2f}x** |")
    print("\n".join(lines))
    _bench.write_section("jax-unasked", "\n".join([
        "## Keras on JAX without importing TensorFlow to ask about it (`bench/jax_unasked.py`)", "", *lines, "",
        "Keras' seeding (`keras.utils.set_random_seed`) and its serializing of configs (`get_config`, cloning, "
        "saving) ask Keras' lazy TensorFlow handle whether TensorFlow is installed, and asking imports it, in every "
        "process on the JAX backend: a GPU machine's commands, sweep trials, Ray Train workers, each data-parallel "
        "process. Serializing asks only to check whether a value is one of TensorFlow's types (none can be before "
        "TensorFlow is imported); seeding asks to seed it for tf.data, which gridlab uses on TensorFlow alone. "
        "`train` runs inside `backend.tensorflow_unasked`, where those two Keras modules see TensorFlow as "
        "available once something has imported it, and not before. `evaluate` neither seeds nor saves: the same "
        "either way."]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
