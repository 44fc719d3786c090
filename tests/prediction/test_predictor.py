"""Predictor: files of every kind a run accepts, and the ones it refuses with one line."""
import io

import numpy as np
import pytest
from PIL import Image

import gridlab
from gridlab.errors import DataFormatError
from gridlab.prediction import Predictor

# one worker runs this module (pytest-xdist): its trained runs are built once, not once per worker
pytestmark = pytest.mark.xdist_group("predictor")


@pytest.fixture(scope="module")
def grid_run(tmp_path_factory):
    from tests.conftest import write_grid_set

    root = tmp_path_factory.mktemp("predict")
    folder = write_grid_set(root / "grids", n_per_class=(12, 6))
    return gridlab.train(data=str(folder), grid_skip_rows=2, model="seed003_mlp", epochs=1, batch=4,
                         project=str(root / "runs"), verbose=False, report=False).folder, folder


def _png(shape=(6, 5)) -> bytes:
    out = io.BytesIO()
    Image.fromarray(np.full(shape, 128, np.uint8)).save(out, format="PNG")
    return out.getvalue()


def test_grid_run_reads_frames_and_npy(grid_run, tmp_path):
    run, frames = grid_run
    frame = next((frames / "face").rglob("*.txt"))
    np.save(tmp_path / "frame.npy", np.full((6, 5), 30.0))
    rows = Predictor(run).predict_files([frame, tmp_path / "frame.npy"])
    assert [r["class"] for r in rows][0] in ("face", "other") and len(rows) == 2


def test_grid_run_refuses_an_image_in_one_line(grid_run, tmp_path):
    """An image holds colours, not sensor values: refused by content, whatever the file is called."""
    run, _ = grid_run
    (tmp_path / "frame.txt").write_bytes(_png())
    with pytest.raises(DataFormatError) as caught:
        Predictor(run).read_file(tmp_path / "frame.txt")
    message = str(caught.value)
    assert "frame.txt" in message and "received a PNG image" in message and "Send the frame file" in message
    assert "\n" not in message


def test_image_run_reads_an_image_and_names_a_wrong_shape(idx_dir, tmp_path):
    run = gridlab.train(data="mnist", data_dir=str(idx_dir), model="seed003_mlp", epochs=1, batch=8, verbose=False,
                        report=False, project=str(tmp_path / "runs"))
    (tmp_path / "a.png").write_bytes(_png((8, 8)))
    assert Predictor(run.folder).read_file(tmp_path / "a.png").shape == (8, 8, 1)
    np.save(tmp_path / "b.npy", np.zeros((3, 3)))
    with pytest.raises(DataFormatError, match=r"expected shape \(8, 8, 1\), received \(3, 3\)"):
        Predictor(run.folder).read_file(tmp_path / "b.npy")
