"""Shared by the bench scripts that train: test accuracy after every epoch against training time."""
from __future__ import annotations

import time

import keras
import numpy as np


class TestAccuracy(keras.callbacks.Callback):
    """Test accuracy after every epoch; its own time is kept out of the training clock. With ``tta`` it measures
    what the saved model will be: each image's prediction averaged with its mirror image's."""

    def __init__(self, x_test, y_test, tta: bool = False):
        super().__init__()
        self.x_test, self.y_test, self.tta = x_test, y_test, tta

    def on_train_begin(self, logs=None):
        self.start, self.excluded, self.curve, self.epoch_times = time.perf_counter(), 0.0, [], []

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        from gridlab.datasets import feed

        now = time.perf_counter()
        self.epoch_times.append(now - self.epoch_start)
        proba = feed.predict(self.model, self.x_test, 1000)
        if self.tta:
            proba = proba + feed.predict(self.model, self.x_test[:, :, ::-1], 1000)
        self.curve.append((now - self.start - self.excluded, float(np.mean(proba.argmax(1) == self.y_test))))
        self.excluded += time.perf_counter() - now


def first_at(curve: list[tuple[float, float]], target: float) -> float | None:
    """Training seconds at the first epoch whose test accuracy reaches ``target`` (None if none does)."""
    return next((t for t, a in curve if a >= target), None)


def best_within(curve: list[tuple[float, float]], seconds: float) -> float | None:
    """The best test accuracy among epochs that ended within ``seconds`` of training (None if none did)."""
    return max((a for t, a in curve if t <= seconds), default=None)
