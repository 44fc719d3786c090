"""scikit-learn's logistic regression as a gridlab model: the linear baseline next to the networks (seed 003).

It is fitted by scikit-learn on exactly the features the Keras model sees (the data's scaling, then the pixels
flattened), and its weights are placed in the equivalent Keras model, ``seed003_linear`` (Dense(softmax) on the
flattened input). From there it is an ordinary run: the same splits, run folder, metrics, calibration, report,
prediction, export and serving.
"""
from __future__ import annotations

import time
import types

import numpy as np


def fit_logistic(config, dataset, weights: dict | None):
    """Fit the regression and return ``(keras model, record)``; ``record`` has the attributes training reports
    (``rows`` with one history row, ``best_epoch``, ``seconds``, ``stop_reason``, ``nan_at``)."""
    import warnings

    import keras
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    from ..evaluation.metrics import log_loss
    from ..models import build_model

    dtype = "uint8" if dataset.x_train.dtype == np.uint8 else "float32"
    model = build_model("seed003_linear", dataset.input_shape, dataset.num_classes, dataset.scaling, dtype)
    features = keras.Model(model.inputs, model.layers[-2].output)        # scaling + flatten, as the model does

    def feats(x):
        return np.asarray(features.predict(x, batch_size=4096, verbose=0), dtype=np.float64)

    started = time.perf_counter()
    x_train = feats(dataset.x_train)
    clf = LogisticRegression(max_iter=max(100, 10 * config.epochs), random_state=config.seed,
                             class_weight=weights)
    with warnings.catch_warnings():       # not converging is reported in the run's stop reason instead
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(x_train, dataset.y_train)
    kernel = np.zeros((x_train.shape[1], dataset.num_classes), np.float32)
    bias = np.full(dataset.num_classes, -30.0, np.float32)        # a class absent from training is never chosen
    coef, intercept = clf.coef_, clf.intercept_
    if len(clf.classes_) == 2:                                    # binary: one logit; softmax over [0, logit]
        coef, intercept = np.vstack([np.zeros_like(coef), coef]), np.r_[0.0, intercept]
    kernel[:, clf.classes_] = coef.T
    bias[clf.classes_] = intercept
    model.layers[-1].set_weights([kernel, bias])
    seconds = time.perf_counter() - started

    def figures(x, y):
        proba = model.predict(x, batch_size=4096, verbose=0).astype(np.float64)
        return log_loss(y, proba), float(np.mean(proba.argmax(1) == y))

    (loss, acc), (val_loss, val_acc) = figures(dataset.x_train, dataset.y_train), figures(dataset.x_val,
                                                                                         dataset.y_val)
    row = {"epoch": 1, "accuracy": acc, "loss": loss, "val_accuracy": val_acc, "val_loss": val_loss,
           "seconds": round(seconds, 3), "iterations": int(np.max(clf.n_iter_))}
    record = types.SimpleNamespace(rows=[row], best_epoch=1, seconds=seconds, nan_at=None,
                                   stop_reason=f"scikit-learn converged in {row['iterations']} iterations"
                                   if row["iterations"] < clf.max_iter else
                                   f"scikit-learn stopped at max_iter={clf.max_iter}")
    return model, record
