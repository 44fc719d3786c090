"""Evaluation: metrics from probabilities, plots, and the per-run report."""
from __future__ import annotations

from pathlib import Path

from .. import runs
from ..errors import ModelSpecError


def run_dataset(predictor, data: str | None = None):
    """The run's data set rebuilt from its saved config (same seed, so the same splits), or ``data`` instead."""
    from ..config import load_config
    from ..datasets import build_dataset
    from ..sources import read_source

    saved = runs.saved_overrides(predictor.folder)
    if data:
        saved["data"] = data
    config = load_config({**saved, "verbose": False, "resume": False})
    dataset = build_dataset(read_source(config, progress=False), config)
    if tuple(dataset.input_shape) != predictor.input_shape:
        raise ModelSpecError(f"{predictor.folder}: the model expects inputs of shape {predictor.input_shape}, "
                             f"the data {config.data} has {tuple(dataset.input_shape)}. Evaluate on data of the "
                             "same shape (image_size=[H, W] resizes image folders).")
    return dataset


def evaluate(run, data: str | None = None, write: bool = True) -> dict:
    """Evaluate a finished run on its test split (rebuilt from its saved config) or on another data set.

    Returns the metrics (a dict that shows its headline figures inline in a notebook); with ``write`` it is saved
    as ``metrics.json`` (same data) or
    ``evaluation-<data>.json`` (other data) in the run folder.
    """
    from ..prediction import Predictor
    from ..runs import Metrics
    from .metrics import score

    predictor = Predictor(run)
    dataset = run_dataset(predictor, data)
    proba = predictor.predict_arrays(dataset.x_test)
    metrics = score(dataset.y_test, proba, dataset.class_names, predictor.threshold, predictor.info.positive)
    if not data and predictor.info.temperature is not None:     # how training calibrated it, kept with the metrics
        metrics["calibration"] = runs.read_metrics(predictor.folder).get("calibration")
    if write:
        runs.write_metrics(predictor.folder, metrics, data)
    return Metrics(metrics)


def rebuild_report(run) -> Path:
    """Re-draw every plot and rewrite ``report.html`` / ``report.md`` of a finished run."""
    from ..prediction import Predictor
    from .report import write_report

    predictor = Predictor(run)
    dataset = run_dataset(predictor)
    return write_report(predictor.folder, predictor.model, dataset, predictor.predict_arrays(dataset.x_test))
