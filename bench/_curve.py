"""Shared by the bench scripts that train: test accuracy after every epoch against training time."""
from __future__ import annotations

import time

import keras
import numpy as np


class TestAccuracy(keras.callbacks.Callback):
    """Test accuracy after every epoch; its own time is kept out of the training clock. With ``tta`` it measures
    what the saved model will be: the average over gridlab's test-time views (``models.with_test_time_views``,
    built once over the training model's own layers, so it follows their weights). Pass ``clock`` to
    ``gridlab.train`` (``clock=probe.clock``) so a ``max_time`` budget does not count the test evaluations either."""

    def __init__(self, x_test, y_test, tta: bool = False):
        super().__init__()
        self.x_test, self.y_test, self.tta, self.views, self.excluded = x_test, y_test, tta, None, 0.0

    def clock(self) -> float:
        """time.perf_counter without the seconds this probe spent evaluating."""
        return time.perf_counter() - self.excluded

    def on_train_begin(self, logs=None):
        self.start, self.curve, self.epoch_times = self.clock(), [], []

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        from gridlab.datasets import feed

        now = time.perf_counter()
        self.epoch_times.append(now - self.epoch_start)
        if self.tta and self.views is None:
            from gridlab.models import with_test_time_views, without_augmentation

            self.views = with_test_time_views(without_augmentation(self.model))
        proba = feed.predict(self.model if self.views is None else self.views, self.x_test, 1000)
        self.curve.append((now - self.excluded - self.start, float(np.mean(proba.argmax(1) == self.y_test))))
        self.excluded += time.perf_counter() - now


def first_at(curve: list[tuple[float, float]], target: float) -> float | None:
    """Training seconds at the first epoch whose test accuracy reaches ``target`` (None if none does)."""
    return next((t for t, a in curve if a >= target), None)


def best_within(curve: list[tuple[float, float]], seconds: float) -> float | None:
    """The best test accuracy among epochs that ended within ``seconds`` of training (None if none did)."""
    return max((a for t, a in curve if t <= seconds), default=None)
