"""Plots: each writes a PNG of the size its figure asks for; the mistake cells are hand-checked."""
import numpy as np
from PIL import Image

from gridlab.evaluation import plots


def _size(path):
    with Image.open(path) as img:
        return img.format, img.size


def test_curves_confusion_and_message_are_pngs(tmp_path):
    rows = [{"epoch": e, "loss": 1 / e, "val_loss": 1.2 / e, "accuracy": 1 - 1 / (e + 1),
             "val_accuracy": 1 - 1.2 / (e + 1)} for e in range(1, 5)]
    fmt, (w, h) = _size(plots.plot_curves(rows, tmp_path / "curves.png", best_epoch=3))
    assert fmt == "PNG" and w > h > 100
    fmt, (w, h) = _size(plots.plot_confusion(np.array([[5, 1], [2, 7]]), ["a", "b"], tmp_path / "cm.png"))
    assert fmt == "PNG" and w > 100 and h > 100
    assert _size(plots.message_png("nothing to draw", tmp_path / "m.png"))[0] == "PNG"


def test_mistake_cells_pick_the_commonest_confusions_most_confident_first():
    y = np.array([0, 0, 0, 1, 1, 2])
    proba = np.array([[0.1, 0.9, 0.0],     # 0 -> 1, confident
                      [0.4, 0.6, 0.0],     # 0 -> 1
                      [0.9, 0.1, 0.0],     # right
                      [0.3, 0.2, 0.5],     # 1 -> 2
                      [0.1, 0.9, 0.0],     # right
                      [0.2, 0.2, 0.6]])    # right
    cells = plots.mistake_cells(y, proba)
    assert [(t, p, idx.tolist()) for t, p, idx in cells] == [(0, 1, [0, 1]), (1, 2, [3])]
    assert plots.mistake_cells(y, np.eye(3)[y]) == []
