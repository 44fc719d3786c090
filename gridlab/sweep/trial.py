"""One trial of a sweep, run by Ray Tune in a worker process: an ordinary ``gridlab.train`` into
``<sweep>/trials/<trial id>/``, reporting every epoch to Tune.

A trial whose run folder is already complete (a sweep restored after a kill) is not trained again: its saved
history is reported as it was. One whose folder holds a resume point continues from its last completed epoch.
Each attempt appends a line to ``trial.log`` in the run folder.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

TRIAL_LOG = "trial.log"


def _log(folder: Path, text: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / TRIAL_LOG, "a", encoding="utf-8") as fh:
        fh.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {text}\n")


def _reporter():
    import keras
    from ray import tune

    class ReportToTune(keras.callbacks.Callback):
        """Hands each epoch's logs to Ray Tune (its schedulers and searchers decide on them)."""

        def on_epoch_end(self, epoch, logs=None):
            tune.report({**{k: float(v) for k, v in (logs or {}).items()}, "epoch": epoch + 1})

    return ReportToTune()


def run_trial(params: dict, base: dict, folder: str, cpus: int, gpus: float = 0.0) -> None:
    """Ray Tune's function trainable: ``base`` overrides + this trial's ``params``. Ray sets CUDA_VISIBLE_DEVICES
    to the trial's GPU (none when ``gpus`` is 0), so ``device=auto`` trains where Ray placed the trial."""
    # TensorFlow reads its thread counts once, when it starts: each trial gets the CPUs Ray gave it, so trials
    # side by side do not fight over the cores
    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", str(cpus))
    os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")
    if 0 < gpus < 1:      # trials share a GPU: JAX must not take 75% of its memory at start
        os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    from ray import tune

    from .. import runs
    from ..config import load_config
    from ..training.fit import train

    trial_id = tune.get_context().get_trial_id()
    trials = Path(folder) / "trials"
    run_dir = trials / trial_id
    if (run_dir / runs.METRICS).is_file():       # finished before the sweep was interrupted: reuse it
        _log(run_dir, "reused the finished run (the sweep was restored)")
        for row in runs.read_history(run_dir):
            tune.report({k: float(v) for k, v in row.items() if isinstance(v, (int, float))})
        return
    resuming = (run_dir / runs.STATE).is_file()
    _log(run_dir, f"{'resumed' if resuming else 'started'} with {params} in process {os.getpid()}")
    overrides = {**base, **params, "project": str(trials), "name": trial_id, "exist_ok": True, "resume": resuming,
                 "verbose": False, "tracking": "tensorboard" if base.get("tracking") in ("tensorboard", "all")
                 else "none"}     # MLflow is logged from the driver, one place for the sweep's runs
    train(load_config(overrides), callbacks=[_reporter()])
    _log(run_dir, "finished")
