"""A finished (or stopped) sweep's outputs: ``trials.csv``, ``best.yaml`` and ``sweep.html``."""
from __future__ import annotations

import csv
import html
import io
from pathlib import Path

import numpy as np

from .. import runs
from ..files import write_text
from .space import dump_yaml

KEEP_OUT_OF_BEST = {"project", "name", "exist_ok", "resume", "verbose", "preset"}


def _status(result, run_dir: Path, epochs: int) -> str:
    if result.error is not None:
        return "error"
    if (run_dir / runs.METRICS).is_file():
        return "finished"
    return f"stopped after epoch {epochs}" if epochs else "stopped"


def collect(folder: Path, grid, space: dict, metric: str, mode: str) -> list[dict]:
    """One row per trial: its parameters, best ``metric`` over its epochs, status, test accuracy, seconds."""
    rows = []
    for result in grid:
        trial = Path(result.path).name if result.path else ""
        config = result.config or {}
        trial_id = result.metrics.get("trial_id") if result.metrics else None
        run_dir = folder / "trials" / (trial_id or trial)
        history = runs.read_history(run_dir) if (run_dir / runs.HISTORY).is_file() else []
        values = [r[metric] for r in history if isinstance(r.get(metric), (int, float))]
        best = (min(values) if mode == "min" else max(values)) if values else None
        final = runs.read_metrics(run_dir) if (run_dir / runs.METRICS).is_file() else {}
        info = runs.read_info(run_dir) if (run_dir / runs.INFO).is_file() else None
        row = {"trial": trial_id or trial, **{k: config.get(k) for k in space}, metric: best,
               "epochs": len(history), "status": _status(result, run_dir, len(history)),
               "val_accuracy": max((r.get("val_accuracy", 0.0) for r in history), default=None),
               "test_accuracy": final.get("accuracy"),
               "seconds": info.train_seconds if info else (sum(r.get("seconds", 0.0) for r in history) or None),
               "folder": str(run_dir) if run_dir.is_dir() else "",
               "error": str(result.error).splitlines()[0][:200] if result.error is not None else ""}
        rows.append(row)
    rows.sort(key=lambda r: (r[metric] is None, (r[metric] or 0.0) * (1 if mode == "min" else -1)))
    return rows


def write_trials_csv(folder: Path, rows: list, space: dict, metric: str) -> Path:
    keys = ["trial", *space, metric, "status", "epochs", "val_accuracy", "test_accuracy", "seconds", "folder", "error"]
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(keys)
    for r in rows:
        w.writerow(["" if r.get(k) is None else (f"{r[k]:.6g}" if isinstance(r[k], float) else r[k]) for k in keys])
    write_text(folder / "trials.csv", buf.getvalue())
    return folder / "trials.csv"


def write_best(folder: Path, best: dict) -> Path | None:
    """``best.yaml``: the best trial's resolved config, without the keys that name its folder."""
    if not best or not best["folder"]:
        return None
    config = {k: v for k, v in runs.saved_overrides(Path(best["folder"])).items() if k not in KEEP_OUT_OF_BEST}
    text = (f"# the best trial of sweep {folder.name}: {best['trial']} ({best['status']})\n"
            f"# reproduce it with: gridlab train --cfg {folder / 'best.yaml'}\n"
            + dump_yaml(config))
    write_text(folder / "best.yaml", text)
    return folder / "best.yaml"


def write_outputs(folder: Path, rows: list, space: dict, metric: str, mode: str, doc: dict) -> dict | None:
    best = next((r for r in rows if r[metric] is not None), None)
    write_trials_csv(folder, rows, space, metric)
    write_best(folder, best)
    write_page(folder, rows, space, metric, mode, best, doc)
    return best


def _numeric(values) -> tuple[np.ndarray, list | None]:
    """Values as numbers for plotting; categorical ones as their position, with the labels."""
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values if v is not None):
        return np.asarray([np.nan if v is None else float(v) for v in values]), None
    labels = sorted({str(v) for v in values}, key=str)
    return np.asarray([labels.index(str(v)) for v in values], dtype=float), labels


def _figures(folder: Path, rows: list, space: dict, metric: str, best: dict | None) -> list[tuple[str, Path]]:
    from ..evaluation.plots import figure, save_png

    done = [r for r in rows if r[metric] is not None]
    out = []
    if done and space:
        n = len(space)
        fig = figure(figsize=(4.2 * n, 3.4))
        axes = np.atleast_1d(fig.subplots(1, n))
        y = np.asarray([r[metric] for r in done], dtype=float)
        for ax, (key, param) in zip(axes, space.items()):
            x, labels = _numeric([r[key] for r in done])
            colors = ["tab:green" if best is not None and r["trial"] == best["trial"] else
                      ("tab:blue" if r["status"] == "finished" else "tab:gray") for r in done]
            ax.scatter(x, y, c=colors, s=36)
            if param.kind == "loguniform":
                ax.set_xscale("log")
            if labels:
                ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right", fontsize=8)
            ax.set(xlabel=key, ylabel=metric)
            ax.grid(alpha=0.3)
        fig.suptitle(f"{metric} (best epoch) against each parameter; green: best, gray: stopped early", fontsize=10)
        out.append(("Metric against each parameter", save_png(fig, folder / "sweep_parameters.png")))

        keys = list(space) + [metric]
        fig = figure(figsize=(max(6, 1.8 * len(keys)), 3.8))
        ax = fig.subplots()
        scaled = []
        for key in keys:
            v, labels = _numeric([r[key] for r in done])
            lo, hi = np.nanmin(v), np.nanmax(v)
            if key in space and space[key].kind == "loguniform":
                v, lo, hi = np.log10(v), np.log10(lo), np.log10(hi)
            scaled.append((v - lo) / (hi - lo) if hi > lo else np.full_like(v, 0.5))
        scaled = np.stack(scaled, axis=1)
        span = (y.max() - y.min()) or 1.0
        from matplotlib import colormaps

        cmap = colormaps["viridis_r" if "loss" in metric else "viridis"]
        for r, line in zip(done, scaled):
            ax.plot(range(len(keys)), line, color=cmap((r[metric] - y.min()) / span), alpha=0.85,
                    lw=2.5 if best is not None and r["trial"] == best["trial"] else 1.2)
        ax.set_xticks(range(len(keys)), keys)
        ax.set_yticks([0, 1], ["low", "high"])
        ax.set_title("Parallel coordinates (each line a trial; colour: the metric, bright = better)", fontsize=10)
        ax.grid(alpha=0.3, axis="x")
        out.append(("Parallel coordinates", save_png(fig, folder / "sweep_parallel.png")))
    if best is not None and best["folder"] and (Path(best["folder"]) / runs.CURVES).is_file():
        out.append((f"Best trial's curves ({best['trial']})", Path(best["folder"]) / runs.CURVES))
    return out


def write_page(folder: Path, rows: list, space: dict, metric: str, mode: str, best: dict | None, doc: dict) -> Path:
    """``sweep.html``: one self-contained page (images embedded)."""
    from ..display import png_data_uri
    from ..evaluation.report import format_value

    e = html.escape
    keys = ["trial", *space, metric, "status", "epochs", "val_accuracy", "test_accuracy", "seconds"]
    table = ("<table id='trials'><tr>" + "".join(f"<th>{e(k)}</th>" for k in keys) + "</tr>" + "".join(
        "<tr" + (" class='best'" if best is not None and r["trial"] == best["trial"] else "") + ">" + "".join(
            f"<td>{e(format_value(r.get(k)))}</td>" for k in keys) + "</tr>" for r in rows) + "</table>")
    figures = "".join(f"<section><h2>{e(title)}</h2><img alt='{e(title)}' src='{png_data_uri(path)}'></section>"
                      for title, path in _figures(folder, rows, space, metric, best))
    finished = sum(r["status"] == "finished" for r in rows)
    summary = (f"<p>{len(rows)} trial(s): {finished} finished, {sum(r['status'].startswith('stopped') for r in rows)}"
               f" stopped early, {sum(r['status'] == 'error' for r in rows)} failed. Optimising {e(metric)} ({mode}).")
    if best is not None:
        summary += (f" Best: <b>{e(best['trial'])}</b>, {e(metric)} {format_value(best[metric])}, "
                    + ", ".join(f"{e(k)}={e(str(best[k]))}" for k in space)
                    + f". Reproduce it: <code>gridlab train --cfg {e(str(folder / 'best.yaml'))}</code>.")
    summary += "</p>"
    page = ("<!doctype html><html lang='en'><head><meta charset='utf-8'><title>gridlab sweep: "
            f"{e(folder.name)}</title><style>body{{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;"
            "padding:0 1em;color:#222}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;"
            "text-align:right}tr.best{background:#e6f4ea;font-weight:bold}img{max-width:100%}pre{background:#f6f6f6;"
            f"padding:1em}}</style></head><body><h1>gridlab sweep: {e(folder.name)}</h1>{summary}"
            f"<section id='table'><h2>Trials</h2>{table}</section>{figures}"
            f"<section id='space'><h2>Space and settings</h2><pre>{e(dump_yaml(doc))}</pre></section></body></html>")
    write_text(folder / "sweep.html", page)
    return folder / "sweep.html"
