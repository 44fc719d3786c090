"""Comparing finished runs: one table of the main figures and the validation curves overlaid."""
from __future__ import annotations

import base64
import html
import json
from pathlib import Path

from ..files import write_text
from ..training.run_dir import find_run, read_run

COLUMNS = ("accuracy", "balanced_accuracy", "log_loss", "mcc", "roc_auc_macro", "ece")


def compare_rows(runs) -> list[dict]:
    """One dict per run: name, data, model, parameters, training seconds, epochs and the main test metrics."""
    rows = []
    for run in runs:
        folder = find_run(run)
        info = read_run(folder)
        metrics = json.loads((folder / "metrics.json").read_text())
        rows.append({"run": str(folder), "data": info["data"], "model": info["model"],
                     "parameters": info["parameters"], "train_seconds": info["train_seconds"],
                     "epochs": info["epochs_run"], **{k: metrics.get(k) for k in COLUMNS}})
    return rows


def compare(runs, out: str | Path = "compare.html") -> tuple[list[dict], Path]:
    """Write ``compare.html`` (table + overlaid validation curves, images embedded); return the rows and its path."""
    import csv

    from .plots import _plt, _save

    rows = compare_rows(runs)
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for row in rows:
        with open(Path(row["run"]) / "history.csv", newline="") as fh:
            hist = list(csv.DictReader(fh))
        epochs = [int(h["epoch"]) for h in hist]
        label = Path(row["run"]).name
        axes[0].plot(epochs, [float(h["val_loss"]) for h in hist], "o-", label=label)
        axes[1].plot(epochs, [float(h["val_accuracy"]) for h in hist], "o-", label=label)
    for ax, what in zip(axes, ("validation loss", "validation accuracy")):
        ax.set(xlabel="epoch", ylabel=what, title=what.capitalize())
        ax.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    out = Path(out)
    curves = _save(fig, out.with_suffix(".png"))
    e = html.escape
    keys = list(rows[0]) if rows else []
    table = "<table><tr>" + "".join(f"<th>{e(k)}</th>" for k in keys) + "</tr>" + "".join(
        "<tr>" + "".join(f"<td>{e(_fmt(r[k]))}</td>" for k in keys) + "</tr>" for r in rows) + "</table>"
    image = base64.b64encode(curves.read_bytes()).decode()
    write_text(out, "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>gridlab compare</title>"
                    "<style>body{font-family:system-ui,sans-serif;margin:2em}td,th{border:1px solid #ccc;"
                    "padding:3px 8px}table{border-collapse:collapse}</style></head><body><h1>gridlab compare</h1>"
                    f"<section id='table'>{table}</section><section id='curves'><img alt='validation curves' "
                    f"src='data:image/png;base64,{image}'></section></body></html>\n")
    return rows, out


def _fmt(v) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.4f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)
