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


def test_gallery_draws_every_image_in_its_cell_row_0_on_top():
    import io

    x = np.stack([np.full((8, 8, 1), 50 * i, np.uint8) for i in range(6)])
    fig = plots.figure(figsize=(6, 4))
    grid = plots.Gallery(fig, x.shape[1:], rows=2, cols=3)
    for i in range(6):
        plots.show(grid.ax, x[i], "image", extent=grid.extent(*divmod(i, 3)))
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)               # uncropped: the Axes' transform gives the pixels
    img = np.asarray(Image.open(buf).convert("L"))
    centres = []
    for i in range(6):
        left, right, bottom, top = grid.extent(*divmod(i, 3))
        px, py = grid.ax.transData.transform(((left + right) / 2, (top + bottom) / 2))
        assert abs(int(img[img.shape[0] - int(py), int(px)]) - 50 * i) <= 2, i
        centres.append((px, py))
    assert centres[0][1] > centres[3][1] and centres[0][0] < centres[1][0] < centres[2][0]   # read like a page


def test_a_grid_overlay_keeps_its_contours_inside_its_cell():
    frame = np.zeros((10, 12, 1))
    saliency = np.zeros((10, 12))
    saliency[3:7, 4:9] = 1.0
    fig = plots.figure()
    grid = plots.Gallery(fig, frame.shape, rows=2, cols=2)
    left, right, bottom, top = grid.extent(1, 1)
    plots.overlay(grid.ax, frame, saliency, "grid", extent=(left, right, bottom, top))
    points = np.concatenate([p.vertices for c in grid.ax.collections for p in c.get_paths()])
    assert len(points)
    # around the hot block, in the lower right cell: its pixel centres lie at left + 0.5 + column, top + 0.5 + row
    assert left + 3.5 <= points[:, 0].min() and points[:, 0].max() <= left + 9.5
    assert top + 2.5 <= points[:, 1].min() and points[:, 1].max() <= top + 7.5
