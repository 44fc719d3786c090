"""Comparing finished runs: one table of the main figures and the validation curves overlaid."""
from __future__ import annotations

import html
from pathlib import Path

from .. import runs
from ..display import format_value
from ..files import write_text

COLUMNS = ("accuracy", "balanced_accuracy", "log_loss", "mcc", "roc_auc_macro", "ece")


def compare_rows(run_folders) -> list[dict]:
    """One dict per run: name, data, model, parameters, training seconds, epochs and the main test metrics."""
    rows = []
    for run in run_folders:
        folder = runs.find_run(run)
        info, metrics = runs.read_info(folder), runs.read_metrics(folder)
        rows.append({"run": str(folder), "data": info.data, "model": info.model, "parameters": info.parameters,
                     "train_seconds": info.train_seconds, "epochs": info.epochs_run,
                     **{k: metrics.get(k) for k in COLUMNS}})
    return rows


def compare(run_folders, out: str | Path = "compare.html") -> tuple[list[dict], Path]:
    """Write ``compare.html`` (table + overlaid validation curves, images embedded); return the rows and its path."""
    from ..display import png_data_uri
    from ..files import check_output_file
    from .plots import figure, integer_ticks, save_png

    check_output_file(out, "compare.html")
    check_output_file(Path(out).with_suffix(".png"), "compare.png")
    rows = compare_rows(run_folders)
    fig = figure(figsize=(11, 4))
    axes = fig.subplots(1, 2)
    for row in rows:
        hist = runs.read_history(Path(row["run"]))
        epochs = [int(h["epoch"]) for h in hist]
        label = Path(row["run"]).name
        axes[0].plot(epochs, [h["val_loss"] for h in hist], "o-", label=label)
        axes[1].plot(epochs, [h["val_accuracy"] for h in hist], "o-", label=label)
    for ax, what in zip(axes, ("validation loss", "validation accuracy")):
        ax.set(xlabel="epoch", ylabel=what, title=what.capitalize())
        integer_ticks(ax.xaxis)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    out = Path(out)
    curves = save_png(fig, out.with_suffix(".png"))
    e = html.escape
    keys = list(rows[0]) if rows else []
    table = "<table><tr>" + "".join(f"<th>{e(k)}</th>" for k in keys) + "</tr>" + "".join(
        "<tr>" + "".join(f"<td>{e(format_value(r[k]))}</td>" for k in keys) + "</tr>" for r in rows) + "</table>"
    write_text(out, "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>gridlab compare</title>"
                    "<style>body{font-family:system-ui,sans-serif;margin:2em}td,th{border:1px solid #ccc;"
                    "padding:3px 8px}table{border-collapse:collapse}</style></head><body><h1>gridlab compare</h1>"
                    f"<section id='table'>{table}</section><section id='curves'><img alt='validation curves' "
                    f"src='{png_data_uri(curves)}'></section></body></html>\n")
    return rows, out
