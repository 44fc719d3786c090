"""Variants of the default OOD score (`ensemble`) tried against the probe sets where it falls short: covariance
shrinkage (Ledoit-Wolf, OAS; scikit-learn) and one Mahalanobis score per stage (the penultimate features, then each
stage's channel statistics), summed or the worst, each standardised on the validation split as `ensemble`'s parts.

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

VARIANTS = ("ensemble", "ledoit-wolf", "oas", "per stage, summed", "per stage, worst")


def _mahalanobis(h, y, shrink=None):
    """A score function: minus the smallest class-conditional Mahalanobis distance, shared covariance."""
    from sklearn.covariance import OAS, ledoit_wolf

    classes = np.unique(y)
    means = np.stack([h[y == c].mean(axis=0) for c in classes])
    centred = h - means[np.searchsorted(classes, y)]
    if shrink == "ledoit-wolf":
        cov = ledoit_wolf(centred, assume_centered=True)[0]
    elif shrink == "oas":
        cov = OAS(assume_centered=True).fit(centred).covariance_
    else:                                             # gridlab's own (prediction.ood.fit)
        cov = centred.T @ centred / max(len(h) - 1, 1)
        cov += 1e-6 * np.trace(cov) / len(cov) * np.eye(len(cov))
    precision = np.linalg.pinv(cov)

    def score(x):
        return -np.min([(((x - m) @ precision) * (x - m)).sum(axis=1) for m in means], axis=0)
    return score


def variant_scores(inputs: dict, name: str):
    """The variant's score function, fitted as `ensemble` is: its parts standardised on the validation split."""
    from gridlab.prediction import ood

    h, y = np.asarray(inputs["h_train"], np.float64), inputs["y_train"]
    h_val = np.asarray(inputs["h_val"], np.float64)
    knn = ood.fit("knn", h, y, h_val, inputs["w"], inputs["b"])
    width = len(inputs["w"])
    parts = [lambda x: knn.score(x)]
    if name in ("ensemble", "ledoit-wolf", "oas"):
        parts.append(_mahalanobis(h, y, None if name == "ensemble" else name))
    else:
        edges = np.cumsum([0, width, *[2 * c for c in inputs["channels"]]])
        for lo, hi in zip(edges[:-1], edges[1:]):
            block = _mahalanobis(h[:, lo:hi], y)
            parts.append(lambda x, lo=lo, hi=hi, block=block: block(x[:, lo:hi]))
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
