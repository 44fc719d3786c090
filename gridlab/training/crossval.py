"""Out-of-sample probabilities by k-fold cross-validation, and ``audit``: a finished run's suspect labels.

It trains, so it lives with training; the confident-learning ranking itself is ``evaluation.audit``.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from .. import runs
from ..config import check_count
from ..evaluation.audit import Audit, audit_rows, audit_validation, write_suspects


def kfold_probabilities(overrides: dict, dataset, folds: int,
                        progress=print) -> tuple[np.ndarray, np.ndarray, np.ndarray, list]:
    """Out-of-sample probabilities for every training and validation example: ``folds`` models, each trained with
    the config ``overrides`` (a run's saved config) on the other folds (its own validation split taken from them
    as usual; calibrated as the run was, without the report, audit and OOD score nobody reads) and predicting its
    fold.
    Returns (positions, labels, probabilities, fold names)."""
    from ..config import load_config
    from ..datasets import stratified_split
    from ..prediction import Predictor
    from .fit import train

    x = np.concatenate([dataset.x_train, dataset.x_val])
    y = np.concatenate([dataset.y_train, dataset.y_val])
    positions = np.concatenate([dataset.train_index, dataset.val_index])
    fold_of = np.zeros(len(y), np.int64)
    rest = np.arange(len(y))
    for k in range(folds - 1):      # stratified folds: each takes 1/(folds-k) of what is left of every class
        keep, held = stratified_split(y[rest], 1.0 / (folds - k), int(overrides.get("seed", 0)) + 10 + k)
        fold_of[rest[held]] = k
        rest = rest[keep]
    fold_of[rest] = folds - 1
    proba = np.zeros((len(y), dataset.num_classes))
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(folds):
            inside, out = np.flatnonzero(fold_of != k), np.flatnonzero(fold_of == k)
            data = Path(tmp) / f"fold{k}.npz"
            np.savez(data, x=x[inside], y=y[inside], x_test=x[out], y_test=y[out],
                     class_names=np.asarray(dataset.class_names))
            progress(f"audit: fold {k + 1}/{folds}: training on {len(inside):,} examples, predicting {len(out):,}")
            run = train(load_config({**overrides, "data": str(data), "project": tmp, "name": f"fold{k}",
                                     "report": False, "audit": False, "ood": "none", "resume": False,
                                     "limit": None, "verbose": False, "exist_ok": True}))
            proba[out] = Predictor(run.folder).predict_arrays(x[out])
    return positions, y, proba, [f"fold {k + 1}" for k in fold_of.tolist()]


def audit(run, folds: int | None = None, progress=print) -> Audit:
    """Rank a finished run's suspect labels and write ``suspects.csv`` (and the report's gallery). Without
    ``folds`` the validation split is audited with the run's model; with ``folds=k`` every training and
    validation example, by k-fold cross-validation with the run's config."""
    from ..evaluation import run_dataset
    from ..prediction import Predictor

    if folds is not None:         # 0 too: not taken for "no folds"
        folds = check_count("folds", folds, 2, "Leave it out to audit the validation split with the run's model.")
    predictor = Predictor(run)
    dataset = run_dataset(predictor)
    if folds:
        saved = runs.saved_overrides(predictor.folder)
        positions, y, proba, splits = kfold_probabilities(saved, dataset, folds, progress)
        rows, t = audit_rows(dataset, positions, y, proba, splits)
        result = Audit(rows, len(y), f"{folds}-fold cross-validation", t.tolist())
        result.suspects = write_suspects(predictor.folder, result.rows)
    else:
        result = audit_validation(predictor.folder, dataset, predictor.predict_arrays(dataset.x_val))
    if (predictor.folder / runs.REPORT).is_file():
        from ..evaluation import rebuild_report

        result.report = rebuild_report(predictor.folder)
    return result
