"""Predictor: files of every kind a run accepts, and the ones it refuses with one line."""
import io
import os

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


@pytest.fixture(scope="module")
def image_run(tmp_path_factory):
    from tests.conftest import write_idx_set

    root = tmp_path_factory.mktemp("image")
    write_idx_set(root / "idx")
    run = gridlab.train(data="mnist", data_dir=str(root / "idx"), model="seed003_mlp", epochs=1, batch=8,
                        verbose=False, report=False, project=str(root / "runs"))
    return run.folder


def test_image_run_reads_an_image_and_names_a_wrong_shape(image_run, tmp_path):
    run = image_run
    (tmp_path / "a.png").write_bytes(_png((8, 8)))
    assert Predictor(run).read_file(tmp_path / "a.png").shape == (8, 8, 1)
    np.save(tmp_path / "b.npy", np.zeros((3, 3)))
    with pytest.raises(DataFormatError, match=r"expected shape \(8, 8, 1\), received \(3, 3\)"):
        Predictor(run).read_file(tmp_path / "b.npy")
    np.save(tmp_path / "stack.npy", np.zeros((4, 8, 8), np.uint8))     # a stack, not one example: says how
    with pytest.raises(DataFormatError, match=r"received a stack of 4 \(4, 8, 8\)\. Give one example per \.npy "
                       r"file, or predict the whole stack in Python: gridlab\.predict\(run, numpy\.load\(path\)\)\.$"):
        Predictor(run).read_file(tmp_path / "stack.npy")


def test_predict_takes_arrays_like_files_and_keeps_the_good_examples(image_run, tmp_path):
    run = image_run
    x = np.random.default_rng(0).integers(0, 256, (5, 8, 8), dtype=np.uint8)
    paths = []
    for i, image in enumerate(x):
        paths.append(tmp_path / f"{i}.png")
        Image.fromarray(image).save(paths[-1])
    from_files = gridlab.predict(run, paths)
    for given in (x, x[..., None], x.reshape(5, -1), x.astype(np.float32), list(x)):
        rows = gridlab.predict(run, given)
        assert [r["file"] for r in rows] == [f"x[{i}]" for i in range(5)] and not rows.failed
        assert [(r["class"], r["ood"]) for r in rows] == [(r["class"], r["ood"]) for r in from_files]
        assert all(r["ood_score"] is not None for r in rows)           # the OOD flag beside every class
        assert [r["probability"] for r in rows] == pytest.approx([r["probability"] for r in from_files], abs=1e-6)
    assert len(gridlab.predict(run, x[0])) == 1                             # one example
    assert gridlab.predict(run, str(paths[0]))[0]["file"] == str(paths[0])  # one path, not its characters

    bad = x.astype(np.float32)
    bad[2, 3, 3] = np.nan
    rows = gridlab.predict(run, bad)
    assert [r["class"] is None for r in rows] == [False, False, True, False, False]
    assert rows[2]["error"] == "x[2]: expected finite numbers, received NaN or infinity. Send numeric values only."
    assert rows.summary() == "4 predicted, 1 failed: 1 x expected finite numbers, received NaN or infinity"
    assert [r["class"] for r in rows if r["class"]] == [r["class"] for i, r in enumerate(from_files) if i != 2]

    mixed = gridlab.predict(run, [x[0], np.zeros((7, 8)), x[1]])        # a list: each example checked on its own
    assert [r["error"] is None for r in mixed] == [True, False, True] and "received (7, 8)" in mixed[1]["error"]
    with pytest.raises(DataFormatError, match=r"^x: expected examples of shape \(8, 8, 1\) .* received shape "
                       r"\(5, 7, 8\)\. Resize the examples to 8x8\.$"):
        gridlab.predict(run, x[:, :7])
    with pytest.raises(DataFormatError, match="expected an array of numbers, received dtype <U1"):
        gridlab.predict(run, np.array(["a", "b"]))


def test_predict_reads_folders_and_globs_as_streaming_does(image_run, tmp_path):
    from gridlab.prediction import expand_inputs

    run = image_run
    for name in ("a/1.png", "a/b/2.png", "a/.hidden.png", "c.png"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(_png((8, 8)))
    (tmp_path / "empty").mkdir()
    files = [str(tmp_path / n) for n in ("a/1.png", "a/b/2.png")]
    rows = gridlab.predict(run, [tmp_path / "a", str(tmp_path / "**/*.png"), str(tmp_path / "none/*.png")])
    assert [r["file"] for r in rows] == [*files, str(tmp_path / "c.png"), str(tmp_path / "none/*.png")]
    assert [r["error"] is None for r in rows] == [True, True, True, False]          # no repeats, hidden left out
    assert rows[-1]["error"].endswith("none/*.png: expected files matching this pattern, found none. Check the "
                                      "pattern (** matches folders at any depth).")
    with pytest.raises(DataFormatError, match="expected a file, received a folder with no files in it"):
        gridlab.predict(run, tmp_path / "empty")
    assert [str(p) for p in expand_inputs([tmp_path / "a"])] == files
    assert [str(p) for p in expand_inputs([files[0], tmp_path / "a", tmp_path / "a", files[0]])] == [*files, files[0]]

    from gridlab.prediction.stream import predict_stream

    summary = predict_stream(run, [tmp_path / "a", str(tmp_path / "none/*.png")], tmp_path / "p.parquet",
                             progress=lambda _: None)
    assert summary["files"] == 3 and [r["file"] for r in summary["refused"]] == [str(tmp_path / "none/*.png")]


def test_a_file_name_that_is_not_utf8_is_predicted_and_written_escaped(image_run, tmp_path):
    """Linux allows any bytes in a file name; Python carries the odd ones as surrogates, which no UTF-8 writer
    takes. The CSV and the Parquet shards name the file with an escape, and the rest of the batch is kept."""
    import pandas as pd

    from gridlab.prediction.stream import predict_stream

    odd = tmp_path.joinpath(os.fsdecode(b"\xff.png"))
    odd.write_bytes(_png((8, 8)))
    (tmp_path / "b.png").write_bytes(_png((8, 8)))
    rows = gridlab.predict(image_run, [odd, tmp_path / "b.png"], out=str(tmp_path / "p.csv"))
    assert [r["file"] for r in rows] == [str(tmp_path / "\\udcff.png"), str(tmp_path / "b.png")] and not rows.failed
    assert "\\udcff.png," in (tmp_path / "p.csv").read_text(encoding="utf-8")
    for _ in range(2):           # the second run finds both in the shards: nothing predicted twice
        summary = predict_stream(image_run, [odd, tmp_path / "b.png"], tmp_path / "p.parquet", progress=print)
    assert summary["files"] == 2 and len(pd.read_parquet(tmp_path / "p.parquet")) == 2
