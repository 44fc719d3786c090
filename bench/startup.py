"""Process start-up: what every gridlab command pays before it does its work, with the installed packages against
the same packages with one version swapped in (by default ml_dtypes 0.7.0, which pyproject.toml excludes), side by
side, in fresh processes taken in turn.

Run:  .venv/bin/python bench/startup.py [--baseline ml_dtypes==0.7.0] [--rounds 5]

The baseline's package is installed with pip into ``.bench-cache/`` (once; the package registry must be reachable
then) and put before the virtual environment's own on PYTHONPATH. Measured per process: CPU seconds (user + system,
``os.wait4``) and wall seconds of ``import ml_dtypes``, ``import keras`` (TensorFlow backend: imports TensorFlow),
and ``gridlab predict`` of one PNG with a small run trained here. Prints the medians and the ratios and writes
docs/benchmarks.md (section "startup").
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from _bench import baseline_path, child_env, machine, medians, timed, write_section

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")     # machine() imports Keras here


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default="ml_dtypes==0.7.0")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    overlay = baseline_path(args.baseline)
    work = Path(tempfile.mkdtemp(prefix="gridlab-startup-"))
    base_env = child_env(drop=("KERAS_BACKEND", "PYTHONPATH"), KERAS_BACKEND="tensorflow")
    envs = {"installed": base_env, args.baseline: {**base_env, "PYTHONPATH": str(overlay)}}
    version = "import ml_dtypes; print(ml_dtypes.__version__)"
    for name, env in envs.items():
        found = subprocess.run([sys.executable, "-c", version], env=env, capture_output=True, text=True).stdout
        print(f"{name}: ml_dtypes {found.strip()}")

    print("training a small run to predict with ...", flush=True)
    subprocess.run([sys.executable, "-m", "gridlab", "train", "data=digits", "model=seed003_mlp", "epochs=1",
                    "limit=400", "report=false", "audit=false", "name=s"], env=base_env, cwd=work, check=True,
                   capture_output=True)
    import numpy as np
    from PIL import Image

    Image.fromarray(np.zeros((8, 8), np.uint8)).save(work / "one.png")
    commands = {"import ml_dtypes": [sys.executable, "-c", "import ml_dtypes"],
                "import keras (TensorFlow)": [sys.executable, "-c", "import keras"],
                "gridlab predict one.png": [sys.executable, "-m", "gridlab", "predict", "runs/s", "one.png"]}
    results = {(c, e): [] for c in commands for e in envs}
    for r in range(args.rounds):
        print(f"round {r + 1} of {args.rounds} ...", flush=True)
        for c, argv in commands.items():
            for e, env in envs.items():
                results[(c, e)].append(timed(argv, env, work))
    base = args.baseline
    lines = [f"Machine: {machine()}. Command: `.venv/bin/python bench/startup.py --baseline {base}`. Median of "
             f"{args.rounds} fresh processes each, taken in turn.", "",
             f"| process | CPU s, installed | CPU s, {base} | wall s, installed | wall s, {base} | CPU saved |",
             "|---|---|---|---|---|---|"]
    for c in commands:
        now, then = medians(results[(c, "installed")]), medians(results[(c, base)])
        lines.append(f"| {c} | {now[0]:.2f} | {then[0]:.2f} | {now[1]:.2f} | {then[1]:.2f} | "
                     f"{then[0] - now[0]:.2f} s ({now[0] / then[0]:.2f}x) |")
    text = "\n".join(lines)
    print(text)
    write_section("startup", text)


if __name__ == "__main__":
    main()
