"""The decision rule: probabilities -> class labels, the same for prediction, serving, export checks and metrics."""
from __future__ import annotations

import numpy as np


def predict_labels(proba: np.ndarray, threshold: float | None = None, positive: int = 1) -> np.ndarray:
    """Argmax, or for two classes with a threshold: ``positive`` when its probability >= threshold.

    >>> predict_labels(np.array([[0.7, 0.3], [0.2, 0.8]]), threshold=0.25).tolist()
    [1, 1]
    """
    if threshold is None or proba.shape[1] != 2:
        return proba.argmax(axis=1)
    return np.where(proba[:, positive] >= threshold, positive, 1 - positive)
