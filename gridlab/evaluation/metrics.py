"""Metrics computed from predicted probabilities: scikit-learn's where it has them (confusion matrix, MCC, ROC and
PR curves and their areas), gridlab's own for what it lacks (ECE and the reliability bins, the temperature, the
threshold rule).

Conventions: ``y`` holds integer labels (N,), ``proba`` probabilities (N, K). Every ``*_score`` and ``accuracy``
is higher-is-better; ``loss``, ``log_loss`` and ``ece`` are lower-is-better. For binary tasks a decision threshold
on the positive class's probability may replace argmax.

Note on seed 000: it computed ``roc_auc_score(np.round(preds), y_test)`` — arguments swapped (scores where labels
belong) and scores rounded to 0/1, which throws away the ranking an AUC measures. The correct call is
``roc_auc_score(y_test, preds)`` with the probabilities; ``roc_auc`` below does that, one-vs-rest for K classes.
"""
from __future__ import annotations

import numpy as np

from ..prediction.decision import predict_labels


def confusion(y: np.ndarray, pred: np.ndarray, k: int) -> np.ndarray:
    """Counts (K, K): row = true class, column = predicted class (scikit-learn's ``confusion_matrix``)."""
    from sklearn.metrics import confusion_matrix

    return confusion_matrix(y, pred, labels=np.arange(k))


def per_class(cm: np.ndarray) -> dict:
    """Precision, recall, F1 and support per class from a confusion matrix (0 where undefined), by scikit-learn's
    definitions (``precision_recall_fscore_support`` with ``zero_division=0``), read off the matrix."""
    tp = np.diag(cm).astype(float)
    support = cm.sum(axis=1)
    predicted = cm.sum(axis=0)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    return {"precision": precision, "recall": recall, "f1": f1, "support": support}


def mcc(y: np.ndarray, pred: np.ndarray) -> float:
    """Matthews correlation coefficient, multiclass (scikit-learn's ``matthews_corrcoef``)."""
    from sklearn.metrics import matthews_corrcoef

    return float(matthews_corrcoef(y, pred))


def _one_class(is_pos: np.ndarray) -> bool:
    return not is_pos.any() or is_pos.all()


def binary_roc_auc(is_pos: np.ndarray, score: np.ndarray) -> float:
    """ROC-AUC (scikit-learn's ``roc_auc_score``); NaN when only one class is present."""
    from sklearn.metrics import roc_auc_score

    return float("nan") if _one_class(is_pos) else float(roc_auc_score(is_pos, score))


def average_precision(is_pos: np.ndarray, score: np.ndarray) -> float:
    """Area under the precision-recall curve (scikit-learn's ``average_precision_score``); NaN with no positive."""
    from sklearn.metrics import average_precision_score

    return float("nan") if not is_pos.any() else float(average_precision_score(is_pos, score))


def roc_curve(is_pos: np.ndarray, score: np.ndarray):
    """False-positive rate, true-positive rate and thresholds, one point per distinct score (scikit-learn's
    ``roc_curve`` without dropping intermediate points)."""
    from sklearn.metrics import roc_curve as sk_roc_curve

    return sk_roc_curve(is_pos, score, drop_intermediate=False)


def pr_curve(is_pos: np.ndarray, score: np.ndarray):
    """Precision, recall and thresholds, one point per distinct score, highest threshold first (scikit-learn's
    ``precision_recall_curve`` reversed, without its closing (precision 1, recall 0) point)."""
    from sklearn.metrics import precision_recall_curve

    precision, recall, thresholds = precision_recall_curve(is_pos, score)
    return precision[-2::-1], recall[-2::-1], thresholds[::-1]


def log_loss(y: np.ndarray, proba: np.ndarray, eps: float = 1e-15) -> float:
    """Mean negative log-probability of the true class (probabilities clipped to [eps, 1-eps])."""
    p = np.clip(proba[np.arange(len(y)), y], eps, 1 - eps)
    return float(-np.mean(np.log(p)))


def calibration(y: np.ndarray, proba: np.ndarray, bins: int = 15) -> dict:
    """Reliability bins of the top-class confidence and the expected calibration error (ECE)."""
    conf = proba.max(axis=1)
    correct = (proba.argmax(axis=1) == y).astype(float)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, bins - 1)
    count = np.bincount(which, minlength=bins)
    acc = np.bincount(which, weights=correct, minlength=bins)
    mean_conf = np.bincount(which, weights=conf, minlength=bins)
    nz = count > 0
    acc[nz] /= count[nz]
    mean_conf[nz] /= count[nz]
    ece = float(np.sum(count[nz] / len(y) * np.abs(acc[nz] - mean_conf[nz]))) if len(y) else 0.0
    return {"edges": edges, "count": count, "accuracy": acc, "confidence": mean_conf, "ece": ece}


def top_k_accuracy(y: np.ndarray, proba: np.ndarray, k: int) -> float:
    """Share of examples whose true class is among the k most probable (ties broken by index)."""
    top = np.argsort(-proba, axis=1, kind="mergesort")[:, :k]
    return float(np.mean(np.any(top == y[:, None], axis=1)))


def compute_metrics(y: np.ndarray, proba: np.ndarray, class_names, threshold: float | None = None,
                    positive: int = 1) -> dict:
    """Every metric gridlab reports, as plain JSON-ready values."""
    y = np.asarray(y, dtype=np.int64)
    proba = np.asarray(proba, dtype=np.float64)
    k = proba.shape[1]
    pred = predict_labels(proba, threshold, positive)
    cm = confusion(y, pred, k)
    pc = per_class(cm)
    present = pc["support"] > 0
    roc = [binary_roc_auc(y == c, proba[:, c]) for c in range(k)]
    ap = [average_precision(y == c, proba[:, c]) for c in range(k)]
    top_k = min(5, k - 1) if k > 2 else 1
    out = {
        "examples": int(len(y)),
        "accuracy": float(np.mean(pred == y)),
        "balanced_accuracy": float(np.mean(pc["recall"][present])),
        f"top{top_k}_accuracy": top_k_accuracy(y, proba, top_k),
        "log_loss": log_loss(y, proba),
        "mcc": mcc(y, pred),
        "roc_auc_macro": float(np.nanmean(roc)) if not np.all(np.isnan(roc)) else None,
        "pr_auc_macro": float(np.nanmean(ap)) if not np.all(np.isnan(ap)) else None,
        "ece": calibration(y, proba)["ece"],
        "per_class": {name: {"precision": float(pc["precision"][i]), "recall": float(pc["recall"][i]),
                             "f1": float(pc["f1"][i]), "support": int(pc["support"][i]),
                             "roc_auc": None if np.isnan(roc[i]) else float(roc[i]),
                             "pr_auc": None if np.isnan(ap[i]) else float(ap[i])}
                      for i, name in enumerate(class_names)},
        "confusion": cm.tolist(),
        "confusion_normalized": (cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)).tolist(),   # rows sum to 1
    }
    if threshold is not None and k == 2:
        out["threshold"] = float(threshold)
        out["positive_class"] = class_names[positive]
    return out


def choose_threshold(y: np.ndarray, score: np.ndarray, rule: tuple[str, float | None]) -> float:
    """A decision threshold for ``score`` = P(positive) on validation data, by rule ``(kind, value)``:
    ``('f1', None)`` maximises F1; ``('recall', R)`` is the highest threshold reaching recall >= R;
    ``('precision', P)`` the lowest reaching precision >= P; ``('fixed', t)`` is t itself."""
    kind, value = rule
    if kind == "fixed":
        return float(value)
    is_pos = np.asarray(y).astype(bool)
    if not is_pos.any() or is_pos.all():
        return 0.5
    precision, recall, thresholds = pr_curve(is_pos, np.asarray(score, dtype=np.float64))
    if kind == "f1":
        f1 = np.where(precision + recall > 0, 2 * precision * recall / np.maximum(precision + recall, 1e-12), 0)
        return float(thresholds[int(np.argmax(f1))])
    if kind == "recall":
        ok = np.flatnonzero(recall >= value)
        return float(thresholds[ok[0]]) if len(ok) else float(thresholds[-1])
    ok = np.flatnonzero(precision >= value)          # kind == "precision"
    return float(thresholds[ok[-1]]) if len(ok) else float(thresholds[0])


def score(y: np.ndarray, proba: np.ndarray, class_names, threshold: float | None = None, positive: int = 1) -> dict:
    """A run's test metrics, the one scoring used by training, ``evaluate`` and the report: ``compute_metrics`` at
    the run's decision rule, ``loss`` (the log loss), and for a binary run decided by a threshold the figures at
    argmax as ``at_argmax``."""
    metrics = compute_metrics(y, proba, class_names, threshold, positive)
    metrics["loss"] = metrics["log_loss"]
    if threshold is not None:
        at_argmax = compute_metrics(y, proba, class_names)
        metrics["at_argmax"] = {k: at_argmax[k] for k in ("accuracy", "balanced_accuracy", "mcc")}
    return metrics


def temper(views, temperature: float) -> np.ndarray:
    """Probabilities at a temperature: each view's ``softmax(log p / T)``, averaged over views (one view, or
    the views a test-time-view model averages). ``log p`` equals the logits up to a constant per row,
    which softmax ignores, so this is exactly ``softmax(z / T)``: dividing the output layer's weights by T."""
    out = 0.0
    for p in views:
        z = np.log(np.clip(np.asarray(p, dtype=np.float64), 1e-300, None)) / temperature
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        out = out + e / e.sum(axis=1, keepdims=True)
    return out / len(views)


def fit_temperature(y: np.ndarray, views, low: float = 0.1, high: float = 10.0, steps: int = 60) -> float:
    """The temperature that minimises the log loss of ``temper(views, T)`` on labels ``y`` (Guo et al. 2017,
    "On calibration of modern neural networks"): a golden-section search over log T in [low, high].

    >>> rng = np.random.default_rng(0); y = rng.integers(0, 3, 500)
    >>> p = np.full((500, 3), 0.05); p[np.arange(500), y] = 0.9          # right 90% of the time...
    >>> p[:50] = np.roll(p[:50], 1, axis=1)                                  # ...but says 90% on mistakes too
    >>> round(fit_temperature(y, [p]), 2) > 1
    True
    """
    y = np.asarray(y, dtype=np.int64)

    def loss(log_t):
        return log_loss(y, temper(views, float(np.exp(log_t))))

    a, b = np.log(low), np.log(high)
    ratio = (np.sqrt(5) - 1) / 2
    c, d = b - ratio * (b - a), a + ratio * (b - a)
    fc, fd = loss(c), loss(d)
    for _ in range(steps):
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - ratio * (b - a)
            fc = loss(c)
        else:
            a, c, fc = c, d, fd
            d = a + ratio * (b - a)
            fd = loss(d)
    return float(np.exp((a + b) / 2))
