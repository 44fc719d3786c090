"""Training callbacks that keep a run recoverable.

``Monitor`` does the work of ModelCheckpoint(save_best_only) + EarlyStopping + BackupAndRestore in one object
whose whole state (best score, best epoch, epochs without improvement) is saved with
every resume point, so a resumed run continues exactly where it stopped. Every file is written atomically.
"""
from __future__ import annotations

import math
import shutil
import time
from pathlib import Path

import keras

from .. import runs
from ..files import atomic_path
from ..models.io import save_model


def copy_model(source: Path, path: Path) -> None:
    """A saved model copied to a temporary ``.keras`` beside ``path``, then renamed: the same file as saving the
    same model again, without serializing its weights and optimizer state a second time."""
    with atomic_path(path, suffix=".keras") as tmp:
        shutil.copyfile(source, tmp)


class Monitor(keras.callbacks.Callback):
    """Best checkpoint, early stopping, history, resume point, NaN guard and time budget. The best epoch's
    weights live in ``model.keras`` only; ``train`` loads them from there when training ends (also after a resume).

    Args:
        folder: the run directory.
        monitor: ``val_loss`` (lower is better) or ``val_accuracy``.
        patience: epochs without improvement before stopping; 0 never stops early.
        max_seconds: stop after this much training time (None = no limit).
        state: a saved state to continue from (resume), or None.
        clock: seconds from a monotonic clock (``time.perf_counter``); the time budget and the timings use it, so
            a test can drive them without depending on how fast the machine is.
    """

    def __init__(self, folder, monitor="val_loss", patience=2, max_seconds=None, state=None, clock=time.perf_counter):
        super().__init__()
        self.folder = Path(folder)
        self.monitor, self.patience, self.max_seconds, self.clock = monitor, patience, max_seconds, clock
        self.lower_is_better = monitor.endswith("loss")
        state = state or {}
        self.best = state.get("best")
        self.best_epoch = state.get("best_epoch")
        self.wait = state.get("wait", 0)
        self.rows = state.get("history", [])
        self.seconds = state.get("train_seconds", 0.0)
        self.stop_reason = None
        self.nan_at = None
        self._start = None

    def on_train_begin(self, logs=None):
        self._start = self.clock() - self.seconds

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
        self._epoch_start = self.clock()

    def elapsed(self) -> float:
        """Training seconds so far, a resumed run's earlier seconds included."""
        return self.clock() - self._start

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.nan_at = (self.epoch + 1, batch + 1)
            self.stop_reason = f"the loss became {float(loss)} in epoch {self.epoch + 1}, batch {batch + 1}"
            self.model.stop_training = True
        elif self.max_seconds is not None and self.elapsed() > self.max_seconds:
            self.stop_reason = f"the time budget of {self.max_seconds:g} s ran out in epoch {self.epoch + 1}"
            self.model.stop_training = True

    def _improved(self, value) -> bool:
        if value is None or not math.isfinite(value):
            return False
        if self.best is None:
            return True
        return value < self.best if self.lower_is_better else value > self.best

    def on_epoch_end(self, epoch, logs=None):
        try:
            self._record(epoch, logs)
        except OSError as exc:
            from ..errors import RunError

            where = exc.filename or self.folder
            raise RunError(f"{where}: cannot write the checkpoint of epoch {epoch + 1} ({exc.strerror}); training "
                           "stopped and the files of the previous epoch are unchanged. Free disk space or make the "
                           "run folder writable, then run the same command again to resume.") from None

    def _record(self, epoch, logs):
        logs = dict(logs or {})
        self.seconds = self.clock() - self._start
        if self.nan_at is not None:
            return  # a NaN epoch is neither recorded as history nor as a resume point
        row = {"epoch": epoch + 1, **{k: float(v) for k, v in logs.items()},
               "seconds": round(self.clock() - self._epoch_start, 3)}
        if hasattr(self.model.optimizer, "learning_rate"):
            row["lr"] = float(self.model.optimizer.learning_rate)
        self.rows.append(row)
        value = logs.get(self.monitor)
        improved = self._improved(value)
        if improved:
            self.best, self.best_epoch, self.wait = float(value), epoch + 1, 0
            save_model(self.model, self.folder / runs.MODEL)
        else:
            self.wait += 1
            if self.patience and self.wait >= self.patience and self.stop_reason is None:
                self.stop_reason = (f"early stopping: {self.monitor} did not improve for {self.patience} epochs "
                                    f"(best {self.best:.4f} at epoch {self.best_epoch})")
                self.model.stop_training = True
        runs.write_history(self.folder, self.rows)
        if improved:       # the resume point holds what the best checkpoint just saved (bench/checkpoint.py)
            copy_model(self.folder / runs.MODEL, self.folder / runs.LAST)
        else:
            save_model(self.model, self.folder / runs.LAST)
        runs.write_state(self.folder, self.state(epoch + 1))

    def state(self, epochs_done: int) -> dict:
        return {"epochs_done": epochs_done, "best": self.best, "best_epoch": self.best_epoch, "wait": self.wait,
                "history": self.rows, "train_seconds": self.seconds, "monitor": self.monitor}


class ScheduleByTime(keras.callbacks.Callback):
    """Under a time budget, the learning rate schedule follows whichever runs out first, the budget or the steps:
    the rate at each call is ``schedule`` at ``max(step / total_steps, seconds / budget)`` of the way through. A run
    the budget cuts short ends on an annealed rate instead of stopping in the middle of its schedule. The rate is set
    before each compiled call (every ``steps_per_execution`` steps).

    Args:
        schedule: the Keras schedule over ``total_steps`` (training.setup.lr_schedule).
        total_steps: the steps of all epochs.
        budget: the time budget in seconds.
        clock: training seconds so far (Monitor.elapsed).
    """

    def __init__(self, schedule, total_steps: int, budget: float, clock):
        super().__init__()
        self.schedule, self.total, self.budget, self.clock = schedule, max(1, total_steps), budget, clock

    def progress(self, step: int) -> float:
        return min(1.0, max(step / self.total, self.clock() / self.budget))

    def on_train_batch_begin(self, batch, logs=None):
        step = int(self.model.optimizer.iterations)
        self.model.optimizer.learning_rate = float(self.schedule(self.progress(step) * self.total))
