"""Variants of the default OOD score (`ensemble`) tried against the probe sets where it fell short: its Mahalanobis
part on the linear scale (the squared distance, as before the log scale), covariance shrinkage (Ledoit-Wolf, OAS;
scikit-learn) and one Mahalanobis score per stage (the penultimate features, then each stage's channel statistics),
summed or the worst, each standardised on the validation split as `ensemble`'s parts; `ensemble` on fewer of the
channel statistics; and what each part of the scoring model costs per 10,000 arrays (Keras, ONNX Runtime).

Run:  .venv/bin/python bench/ood_variants.py

Trains the same two runs as bench/ood.py (the `fast` preset on Fashion-MNIST; gridlab_cnn on a generated thermal
set), fits every variant on their training and validation features, and prints AUROC / FPR at 95% TPR per probe
set. It writes nothing: the figures of record are bench/ood.py's (docs/benchmarks.md, "ood").
"""
from __future__ import annotations

import tempfile

import _bench  # noqa: F401  (the project root on sys.path)
import numpy as np
from ood import far, thermal

VARIANTS = ("ensemble", "squared distance", "ledoit-wolf", "oas", "per stage, summed", "per stage, worst",
            "no stage deviations", "no first conv stage", "penultimate + input")
SUBSETS = {   # the features ``ensemble`` keeps, by (stage index, "mean" or "std"); stage 0 is the input
    "no stage deviations": lambda stage, part, n: stage == 0 or part == "mean",
    "no first conv stage": lambda stage, part, n: stage != 1,
    "penultimate + input": lambda stage, part, n: stage == 0,
}


def _shrunk(inputs: dict, h, y, h_val, shrink: str):
    """A Mahalanobis score on ``h`` (gridlab's ``mahalanobis_layers``, on all of ``h``) whose shared covariance is
    scikit-learn's shrunk estimate instead of gridlab's: the class means and the scoring stay gridlab's."""
    from sklearn.covariance import OAS, ledoit_wolf

    from gridlab.prediction import ood

    det = ood.fit("mahalanobis_layers", h, y, h_val, inputs["w"], inputs["b"])
    classes = np.unique(y)
    centred = h - det.means[np.searchsorted(classes, y)]
    cov = (ledoit_wolf(centred, assume_centered=True)[0] if shrink == "ledoit-wolf"
           else OAS(assume_centered=True).fit(centred).covariance_)
    return ood.Detector("mahalanobis_layers", 0.0, det.pass_rate, det.w, det.b, det.means, np.linalg.pinv(cov))


def variant_scores(inputs: dict, name: str):
    """The variant's score function; ``ensemble`` is gridlab's own, the others are fitted as it is (their parts
    standardised on the validation split, added, or for "worst" the smallest)."""
    from gridlab.prediction import ood

    h, y = np.asarray(inputs["h_train"], np.float64), inputs["y_train"]
    h_val = np.asarray(inputs["h_val"], np.float64)
    if name in SUBSETS:         # ``ensemble`` on fewer statistics: what dropping them would save and lose
        cols = _columns(inputs, SUBSETS[name])
        det = ood.fit("ensemble", h[:, cols], y, h_val[:, cols], inputs["w"], inputs["b"])
        return lambda x: det.score(np.asarray(x, np.float64)[:, cols])
    if name in ("ensemble", "squared distance"):
        det = ood.fit("ensemble", h, y, h_val, inputs["w"], inputs["b"])
        if name == "squared distance":      # the Mahalanobis part on the linear scale, as before 2026-12-06
            det.distance = "linear"
            det.scale = np.array([[p.mean(), p.std()] for p in det._ensemble_parts(h_val)])
        return det.score
    width = len(inputs["w"])
    knn = ood.fit("knn", h, y, h_val, inputs["w"], inputs["b"])
    parts = [knn.score]
    if name in ("ledoit-wolf", "oas"):
        parts.append(_shrunk(inputs, h, y, h_val, name).score)
    else:                       # one gridlab Mahalanobis score per block: the penultimate features, each stage's
        edges = np.cumsum([0, width, *[2 * c for c in inputs["channels"]]])       # means and deviations
        for lo, hi in zip(edges[:-1], edges[1:]):
            block = ood.fit("mahalanobis_layers", h[:, lo:hi], y, h_val[:, lo:hi], inputs["w"], inputs["b"])
            parts.append(lambda x, lo=lo, hi=hi, block=block: block.score(x[:, lo:hi]))
    scale = [(p(h_val).mean(), p(h_val).std() or 1.0) for p in parts]

    def score(x):
        x = np.asarray(x, np.float64)
        z = np.stack([(p(x) - m) / s for p, (m, s) in zip(parts, scale)])
        return z.min(axis=0) if name.endswith("worst") else z.sum(axis=0)
    return score


def _columns(inputs: dict, keep) -> np.ndarray:
    """The penultimate features' columns, then those of each stage's means and deviations that ``keep`` keeps."""
    width = len(inputs["w"])
    cols, at, n = list(range(width)), width, len(inputs["channels"])
    for stage, channels in enumerate(inputs["channels"]):
        for part in ("mean", "std"):
            if keep(stage, part, n):
                cols += range(at, at + channels)
            at += channels
    return np.array(cols)


def cost_parts(run, tmp) -> list[str]:
    """Time per 10,000 test arrays of the plain model, of the features without the stage statistics (the
    penultimate ones only), of the features with them, and of the scoring model (features and score), through Keras
    and ONNX Runtime, and of the features with the score computed after them in NumPy, as before 2026-12-06; blocks of
    5 calls of one, 3 blocks each, in turn, the best call."""
    from pathlib import Path

    from _bench import in_blocks

    from gridlab.datasets import feed
    from gridlab.evaluation import run_dataset
    from gridlab.export import _write_model, metadata
    from gridlab.prediction import Predictor, ood
    from gridlab.runtimes import load_runner

    p = Predictor(run.folder)
    x = run_dataset(p).x_test[:10000]
    models = {"plain": p.model, "penultimate features only": ood.feature_model(p.model, [])[0],
              "features with the stage statistics": ood.feature_model(p.model, p.ood.stage_names)[0],
              "features and score (what predicts)": p.scoring_model}
    rows = []
    for runtime in ("keras", "onnx"):
        calls = {}
        for name, model in models.items():
            if runtime == "keras":
                calls[name] = lambda model=model: feed.predict(model, x, 256)
            else:
                path = Path(tmp) / f"part-{len(calls)}.onnx"
                _write_model(model, "onnx", path, metadata(p.info), x[:1])
                calls[name] = lambda run=load_runner("onnx", path, all_outputs=True): run(x)
        calls["features, then the score in NumPy (before 2026-12-06)"] = (
            lambda features=calls["features with the stage statistics"]: p.ood.score(features()[1]))
        times = in_blocks(calls)
        plain = min(times["plain"])
        rows += [f"| {runtime} | {name} | {min(t) * 1e3:.0f} ms | {min(t) / plain - 1:+.1%} |"
                 for name, t in times.items()]
    return rows


def table(inputs: dict) -> dict:
    from gridlab.prediction import ood

    out = {}
    for name in VARIANTS:
        score = variant_scores(inputs, name)
        inside = score(inputs["h_in"])
        for probe, h in inputs["h_probes"].items():
            outside = score(h)
            out.setdefault(probe, {})[name] = (ood.auroc(inside, outside), ood.fpr_at_tpr(inside, outside, 0.95))
    return out


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        far_table, far_run = far(tmp, score=table)
        for title, result in (("thermal glitch frames", thermal(tmp, None, score=table)),
                              ("far-OOD, Fashion-MNIST", far_table)):
            print(f"\n{title} (AUROC / FPR at 95% TPR)\n| probe set | " + " | ".join(VARIANTS) + " |")
            for probe, row in result.items():
                print(f"| {probe} | " + " | ".join(f"{a:.4f} / {f:.1%}" for a, f in row.values()) + " |")
        print("\nwhat the OOD features cost, 10,000 Fashion-MNIST test arrays (`fast` preset)\n"
              "| runtime | model | time | against plain |\n|---|---|---|---|", *cost_parts(far_run, tmp), sep="\n")


if __name__ == "__main__":
    main()
