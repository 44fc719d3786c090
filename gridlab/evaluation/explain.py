"""Saliency drawn: one prediction's map over its input, the mistake gallery's overlays, "what each class looks
at", and ``predict --explain`` (a PNG per file beside the CSV). The maps come from ``prediction.saliency``.

Images get the map as a translucent heat layer (transparent where the map is low); sensor grids keep their
temperature colours ('inferno') and get the map as contour lines, so the frame's values stay readable.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from .plots import Gallery, figure, gallery_shape, message_png, overlay, save_png, show


def plot_explanation(x, saliency, proba, class_names, kind, path, method: str, title: str = "", units: str = ""):
    """One input: as it is, with its saliency, and its class probabilities."""
    fig = figure(figsize=(10, 3.4))
    a, b, c = fig.subplots(1, 3, gridspec_kw={"width_ratios": [1, 1, 1.5]})
    show(a, x, kind, units, colorbar=kind == "grid")
    a.set_title(title or "input", fontsize=9)
    overlay(b, x, saliency, kind)
    pred = int(np.argmax(proba))
    b.set_title(f"why {class_names[pred]} ({method})", fontsize=9)
    c.bar(range(len(proba)), proba, color=["tab:green" if i == pred else "tab:gray" for i in range(len(proba))])
    c.set_xticks(range(len(proba)), class_names, rotation=45, ha="right", fontsize=8)
    c.set(ylim=(0, 1), ylabel="probability", title="Class probabilities")
    return save_png(fig, path)


def plot_class_saliency(x, y, maps, class_names, kind, path, method: str):
    """"What each class looks at": per class, the mean of its correctly classified examples with the mean of their
    maps on top. ``maps`` is aligned with ``x`` / ``y``."""
    present = [c for c in range(len(class_names)) if np.any(y == c)]
    if not present:
        return message_png("No correctly classified test example to average.", path)
    rows, cols = gallery_shape(len(present), 5)
    fig = figure(figsize=(2.1 * cols, 2.3 * rows))
    grid = Gallery(fig, x.shape[1:], rows, cols)
    for n, c in enumerate(present):
        pick = y == c
        mean_x = x[pick].astype(np.float64).mean(axis=0)
        mean_map = maps[pick].mean(axis=0)
        mean_map = mean_map / mean_map.max() if mean_map.max() > 0 else mean_map
        overlay(grid.ax, mean_x if kind == "grid" else mean_x.astype(np.uint8), mean_map, kind,
                extent=grid.extent(*grid.cell(n)))
        grid.title(*grid.cell(n), f"{class_names[c]} ({int(pick.sum())})", fontsize=8)
    grid.heading(f"What each class looks at: mean of correct test examples, mean {method} map")
    return save_png(fig, path)


def plot_suspects(images, rows, kind, path, columns: int = 8):
    """The suspect-label gallery: each example with its given and suggested label and its score."""
    n = len(rows)
    if not n:
        return message_png("No suspect labels: every audited label agrees with the model's confident class.", path)
    lines, cols = gallery_shape(n, columns)
    fig = figure(figsize=(1.55 * cols, 1.9 * lines))
    grid = Gallery(fig, images[0].shape, lines, cols, title_lines=2)
    for i, (image, r) in enumerate(zip(images, rows)):
        show(grid.ax, image, kind, extent=grid.extent(*grid.cell(i)))
        grid.title(*grid.cell(i), f"#{r['rank']} {r['given']}\n→ {r['suggested']} ({r['score']:.2f})")
    grid.heading("Suspect labels, most suspect first (given → suggested, score = 1 - P(given))")
    return save_png(fig, path)


@dataclasses.dataclass
class Explanation:
    """``gridlab.explain``'s answer: the inputs, their saliency ``maps`` (N, H, W) in [0, 1], the ``classes``
    explained and the ``method``; drawn inline in a notebook, or to a PNG with ``save``."""
    inputs: np.ndarray
    maps: np.ndarray
    classes: np.ndarray
    method: str
    kind: str
    class_names: list

    def __len__(self) -> int:
        return len(self.maps)

    def save(self, path, columns: int = 8) -> Path:
        """Every input with its map on top, the explained class above each."""
        rows, cols = gallery_shape(max(1, len(self)), columns)
        fig = figure(figsize=(1.8 * cols, 2.0 * rows))
        grid = Gallery(fig, self.inputs.shape[1:], rows, cols)
        for i, (x, m, c) in enumerate(zip(self.inputs, self.maps, self.classes)):
            overlay(grid.ax, x, m, self.kind, extent=grid.extent(*grid.cell(i)))
            grid.title(*grid.cell(i), str(self.class_names[int(c)]), fontsize=8)
        grid.heading(f"{self.method} saliency")
        return save_png(fig, Path(path))

    def _repr_html_(self) -> str:
        import tempfile

        from ..display import png_data_uri

        with tempfile.TemporaryDirectory() as tmp:
            uri = png_data_uri(self.save(Path(tmp) / "explanation.png"))
        return f"<img alt='saliency' src='{uri}'>"


def explain(run, inputs, classes=None, method: str = "auto", steps: int = 32) -> Explanation:
    """Saliency maps of a finished run for ``inputs``: file paths (read exactly as the training data was) or an
    array (N, *input_shape) of raw values. Returns an ``Explanation`` (``maps`` (N, H, W) in [0, 1], ``classes``,
    ``method``) that draws itself in a notebook.

    >>> s = gridlab.explain("runs/fashion-mnist-fast", ["shirt.png"])       # doctest: +SKIP
    >>> s.method, s.maps.shape
    ('gradcam', (1, 28, 28))
    """
    from ..prediction import Predictor

    predictor = Predictor(run)
    if isinstance(inputs, (str, Path)) or (isinstance(inputs, (list, tuple)) and inputs
                                            and isinstance(inputs[0], (str, Path))):
        files = [inputs] if isinstance(inputs, (str, Path)) else list(inputs)
        x = np.stack([predictor.read_file(f) for f in files])
    else:
        x = np.asarray(inputs)
    s = predictor.explain(x, classes, method, steps)
    return Explanation(x.reshape(-1, *predictor.input_shape), s.maps, s.classes, s.method, predictor.info.kind,
                       predictor.class_names)


def explain_files(run, files, out: str | None = None, top_k: int = 3, runtime: str = "keras",
                  method: str = "auto") -> list[dict]:
    """``gridlab predict --explain``: predict ``files`` and write one PNG per file (input, saliency overlay,
    probabilities) into ``<out without .csv>-explain/`` beside the CSV (``explain/`` without ``--out``). Each row
    gains ``explanation``: the PNG's path (empty for a file that could not be read, whose row has its error)."""
    from ..config import check_count
    from ..files import check_output_file
    from ..prediction import Predictor, expand_inputs, write_predictions_csv

    top_k = check_count("top_k", top_k)
    if out:
        check_output_file(out, "predictions.csv")
    predictor = Predictor(run, runtime)
    paths = expand_inputs(files)
    x, proba, rows = predictor.scored_files(paths, top_k)
    saliency = predictor.explain(x, predictor.decide(proba), method) if len(x) else None
    folder = Path(out).with_name(Path(out).stem + "-explain") if out else Path("explain")
    units = "°C" if predictor.info.kind == "grid" else ""
    good = iter(range(len(x)))
    for i, (p, row) in enumerate(zip(paths, rows)):
        if row["error"]:
            row["explanation"] = ""
            continue
        j = next(good)
        png = folder / f"{i:04d}-{p.stem}.png"
        plot_explanation(x[j], saliency.maps[j], proba[j], predictor.class_names, predictor.info.kind, png,
                         saliency.method, title=p.name, units=units)
        row["explanation"] = str(png)
    if out:
        write_predictions_csv(rows, out)
    return rows
