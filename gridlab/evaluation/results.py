"""What the Python API hands back: a finished ``Run`` and its ``Metrics``, each showing itself inline in a notebook
(``_repr_html_``: headline metrics, the training curves, the confusion matrix, a link to the report) and as one
line in a terminal.

>>> run = gridlab.load_run("runs/fashion-mnist-fast")      # doctest: +SKIP
>>> run                                                     # in Jupyter: the card with curves and confusion matrix
"""
from __future__ import annotations

import html
from pathlib import Path

from .. import runs

HEADLINE = (("accuracy", "accuracy"), ("balanced_accuracy", "balanced accuracy"), ("log_loss", "log loss"),
            ("ece", "ECE"), ("roc_auc_macro", "ROC-AUC (macro)"), ("examples", "test examples"))
STYLE = ("font-family:system-ui,sans-serif;border:1px solid #ddd;border-radius:6px;padding:10px 14px;"
         "max-width:900px")


def _metrics_table(metrics: dict) -> str:
    from .report import format_value

    cells = "".join(f"<tr><th style='text-align:left;padding-right:12px'>{label}</th>"
                    f"<td style='text-align:right'>{format_value(metrics[key])}</td></tr>"
                    for key, label in HEADLINE if key in metrics)
    calibration = metrics.get("calibration")
    if calibration:
        cells += (f"<tr><th style='text-align:left;padding-right:12px'>calibration</th><td style='text-align:right'>"
                  f"T {calibration['temperature']:.3f}, ECE {calibration['ece_before']:.4f} -&gt; "
                  f"{calibration['ece_after']:.4f}</td></tr>")
    return f"<table>{cells}</table>"


def _image(path: Path, alt: str, width: int) -> str:
    from .plots import png_data_uri

    return f"<img alt='{alt}' style='width:{width}px;margin:4px' src='{png_data_uri(path)}'>" if path.is_file() else ""


class Metrics(dict):
    """Test metrics (a plain dict, as written to metrics.json) that show their headline figures inline."""

    def _repr_html_(self) -> str:
        return f"<div style='{STYLE}'><b>gridlab metrics</b>{_metrics_table(self)}</div>"


class Run:
    """A finished run folder: ``info`` is its ``runs.RunInfo``, ``metrics`` the test metrics."""

    def __init__(self, folder: Path, metrics: dict, info: runs.RunInfo):
        self.folder, self.metrics, self.info = Path(folder), Metrics(metrics), info

    def __repr__(self):
        return f"Run({str(self.folder)!r}, accuracy={self.metrics.get('accuracy', float('nan')):.4f})"

    def _repr_html_(self) -> str:
        e = html.escape
        info = self.info
        report = self.folder / "report.html"
        link = (f"<a href='{e(report.resolve().as_uri())}' target='_blank'>report.html</a>" if report.is_file()
                else "no report (report=false; <code>gridlab report</code> writes one)")
        return (f"<div style='{STYLE}'><b>gridlab run {e(info.name)}</b>: {e(info.model)} on {e(info.data)}, "
                f"{info.parameters:,} parameters, {info.epochs_run} epochs in {info.train_seconds:.1f} s "
                f"({e(info.precision)}); {link}<br><code>{e(str(self.folder))}</code>"
                f"{_metrics_table(self.metrics)}"
                f"{_image(self.folder / 'curves.png', 'training curves', 520)}"
                f"{_image(self.folder / 'confusion.png', 'confusion matrix', 340)}</div>")


def load_run(run) -> Run:
    """A finished run folder (or a name under ``runs/``) as a ``Run``."""
    folder = runs.find_run(run)
    return Run(folder, runs.read_metrics(folder), runs.read_info(folder))
