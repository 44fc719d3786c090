"""After the fit: the saved inference model, calibration, the binary threshold, test metrics, the label audit,
``run.json`` and the report (``finish``)."""
from __future__ import annotations

import platform
import sys
import time
from pathlib import Path

import numpy as np

from .. import runs, tracking
from ..config import parse_threshold
from ..datasets import feed


def say(config, message: str) -> None:
    """A notice on stderr, unless ``verbose=false``."""
    if config.verbose:
        print(message, file=sys.stderr, flush=True)


def augmented(config, dataset) -> bool:
    """Training augments this data (``augment=true`` on images; sensor grids are never mirrored)."""
    return bool(config.augment) and dataset.kind == "image"


def _inference_model(config, dataset, model):
    """The model as saved for prediction and export (``models.for_inference``: no augmentation layers, float32, no
    compile state), with the test-time views when ``tta`` asks for them."""
    from ..models import for_inference, with_test_time_views

    model = for_inference(model)
    if config.tta and augmented(config, dataset):
        model = with_test_time_views(model)
        say(config, "test-time views: model.keras averages each image's prediction with its mirror image's and "
                     "both moved one pixel")
    return model


def finish(config, folder: Path, model, dataset, monitor, precision: str, distributed: dict | None = None) -> runs.Run:
    """Save the model as it will predict, choose the binary threshold on the validation split, score the test
    split, write metrics.json and run.json, drop the resume files, and draw the report (or the curves alone)."""
    final = _inference_model(config, dataset, model)
    calibration = _calibrate(config, dataset, final) if config.calibrate else None
    from ..models.io import save_model

    save_model(final, folder / runs.MODEL)      # the checkpoint holds the training model; save the one that predicts
    model = final
    # the saved model's validation probabilities, for the binary threshold and the label audit
    val_proba, ood_metrics = _fit_ood(config, folder, dataset, model)
    if val_proba is None and (dataset.num_classes == 2 or config.audit):
        val_proba = feed.predict(model, dataset.x_val).astype(np.float64)
    positive, threshold = _threshold(config, dataset, val_proba)
    started = time.perf_counter()
    proba = feed.predict(model, dataset.x_test).astype(np.float64)
    predict_seconds = time.perf_counter() - started
    from ..evaluation.metrics import score

    metrics = score(dataset.y_test, proba, dataset.class_names, threshold, positive if positive is not None else 1)
    if ood_metrics:
        metrics["ood"] = ood_metrics
    if calibration:
        calibration.update(ece_after=metrics["ece"], log_loss_after=metrics["log_loss"])
        metrics["calibration"] = calibration
        say(config, f"calibration: temperature {calibration['temperature']:.3f} (fitted on the validation split); "
                     f"test ECE {calibration['ece_before']:.4f} -> {calibration['ece_after']:.4f}, log loss "
                     f"{calibration['log_loss_before']:.4f} -> {calibration['log_loss_after']:.4f}")
    info = _run_info(config, folder, model, dataset, monitor, precision, positive, threshold, predict_seconds,
                     calibration["temperature"] if calibration else None, distributed)
    runs.write_metrics(folder, metrics)
    runs.write_info(folder, info)
    runs.remove_resume_files(folder)
    if config.audit:
        _audit(config, folder, dataset, val_proba)
    if config.report:
        from ..evaluation.report import write_report

        write_report(folder, model=model, dataset=dataset, proba=proba, info=info, metrics=metrics,
                     explain_method=config.explain_method)
    else:
        from ..evaluation.plots import plot_curves

        plot_curves(monitor.rows, folder / runs.CURVES, monitor.best_epoch, config.monitor)
    say(config, f"test: accuracy {metrics['accuracy']:.4f}, balanced accuracy {metrics['balanced_accuracy']:.4f}"
                 + (f", threshold {threshold:.4f} on P({dataset.class_names[positive]})" if threshold is not None
                    else "") + f"  ({len(dataset.y_test):,} examples)")
    if tracking.wants(config, "mlflow"):
        uri = config.tracking_uri or tracking.default_uri(config.project)
        run_id = tracking.log_run(folder, uri, experiment=str(dataset.name))
        say(config, f"MLflow: run {run_id} in experiment {dataset.name!r} at {uri}")
    say(config, f"results: {folder}" + (f"  report: {folder / runs.REPORT}" if config.report else ""))
    return runs.Run(folder, metrics, info)


def _audit(config, folder: Path, dataset, val_proba) -> None:
    """Rank the validation split's labels by how likely they are wrong (``suspects.csv``; evaluation.audit)."""
    from ..evaluation.audit import audit_validation

    result = audit_validation(folder, dataset, val_proba)
    say(config, f"label audit: {len(result.rows):,} suspect label(s) among {result.examples:,} validation examples "
                 f"-> {folder / runs.SUSPECTS}")


OOD_EVAL = 2000    # test examples, and examples per probe set, in the report's OOD table


def _fit_ood(config, folder: Path, dataset, model) -> tuple[np.ndarray | None, dict | None]:
    """Fit the out-of-distribution score (``prediction.ood``) on the training split's features, its threshold on the
    validation split, and write ``ood.npz``; measure every method against the probe sets (``ood.png`` and the
    metrics' ``ood`` table). Returns the validation probabilities it computed on the way, and that table (None, None
    with ``ood=none``)."""
    from ..prediction import ood

    method = ood.resolve(config.ood)
    if method is None:
        return None, None
    stages = ood.model_stages(model)
    scoring, last = ood.feature_model(model, stages)
    rng = np.random.default_rng(config.seed)
    pick = np.sort(rng.choice(len(dataset.y_train), min(ood.FIT_MAX, len(dataset.y_train)), replace=False))
    _, h_train = feed.predict(scoring, dataset.x_train[pick])
    val_proba, h_val = feed.predict(scoring, dataset.x_val)
    w, b = last.get_weights()
    detector = ood.fit(method, h_train, dataset.y_train[pick], h_val, w, b, config.ood_pass_rate, config.seed,
                       stages)
    runs.write_ood(folder, detector.arrays())
    # every method against the probe sets, the test split as the in-distribution side (a sample: the report's table);
    # each probe set as large as that sample, so a small data set costs little here
    test = np.sort(rng.choice(len(dataset.y_test), min(OOD_EVAL, len(dataset.y_test)), replace=False))
    _, h_in = feed.predict(scoring, dataset.x_test[test])
    h_probes = {name: feed.predict(scoring, x)[1]
                for name, x in ood.probes(dataset.x_val, dataset.kind, len(test), config.seed).items()}
    found = ood.evaluate(h_train, dataset.y_train[pick], h_val, h_in, h_probes, w, b, config.ood_pass_rate,
                         config.seed, fitted=detector)
    from ..evaluation.plots import plot_ood

    plot_ood(found["scores"][method], method, folder / runs.OOD_PLOT)
    flagged = float(np.mean(detector.flag(detector.score(h_in))))
    worst = min(v[method]["auroc"] for v in found["table"].values())
    say(config, f"out-of-distribution: {method} score; threshold {detector.threshold:.4g} lets "
                f"{config.ood_pass_rate:.0%} of the validation split pass; test split flagged {flagged:.1%}; probe "
                f"sets' AUROC {worst:.3f} at worst ({len(h_probes)} sets)")
    return np.asarray(val_proba, np.float64), {"method": method, "threshold": detector.threshold,
                                               "pass_rate": config.ood_pass_rate, "test_flagged": flagged,
                                               "probes": found["table"]}


MIN_CALIBRATION_EXAMPLES = 100   # below this a validation split all predicted right drives the temperature to its bound


def _calibrate(config, dataset, model) -> dict | None:
    """Fit a temperature on the validation split and fold it into ``model`` (Guo et al. 2017). Returns the test
    split's figures before it: ECE, log loss and the reliability bins (the report draws both curves); None, with a
    notice, when the validation split is too small to fit one."""
    if len(dataset.y_val) < MIN_CALIBRATION_EXAMPLES:
        say(config, f"notice: calibration skipped: the validation split has {len(dataset.y_val):,} examples, too "
                     f"few to fit a temperature (at least {MIN_CALIBRATION_EXAMPLES}); raise val_split or add data.")
        return None
    from ..evaluation.metrics import calibration, fit_temperature, log_loss, temper
    from ..models import temperature as temperature_scaling

    t = fit_temperature(dataset.y_val, temperature_scaling.views(model, dataset.x_val))
    before = temper(temperature_scaling.views(model, dataset.x_test), 1.0)
    bins = calibration(dataset.y_test, before)
    temperature_scaling.set_temperature(model, t)
    return {"temperature": round(t, 6), "fitted_on": f"validation split ({len(dataset.y_val):,} examples)",
            "ece_before": bins["ece"], "log_loss_before": log_loss(dataset.y_test, before),
            "reliability_before": {k: np.asarray(bins[k]).tolist() for k in ("edges", "count", "accuracy",
                                                                             "confidence")}}


def _threshold(config, dataset, val_proba) -> tuple[int | None, float | None]:
    """Binary tasks: the positive class (the minority) and its decision threshold, chosen on the validation split
    by the config's rule. (None, None) otherwise."""
    if dataset.num_classes != 2:
        return None, None
    from ..evaluation.metrics import choose_threshold

    counts = np.bincount(dataset.y_train, minlength=2)
    positive = int(np.argmin(counts)) if counts[0] != counts[1] else 1
    return positive, choose_threshold(dataset.y_val == positive, val_proba[:, positive],
                                      parse_threshold(config.threshold))


def _run_info(config, folder, model, dataset, monitor, precision, positive, threshold, predict_seconds,
              temperature, distributed=None):
    import keras

    from ..version import __version__

    return runs.RunInfo(
        name=folder.name, data=dataset.name, origin=dataset.origin, kind=dataset.kind,
        class_names=dataset.class_names, input_shape=list(dataset.input_shape),
        input_dtype=str(dataset.x_train.dtype), reader=dataset.reader, scaling=dataset.scaling,
        model=str(config.model), parameters=int(model.count_params()), precision=precision, threshold=threshold,
        threshold_rule=config.threshold if threshold is not None else None, positive_class=positive,
        counts=dataset.counts(), test_origin=dataset.test_origin, skipped_files=len(dataset.skipped),
        epochs_run=len(monitor.rows), best_epoch=monitor.best_epoch, monitor=config.monitor,
        stop_reason=monitor.stop_reason, train_seconds=round(monitor.seconds, 2),
        compile_seconds=compile_seconds(monitor.rows),
        test_predict_seconds=round(predict_seconds, 3), temperature=temperature, distributed=distributed,
        versions={"gridlab": __version__, "keras": keras.__version__, "backend": keras.backend.backend(),
                  "python": platform.python_version()})


def compile_seconds(rows: list[dict]) -> float | None:
    """How much longer the first epoch took than a steady one (the median of the others): the time spent tracing
    and compiling, reported apart from training. None with fewer than two epochs.

    >>> compile_seconds([{"seconds": 9.0}, {"seconds": 5.0}, {"seconds": 5.2}])
    3.8
    """
    times = [r["seconds"] for r in rows if "seconds" in r]
    if len(times) < 2:
        return None
    later = sorted(times[1:])
    return round(max(0.0, times[0] - later[len(later) // 2]), 2)

