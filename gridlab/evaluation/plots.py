"""Plots, one function each, written as PNG (atomically). Images are drawn in grayscale (or colour); sensor grids as
heatmaps with a colour bar in their own units.

Every figure is a ``matplotlib.figure.Figure`` made without pyplot, so drawing a plot never switches the caller's
matplotlib backend (a notebook's inline plots keep working) and leaves no figure open."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from ..files import write_bytes


def figure(**kwargs):
    """A new matplotlib ``Figure`` outside pyplot (``figsize=...`` and the like)."""
    from matplotlib.figure import Figure

    return Figure(**kwargs)


def save_png(fig, path: Path) -> Path:
    """Write ``fig`` as a PNG at ``path`` (atomically), cropped to what it draws, and return the path. The crop is
    measured once and handed to savefig: ``bbox_inches="tight"`` draws the whole figure an extra time to find it
    (the same pixels; docs/benchmarks.md, "report")."""
    from matplotlib import rcParams
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    box = fig.get_tightbbox(FigureCanvasAgg(fig).get_renderer())
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches=box.padded(rcParams["savefig.pad_inches"]))
    write_bytes(path, buf.getvalue())
    return Path(path)


def message_png(text: str, path: Path, width: float = 6) -> Path:
    """A one-line figure saying why there is nothing to draw (no mistakes, no suspects)."""
    fig = figure(figsize=(width, 1))
    ax = fig.subplots()
    ax.axis("off")
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=9)
    return save_png(fig, path)


def integer_ticks(axis) -> None:
    from matplotlib.ticker import MaxNLocator

    axis.set_major_locator(MaxNLocator(integer=True))


def show(ax, x: np.ndarray, kind: str, units: str = "", colorbar: bool = False, limits=None, extent=None):
    """Draw one example: an image in gray (or RGB), a sensor grid as an 'inferno' heatmap (on ``limits`` when
    several share one colour scale). With ``extent`` it is drawn into that cell of a ``Gallery``'s Axes (which has
    no ticks). Returns the image artist."""
    img = x[..., 0] if x.shape[-1] == 1 else x
    if kind == "grid":
        im = ax.imshow(img, cmap="inferno", vmin=limits[0] if limits else None, vmax=limits[1] if limits else None,
                       extent=extent)
        if colorbar:
            ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label=units)
    else:
        im = ax.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=255, extent=extent)
    if extent is None:
        ax.set_xticks([])
        ax.set_yticks([])
    else:                                 # the frame an Axes of its own would have
        left, right, bottom, top = extent
        ax.add_patch(_rectangle((left, top), right - left, bottom - top, fill=False, lw=0.6, ec="0.2"))
    return im


CONTOURS = (0.5, 0.75)


def overlay(ax, x: np.ndarray, saliency: np.ndarray, kind: str, limits=None, extent=None):
    """Draw ``x`` with a saliency map (H, W) in [0, 1] on top: a translucent heat layer on images (transparent
    where the map is low), contour lines on sensor grids (their temperature colours stay readable). ``extent`` as
    in ``show``."""
    show(ax, x, kind, limits=limits, extent=extent)
    if kind == "grid":
        centres = ()
        if extent is not None:            # the pixels' centres in the cell, where imshow draws them
            left, _, _, top = extent
            centres = (left + 0.5 + np.arange(saliency.shape[1]), top + 0.5 + np.arange(saliency.shape[0]))
        ax.contour(*centres, saliency, levels=CONTOURS, colors=("#7fdbff", "white"), linewidths=(0.8, 1.2))
    else:
        ax.imshow(saliency, cmap="jet", vmin=0, vmax=1, alpha=np.clip(saliency, 0, 1) * 0.6,
                  interpolation="bilinear", extent=extent)


def gallery_shape(n: int, columns: int) -> tuple[int, int]:
    """(rows, columns) of a gallery of ``n`` images at most ``columns`` wide, filled row by row."""
    cols = max(1, min(columns, n))
    return -(-n // cols), cols


class Gallery:
    """A grid of small images (rows x cols cells, each with room for a title above it) drawn into one Axes without
    ticks: an Axes per image made a report's galleries about 3x slower to draw (docs/benchmarks.md, "report").
    ``extent(r, c)`` is a cell's place for ``show`` and ``overlay``; a cell nothing is drawn into stays empty."""

    def __init__(self, fig, shape, rows: int, cols: int, title_lines: int = 1):
        self.h, self.w = shape[:2]
        self.cols = cols
        self.gap_x = 0.12 * self.w
        self.gap_y = (0.1 + 0.2 * title_lines) * self.h      # the titles' room above each row
        self.ax = fig.subplots()
        self.ax.set_axis_off()
        self.ax.set_xlim(-self.gap_x / 2, cols * (self.w + self.gap_x) - self.gap_x / 2)
        self.ax.set_ylim(rows * (self.h + self.gap_y), 0)          # row 0 at the top
        self.ax.set_aspect("equal")

    def cell(self, i: int) -> tuple[int, int]:
        """(row, column) of the ``i``-th image, filled row by row."""
        return divmod(i, self.cols)

    def extent(self, r: int, c: int) -> tuple[float, float, float, float]:
        left, top = c * (self.w + self.gap_x), r * (self.h + self.gap_y) + self.gap_y
        return left, left + self.w, top + self.h, top

    def title(self, r: int, c: int, text: str, fontsize: float = 7) -> None:
        left, right, _, top = self.extent(r, c)
        self.ax.text((left + right) / 2, top - 0.04 * self.h, text, ha="center", va="bottom", fontsize=fontsize)

    def heading(self, text: str, fontsize: float = 10) -> None:
        """The figure's title, just above the gallery."""
        self.ax.set_title(text, fontsize=fontsize)

    def row_label(self, r: int, text: str, fontsize: float = 9) -> None:
        left, _, bottom, top = self.extent(r, 0)
        self.ax.text(left - self.gap_x, (top + bottom) / 2, text, ha="right", va="center", fontsize=fontsize)


def plot_curves(rows: list[dict], path, best_epoch=None, monitor="val_loss"):
    """Loss and accuracy per epoch, train vs validation, best epoch marked."""
    fig = figure(figsize=(10, 3.8))
    axes = fig.subplots(1, 2)
    epochs = [r["epoch"] for r in rows]
    for ax, key, label in ((axes[0], "loss", "loss"), (axes[1], "accuracy", "accuracy")):
        ax.plot(epochs, [r.get(key, np.nan) for r in rows], "o-", label=f"train {label}")
        ax.plot(epochs, [r.get(f"val_{key}", np.nan) for r in rows], "s-", label=f"validation {label}")
        if best_epoch:
            ax.axvline(best_epoch, color="gray", ls="--", lw=1, label=f"best epoch ({best_epoch}, by {monitor})")
        ax.set_xlabel("epoch")
        integer_ticks(ax.xaxis)
        ax.set_ylabel(label)
        ax.set_title(f"{label.capitalize()} per epoch")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return save_png(fig, path)


def plot_samples(x, y, class_names, kind, path, per_class: int = 6, units: str = ""):
    """A few examples of every class, one row per class."""
    k = len(class_names)
    fig = figure(figsize=(1.3 * per_class + 1.5, 1.3 * k))
    grid = Gallery(fig, x.shape[1:], k, per_class, title_lines=0)
    rng = np.random.default_rng(0)
    picks = []
    for c in range(k):
        idx = np.flatnonzero(y == c)
        picks.append(rng.choice(idx, size=min(per_class, len(idx)), replace=False) if len(idx) else [])
    chosen = [i for p in picks for i in p]
    limits = (float(np.min(x[chosen])), float(np.max(x[chosen]))) if kind == "grid" and chosen else None
    im = None
    for c, name in enumerate(class_names):
        for j, i in enumerate(picks[c]):
            im = show(grid.ax, x[i], kind, limits=limits, extent=grid.extent(c, j))
        grid.row_label(c, name)
    if kind == "grid" and im is not None:   # one colour scale for every frame, in the data's own units
        fig.colorbar(im, ax=grid.ax, fraction=0.03, pad=0.02, label=units)
    grid.heading("Sample examples of every class" + (f" ({units})" if units else ""), fontsize=12)
    return save_png(fig, path)


def plot_confusion(cm, class_names, path):
    """Confusion matrix heatmap, row-normalized colours, counts written in the cells."""
    cm = np.asarray(cm)
    norm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    k = len(class_names)
    fig = figure(figsize=(1.0 + 0.6 * k + 2, 0.6 * k + 2))
    ax = fig.subplots()
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    fig.colorbar(im, ax=ax, label="share of the true class")
    for i in range(k):
        for j in range(k):
            ax.text(j, i, f"{cm[i, j]}", ha="center", va="center", fontsize=8,
                    color="white" if norm[i, j] > 0.5 else "black")
    ax.set_xticks(range(k), class_names, rotation=45, ha="right")
    ax.set_yticks(range(k), class_names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title("Confusion matrix (test split)")
    return save_png(fig, path)


def plot_roc_pr(y, proba, class_names, path):
    """ROC and precision-recall curves, one line per class (the positive class for binary tasks)."""
    from .metrics import average_precision, binary_roc_auc, pr_curve, roc_curve

    fig = figure(figsize=(11, 4.2))
    a, b = fig.subplots(1, 2)
    classes = range(len(class_names))
    for c in classes:
        is_pos = y == c
        if not is_pos.any() or is_pos.all():
            continue
        fpr, tpr, _ = roc_curve(is_pos, proba[:, c])
        a.plot(fpr, tpr, lw=1.2, label=f"{class_names[c]} (AUC {binary_roc_auc(is_pos, proba[:, c]):.3f})")
        precision, recall, _ = pr_curve(is_pos, proba[:, c])
        b.plot(np.r_[0, recall], np.r_[precision[0], precision], lw=1.2,
               label=f"{class_names[c]} (AP {average_precision(is_pos, proba[:, c]):.3f})")
    a.plot([0, 1], [0, 1], ":", color="gray")
    a.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC curves (one vs rest)")
    b.set(xlabel="recall", ylabel="precision", title="Precision-recall curves", ylim=(0, 1.02))
    for ax in (a, b):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return save_png(fig, path)


def plot_reliability(cal: dict, path, before: dict | None = None):
    """Reliability diagram: accuracy against confidence per bin, with the ECE; with ``before`` (the figures of the
    model before temperature scaling, from metrics.json's ``calibration``) both curves are drawn."""
    fig = figure(figsize=(5, 4.2))
    ax = fig.subplots()
    centers = (cal["edges"][:-1] + cal["edges"][1:]) / 2
    nz = cal["count"] > 0
    after = "calibrated" if before else "accuracy"
    ax.bar(centers[nz], cal["accuracy"][nz], width=1 / len(centers), edgecolor="k", alpha=0.5, label=after)
    ax.plot(cal["confidence"][nz], cal["accuracy"][nz], "o-", color="C0", ms=4)
    title = f"Reliability diagram (ECE {cal['ece']:.3f})"
    if before:
        count, acc, conf = (np.asarray(before["reliability_before"][k]) for k in ("count", "accuracy", "confidence"))
        seen = count > 0
        ax.plot(conf[seen], acc[seen], "s--", color="C3", ms=4,
                label=f"before calibration (ECE {before['ece_before']:.3f})")
        title = (f"Reliability: ECE {before['ece_before']:.3f} -> {cal['ece']:.3f} "
                 f"(T = {before['temperature']:.2f})")
    ax.plot([0, 1], [0, 1], "--", color="gray", label="perfect calibration")
    ax.set(xlabel="confidence (top-class probability)", ylabel="accuracy", xlim=(0, 1), ylim=(0, 1), title=title)
    ax.legend(fontsize=8)
    return save_png(fig, path)


def mistake_cells(y, proba, cells: int = 6, per_cell: int = 6) -> list[tuple[int, int, np.ndarray]]:
    """The (true, predicted) cells with the most errors, each with its most confident mistakes (test positions)."""
    pred = proba.argmax(axis=1)
    wrong = np.flatnonzero(pred != y)
    if not len(wrong):
        return []
    pairs, counts = np.unique(np.stack([y[wrong], pred[wrong]], 1), axis=0, return_counts=True)
    out = []
    for t, p in pairs[np.argsort(-counts, kind="stable")][:cells]:
        idx = wrong[(y[wrong] == t) & (pred[wrong] == p)]
        out.append((int(t), int(p), idx[np.argsort(-proba[idx, p], kind="stable")][:per_cell]))
    return out


def plot_mistakes(x, y, proba, class_names, kind, path, cells: int = 6, per_cell: int = 6, maps=None,
                  method: str = ""):
    """The most confident mistakes, grouped by the (true, predicted) cells with the most errors; with ``maps``
    (test position -> saliency map of the wrong class) each is drawn with what the model looked at."""
    top = mistake_cells(y, proba, cells, per_cell)
    if not top:
        return message_png("No mistakes on the test split.", path, width=5)
    fig = figure(figsize=(1.4 * per_cell + 2.5, 1.5 * len(top)))
    grid = Gallery(fig, x.shape[1:], len(top), per_cell)
    for r, (t, p, idx) in enumerate(top):
        for j, i in enumerate(int(i) for i in idx):
            if maps is not None and i in maps:
                overlay(grid.ax, x[i], maps[i], kind, extent=grid.extent(r, j))
            else:
                show(grid.ax, x[i], kind, extent=grid.extent(r, j))
            grid.title(r, j, f"{proba[i, p]:.2f}")
        grid.row_label(r, f"true {class_names[t]}\n→ {class_names[p]}", fontsize=8)
    grid.heading("Most confident mistakes (title: probability of the wrong class"
                 + (f"; overlay: {method} map of the wrong class)" if maps is not None else ")"), fontsize=12)
    return save_png(fig, path)


def plot_prediction(x, proba, class_names, kind, path, true=None, units: str = "", threshold=None):
    """One example beside a bar chart of its class probabilities (seeds 001 and 002)."""
    fig = figure(figsize=(9, 3.4))
    a, b = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.6]})
    show(a, x, kind, units, colorbar=kind == "grid")
    pred = int(np.argmax(proba))
    a.set_title(f"predicted {class_names[pred]}" + (f" / true {class_names[true]}" if true is not None else ""),
                fontsize=9)
    colors = ["tab:green" if i == pred else "tab:gray" for i in range(len(proba))]
    b.bar(range(len(proba)), proba, color=colors)
    if threshold is not None:
        b.axhline(threshold, color="tab:red", ls="--", lw=1, label=f"threshold {threshold:.3f}")
        b.legend(fontsize=8)
    b.set_xticks(range(len(proba)), class_names, rotation=45, ha="right", fontsize=8)
    b.set(ylim=(0, 1), ylabel="probability", title="Class probabilities")
    return save_png(fig, path)


def plot_model(model, path):
    """The layer diagram with output shapes and parameters, drawn with matplotlib (no Graphviz needed)."""
    rows = [("input", str(tuple(model.inputs[0].shape)), 0)]
    for layer in model.layers:
        shape = getattr(layer, "output", None)
        shape = str(tuple(shape.shape)) if shape is not None and hasattr(shape, "shape") else ""
        rows.append((f"{layer.name} ({type(layer).__name__})", shape, layer.count_params()))
    fig = figure(figsize=(6.5, 0.55 * len(rows) + 0.6))
    ax = fig.subplots()
    ax.axis("off")
    for i, (name, shape, params) in enumerate(rows):
        yy = len(rows) - i
        ax.add_patch(_rectangle((0.05, yy - 0.35), 0.9, 0.7, fc="#e8f0fe", ec="#3b6fd4"))
        ax.text(0.08, yy, name, va="center", fontsize=8.5, weight="bold")
        ax.text(0.62, yy, shape, va="center", fontsize=8)
        ax.text(0.93, yy, f"{params:,}", va="center", ha="right", fontsize=8)
        if i:
            ax.annotate("", (0.5, yy + 0.35), (0.5, yy + 0.65), arrowprops={"arrowstyle": "<-", "color": "#3b6fd4"})
    ax.set_xlim(0, 1)
    ax.set_ylim(0.4, len(rows) + 0.6)
    ax.set_title(f"{model.name}: {model.count_params():,} parameters (output shape, parameters)", fontsize=9)
    return save_png(fig, path)


def _rectangle(*args, **kwargs):
    from matplotlib.patches import Rectangle

    return Rectangle(*args, **kwargs)


def plot_ood(scores: dict, method: str, path):
    """The OOD score's histogram: the test split (in distribution) against each probe set, with the threshold."""
    fig = figure(figsize=(9, 3.6))
    ax = fig.subplots()
    values = {k: np.asarray(v) for k, v in scores.items() if k != "threshold"}
    low = min(np.percentile(v, 1) for v in values.values())
    high = max(np.percentile(v, 99.5) for v in values.values())
    bins = np.linspace(low, high, 60)
    for name, v in values.items():
        ax.hist(np.clip(v, low, high), bins=bins, alpha=0.45 if name != "in" else 0.8, density=True,
                histtype="stepfilled",                  # one polygon per set, not 60 bars: drawn 10x sooner
                label="test split (in distribution)" if name == "in" else name,
                color="tab:blue" if name == "in" else None)
    ax.axvline(scores["threshold"], color="k", linestyle="--", label="threshold")
    ax.set(xlabel=f"{method} score (higher = more like the training data)", ylabel="density",
           title="Out-of-distribution score: test split against probe sets")
    ax.legend(fontsize=7)
    return save_png(fig, path)

