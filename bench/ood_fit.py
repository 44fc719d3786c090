"""What fitting the out-of-distribution score costs at the end of a training run, gridlab's way against the way before
it, side by side, in fresh processes taken in turn.

Run:  .venv/bin/python bench/ood_fit.py [--rounds 5] [--data-dir DIR]

Two runs on Fashion-MNIST, trained here for one epoch each (``report=false audit=false``): the `fast` preset
(gridlab_fast) and seed002_mlp (a wide MLP, 562 features). For each, the features `training/finish.py` computes are
saved once (a sample of 20,000 training examples, the validation split, 2,000 test examples and 2,000 inputs of each
probe set), and each process then does with them what the run's end does: ``ood.fit`` of the run's own method
(``ensemble``) and ``ood.evaluate``, which measures every method against the probe sets for the report.

- gridlab: the precision from the covariance's Cholesky factor, the whitener as the precision's Cholesky factor,
  and ``evaluate`` reusing the run's own fit and the class statistics its methods share;
- before: the same code with the three things the change replaced put back (``np.linalg.pinv``, the whitener from
  an eigendecomposition, and every method fitted from scratch).

Measured per process: CPU seconds and wall seconds of the two calls (``time.process_time``, ``time.perf_counter``).
Each process also saves its scores; the largest difference between the two ways' scores is printed below the table,
so it says the two ways agree. Prints the medians and the ratios and writes docs/benchmarks.md (section "ood-fit").
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import _bench
from ood import PROBE_N, inputs_for

RUNS = {"fast preset (gridlab_fast)": ["preset=fast", "epochs=1"],
        "seed002_mlp": ["model=seed002_mlp", "epochs=1"]}

# the child: the two calls, timed; the way before puts back what the change replaced
CHILD = """
import json, sys, time
import numpy as np
import sklearn.metrics  # imported by the run before its end; not timed here
from gridlab.prediction import ood

features = np.load(sys.argv[1])
if sys.argv[2] == "before":
    def square_root(precision):
        values, vectors = np.linalg.eigh((precision + precision.T) / 2)
        return vectors * np.sqrt(np.maximum(values, 0.0))
    ood._inverse = np.linalg.pinv
    ood._square_root = square_root
    plain_fit = ood.fit
    ood.fit = lambda *args, shared=None, **kwargs: plain_fit(*args, **kwargs)     # no statistics shared
h_probes = {k[6:]: features[k] for k in features.files if k.startswith("probe ")}
args = (features["h_train"], features["y_train"], features["h_val"])
cpu, wall = time.process_time(), time.perf_counter()
det = ood.fit("ensemble", *args, features["w"], features["b"])
found = ood.evaluate(*args, features["h_in"], h_probes, features["w"], features["b"],
                     fitted=None if sys.argv[2] == "before" else det)
cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
scores = np.concatenate([np.ravel(v) for m in sorted(found["scores"]) for k, v in sorted(found["scores"][m].items())])
np.save(sys.argv[3], scores)
print(json.dumps([cpu, wall]))
"""


def _features(work: Path, name: str, overrides: list[str], env: dict, data_dir: str | None) -> Path:
    """Train ``name`` and save the features the run's end fits its OOD score on (bench/ood.py's ``inputs_for``, as
    ``_fit_ood`` computes them)."""
    subprocess.run([sys.executable, "-m", "gridlab", "train", "data=fashion-mnist", *overrides, "report=false",
                    "audit=false", f"name={name}", "-q", *([f"data_dir={data_dir}"] if data_dir else [])],
                   env=env, cwd=work, check=True, capture_output=True)
    import numpy as np

    from gridlab.evaluation import run_dataset
    from gridlab.prediction import Predictor, ood

    predictor = Predictor(work / "runs" / name)
    dataset = run_dataset(predictor)             # the run's own splits
    test = np.sort(np.random.default_rng(0).choice(len(dataset.y_test), PROBE_N, replace=False))
    found = inputs_for(predictor, dataset, dataset.x_test[test], ood.probes(dataset.x_val, dataset.kind, PROBE_N))
    path = work / f"{name}.npz"
    np.savez(path, **{k: found[k] for k in ("h_train", "y_train", "h_val", "h_in", "w", "b")},
             **{f"probe {k}": v for k, v in found["h_probes"].items()})
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--data-dir", help="the Fashion-MNIST IDX files (default: where gridlab finds them)")
    args = parser.parse_args()
    import numpy as np

    work = Path(tempfile.mkdtemp(prefix="gridlab-ood-fit-"))
    env = _bench.child_env()
    ways = ("gridlab", "before")
    features, widths = {}, {}
    for case, overrides in RUNS.items():
        print(f"training {case} for one epoch, and saving its features ...", flush=True)
        features[case] = _features(work, case.split()[0], overrides, env, args.data_dir)
        with np.load(features[case]) as f:
            widths[case] = (f["h_train"].shape[1], len(f["w"]))
    results = {(case, way): [] for case in RUNS for way in ways}
    differences = {case: 0.0 for case in RUNS}
    for r in range(args.rounds):
        print(f"round {r + 1} of {args.rounds} ...", flush=True)
        for case in RUNS:
            for way in ways:
                out = subprocess.run([sys.executable, "-c", CHILD, str(features[case]), way,
                                      str(work / f"scores-{way}.npy")], env=env, cwd=work, capture_output=True,
                                     text=True, check=True)
                results[(case, way)].append(_bench.last_line(out.stdout))
            new, old = (np.load(work / f"scores-{way}.npy") for way in ways)
            differences[case] = max(differences[case], float(np.max(np.abs(new - old) / np.maximum(np.abs(old), 1))))
    labels = {case: f"{case}, {widths[case][0]} features ({widths[case][1]} penultimate)" for case in RUNS}
    rows = _bench.side_by_side("ood_fit.py", args.rounds, {(labels[c], way): v for (c, way), v in results.items()},
                               labels.values(), "gridlab", "before", ("gridlab", "before", "gridlab", "before"))
    rows += ["", "Each process fits the run's own score (`ensemble`) and measures every method against the probe "
             "sets, as the end of a training run does, on the same saved features. The largest difference between "
             "the two ways' scores, relative: " + "; ".join(f"{case} {differences[case]:.1e}" for case in RUNS) + "."]
    print("\n".join(rows))
    _bench.write_section("ood-fit", "\n".join([
        "## The end of a run: fitting the OOD score (`bench/ood_fit.py`)", "", *rows, "",
        "The Mahalanobis parts need the inverse of the features' class-centred covariance and a square root of it. "
        "Before, the inverse came from `np.linalg.pinv` (a singular value decomposition) and the square root from "
        "an eigendecomposition of the inverse, once for the run's own score and again for each method the report "
        "compares. The covariance is regularised, so it is positive definite: its Cholesky factor gives the inverse, "
        "the inverse's Cholesky factor is a square root (any square root gives the same distances), and the "
        "report's comparison reuses the run's own fit and the statistics its methods share."]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
