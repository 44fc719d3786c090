"""Variants of the default OOD score (`ensemble`) tried against the probe sets where it fell short: its Mahalanobis
part on the linear scale (the squared distance, as before the log scale), covariance shrinkage (Ledoit-Wolf, OAS;
scikit-learn) and one Mahalanobis score per stage (the penultimate features, then each stage's channel statistics),
summed or the worst, each standardised on the validation split as `ensemble`'s parts.

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

VARIANTS = ("ensemble", "squared distance", "ledoit-wolf", "oas", "per stage, summed", "per stage, worst")


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
        for title, result in (("thermal glitch frames", thermal(tmp, None, score=table)),
                              ("far-OOD, Fashion-MNIST", far(tmp, score=table)[0])):
            print(f"\n{title} (AUROC / FPR at 95% TPR)\n| probe set | " + " | ".join(VARIANTS) + " |")
            for probe, row in result.items():
                print(f"| {probe} | " + " | ".join(f"{a:.4f} / {f:.1%}" for a, f in row.values()) + " |")


if __name__ == "__main__":
    main()
