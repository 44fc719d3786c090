"""One report per run: ``report.html`` (a single file, images embedded, opens offline) and ``report.md`` beside
the PNG files for reading in a repository."""
from __future__ import annotations

import html
from pathlib import Path

import numpy as np

from .. import runs
from ..display import format_value, png_data_uri
from ..files import write_text
from . import plots
from .metrics import calibration

SECTIONS = ("summary", "metrics", "per-class", "curves", "samples", "confusion", "roc-pr", "calibration",
            "mistakes", "saliency", "prediction", "suspects", "ood", "model", "data", "config")
SALIENCY_PER_CLASS = 16      # correct test examples per class averaged in "what each class looks at"
GALLERY = 24                 # suspects drawn in the report (suspects.csv lists them all)


def saliency_maps(model, dataset, proba, method: str):
    """The report's saliency: maps of the mistakes the gallery shows (for the wrong class) and of up to
    ``SALIENCY_PER_CLASS`` correct test examples per class. Returns (method used, {test position: map}, the
    correct positions) or None with ``method=none``."""
    from ..errors import ConfigError
    from ..prediction.saliency import choose_method, explain

    if method == "none":
        return None
    try:
        method = choose_method(model, method)
    except ConfigError:                 # gradcam asked of a model without convolutions: the method that fits any
        method = "occlusion"
    y, pred = dataset.y_test, proba.argmax(axis=1)
    wrong = [int(i) for _, _, idx in plots.mistake_cells(y, proba) for i in idx]
    right = [int(i) for c in range(dataset.num_classes)
             for i in np.flatnonzero((y == c) & (pred == c))[:SALIENCY_PER_CLASS]]
    where = np.asarray(wrong + right, dtype=np.int64)
    if not len(where):
        return method, {}, []
    s = explain(model, dataset.x_test[where], pred[where], method, steps=16)
    return method, {int(i): m for i, m in zip(where, s.maps)}, right


def _figures(folder: Path, info, metrics: dict, model, dataset, proba, explain_method="auto",
             suspects=None) -> list[tuple[str, str, Path]]:
    """Draw every plot; returns (section id, title, path)."""
    from .explain import plot_class_saliency, plot_suspects

    y, x = dataset.y_test, dataset.x_test
    units = "°C" if dataset.kind == "grid" else ""
    saliency = saliency_maps(model, dataset, proba, explain_method)
    method, maps, right = saliency or ("", None, [])
    out = [("curves", "Training curves", plots.plot_curves(runs.read_history(folder), folder / runs.CURVES,
                                                           info.best_epoch, info.monitor)),
           ("samples", "Sample examples", plots.plot_samples(dataset.x_train, dataset.y_train, dataset.class_names,
                                                             dataset.kind, folder / "samples.png", units=units)),
           ("confusion", "Confusion matrix", plots.plot_confusion(metrics["confusion"], dataset.class_names,
                                                                  folder / runs.CONFUSION)),
           ("roc-pr", "ROC and precision-recall", plots.plot_roc_pr(y, proba, dataset.class_names,
                                                                   folder / "roc_pr.png")),
           ("calibration", "Calibration", plots.plot_reliability(calibration(y, proba), folder / "reliability.png",
                                                                      metrics.get("calibration"))),
           ("mistakes", "Most confident mistakes", plots.plot_mistakes(x, y, proba, dataset.class_names,
                                                                      dataset.kind, folder / "mistakes.png",
                                                                      maps=maps, method=method))]
    if saliency is not None:
        out.append(("saliency", "What each class looks at", plot_class_saliency(
            x[right], y[right], np.stack([maps[i] for i in right]) if right else np.zeros((0, *x.shape[1:3])),
            dataset.class_names, dataset.kind, folder / "saliency.png", method)))
    i = 0
    out.append(("prediction", "One prediction", plots.plot_prediction(
        x[i], proba[i], dataset.class_names, dataset.kind, folder / "prediction.png", true=int(y[i]), units=units,
        threshold=info.threshold)))
    if suspects is not None:
        from .audit import suspect_images

        shown = suspects[:GALLERY]
        out.append(("suspects", "Suspect labels", plot_suspects(suspect_images(dataset, shown), shown, dataset.kind,
                                                                 folder / "suspects.png")))
    if (folder / runs.OOD_PLOT).is_file() and metrics.get("ood"):     # drawn when the score was fitted
        out.append(("ood", "Out-of-distribution inputs", folder / runs.OOD_PLOT))
    out.append(("model", "Model", plots.plot_model(model, folder / "model.png")))
    return out


def _ood_table(ood: dict) -> str:
    """AUROC and FPR at the pass rate, per probe set and method (the run's own method first)."""
    e = html.escape
    methods = [ood["method"], *[m for m in next(iter(ood["probes"].values())) if m != ood["method"]]]
    head = "".join(f"<th>{e(m)} AUROC</th><th>{e(m)} FPR</th>" for m in methods)
    rows = "".join(f"<tr><td>{e(p)}</td>" + "".join(f"<td>{v[m]['auroc']:.4f}</td><td>{v[m]['fpr']:.4f}</td>"
                                                     for m in methods) + "</tr>" for p, v in ood["probes"].items())
    return (f"<p>Score: <b>{e(ood['method'])}</b>; threshold {ood['threshold']:.4g} lets {ood['pass_rate']:.0%} of "
            f"the validation split pass; {ood['test_flagged']:.1%} of the test split is flagged. AUROC: test split "
            f"against each probe set (1 = always told apart); FPR: the share of a probe set that passes the "
            f"threshold.</p><table><tr><th>probe set</th>{head}</tr>{rows}</table>")


def write_report(folder, model, dataset, proba, info: runs.RunInfo | None = None,
                 metrics: dict | None = None, explain_method: str | None = None) -> Path:
    """Write every plot and both report files for a finished run; returns the path of ``report.html``. ``info``
    and ``metrics`` are read from the run folder unless given (training hands over what it has just written);
    the saliency method is the run's ``explain_method`` unless given; the suspects gallery is drawn from the run's
    ``suspects.csv`` when there is one."""
    from .audit import read_suspects

    folder = Path(folder)
    info = info or runs.read_info(folder)
    metrics = metrics or runs.read_metrics(folder)
    if explain_method is None:
        explain_method = runs.saved_overrides(folder).get("explain_method", "auto")
    suspects = read_suspects(folder)
    figures = _figures(folder, info, metrics, model, dataset, proba, explain_method, suspects)
    config = runs.config_text(folder)
    write_text(folder / runs.REPORT, _html(info, metrics, figures, dataset, config, suspects))
    write_text(folder / runs.REPORT_MD, _markdown(info, metrics, figures, dataset))
    return folder / runs.REPORT


def _summary_rows(info) -> list[tuple[str, str]]:
    rows = [("data", f"{info.data} ({info.origin})"), ("kind", info.kind),
            ("input", f"{tuple(info.input_shape)} {info.input_dtype}, scaling {info.scaling['kind']}"),
            ("classes", ", ".join(info.class_names)),
            ("model", f"{info.model}, {info.parameters:,} parameters, {info.precision}"),
            ("epochs", f"{info.epochs_run} (best {info.best_epoch}, by {info.monitor})"),
            ("training time", f"{info.train_seconds:.1f} s"), ("stopped", info.stop_reason or "all epochs"),
            ("test split", info.test_origin)]
    if info.temperature is not None:
        rows.append(("calibration", f"temperature {info.temperature:.3f}, fitted on the validation split and folded "
                                    "into the output layer"))
    if info.threshold is not None:
        rows.append(("decision threshold", f"{info.threshold:.4f} on P({info.class_names[info.positive]}), chosen "
                                           f"by rule {info.threshold_rule} on the validation split"))
    return rows


_MAIN = ("accuracy", "balanced_accuracy", "top5_accuracy", "top1_accuracy", "log_loss", "mcc", "roc_auc_macro",
         "pr_auc_macro", "ece", "examples")


def _suspects_table(suspects) -> str:
    """The gallery's rows as a table: where each example is (a file path to open, or its index), the labels."""
    e = html.escape
    if not suspects:
        return ""
    return ("<p>" + f"{len(suspects):,} suspect label(s); all of them are in <code>suspects.csv</code>. The "
            f"{min(GALLERY, len(suspects))} most suspect:</p><table><tr><th>rank</th><th>example</th><th>given</th>"
            "<th>suggested</th><th>P(given)</th><th>score</th></tr>" + "".join(
                f"<tr><td>{r['rank']}</td><td>{e(r['example'])}</td><td>{e(r['given'])}</td>"
                f"<td>{e(r['suggested'])}</td><td>{r['given_probability']:.3f}</td><td>{r['score']:.3f}</td></tr>"
                for r in suspects[:GALLERY]) + "</table>")


def _html(info, metrics, figures, dataset, config, suspects=None) -> str:
    e = html.escape
    parts = [f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>gridlab report: {e(info.name)}"
             "</title><style>body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;"
             "color:#222}table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:3px 8px;"
             "text-align:right}td:first-child,th:first-child,#summary td{text-align:left}"
             "img{max-width:100%;border:1px solid #eee}section{margin-bottom:2em}"
             "pre{background:#f6f6f6;padding:1em;overflow:auto}</style></head><body>",
             f"<h1>gridlab report: {e(info.name)}</h1>"]
    parts.append("<section id='summary'><h2>Summary</h2><table>" + "".join(
        f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in _summary_rows(info)) + "</table></section>")
    parts.append("<section id='metrics'><h2>Test metrics</h2><table>" + "".join(
        f"<tr><th>{e(k)}</th><td>{format_value(metrics[k])}</td></tr>" for k in _MAIN if k in metrics) + "</table>"
        + ("<p>At argmax instead of the threshold: " + ", ".join(
            f"{k} {format_value(v)}" for k, v in metrics["at_argmax"].items()) + "</p>"
           if "at_argmax" in metrics else "")
        + "</section>")
    pc = metrics["per_class"]
    parts.append("<section id='per-class'><h2>Per class</h2><table><tr><th>class</th><th>precision</th><th>recall"
                 "</th><th>F1</th><th>support</th><th>ROC-AUC</th><th>PR-AUC</th></tr>" + "".join(
                     f"<tr><td>{e(n)}</td>" + "".join(f"<td>{format_value(v[k])}</td>" for k in (
                         "precision", "recall", "f1", "support", "roc_auc", "pr_auc")) + "</tr>"
                     for n, v in pc.items()) + "</table></section>")
    for sid, title, path in figures:
        parts.append(f"<section id='{sid}'><h2>{e(title)}</h2><img alt='{e(title)}' "
                     f"src='{png_data_uri(path)}'>" + (_suspects_table(suspects) if sid == "suspects" else "")
                     + (_ood_table(metrics["ood"]) if sid == "ood" else "")
                     + "</section>")
    counts = info.counts
    parts.append("<section id='data'><h2>Data</h2><table><tr><th>class</th><th>train</th><th>val</th><th>test</th>"
                 "</tr>" + "".join(f"<tr><td>{e(n)}</td><td>{counts['train'][i]}</td><td>{counts['val'][i]}</td>"
                                   f"<td>{counts['test'][i]}</td></tr>" for i, n in enumerate(info.class_names))
                 + "</table>" + (f"<p>{len(dataset.skipped)} file(s) left out:</p><ul>" + "".join(
                     f"<li>{e(str(r))}</li>" for _, r in dataset.skipped[:200]) + "</ul>"
                     if dataset.skipped else "<p>No files were left out.</p>") + "</section>")
    parts.append(f"<section id='config'><h2>Configuration</h2><pre>{e(config)}</pre></section></body></html>")
    return "\n".join(parts)


def _markdown(info, metrics, figures, dataset) -> str:
    lines = [f"# gridlab report: {info.name}", "", "| | |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in _summary_rows(info)]
    lines += ["", "## Test metrics", "", "| metric | value |", "|---|---|"]
    lines += [f"| {k} | {format_value(metrics[k])} |" for k in _MAIN if k in metrics]
    lines += ["", "## Per class", "", "| class | precision | recall | F1 | support |", "|---|---|---|---|---|"]
    lines += [f"| {n} | {v['precision']:.4f} | {v['recall']:.4f} | {v['f1']:.4f} | {v['support']} |"
              for n, v in metrics["per_class"].items()]
    for _, title, path in figures:
        lines += ["", f"## {title}", "", f"![{title}]({Path(path).name})"]
    if dataset.skipped:
        lines += ["", f"{len(dataset.skipped)} file(s) left out: see data_report.csv."]
    return "\n".join(lines) + "\n"
