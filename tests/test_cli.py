"""End-to-end: the commands users type, on tiny generated data."""
import csv
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gridlab.cli import COMMANDS, main
from tests.conftest import write_idx_set

README = Path(__file__).resolve().parents[1] / "README.md"


# the tests that read ``mlp_run`` run on one pytest-xdist worker, so that it is trained once, not once per worker
ON_MLP_RUN = pytest.mark.xdist_group("cli_run")


@pytest.fixture(scope="module")
def mlp_run(tmp_path_factory):
    """One finished run (seed002_mlp on the tiny IDX set) for the tests that only read a run."""
    import gridlab

    root = tmp_path_factory.mktemp("cli-run")
    return gridlab.train(data="mnist", data_dir=str(write_idx_set(root / "idx")), model="seed002_mlp", epochs=1,
                         project=str(root / "runs"), name="s", report=False, verbose=False, ood="none").folder


def _run(args, capsys):
    code = main(args)
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.slow
def test_train_evaluate_predict_info_report(idx_dir, tmp_path, capsys):
    code, out, err = _run(["train", "data=mnist", f"data_dir={idx_dir}", "model=seed001_cnn", "epochs=2",
                           "batch=8", "name=e2e"], capsys)
    assert code == 0 and "runs/e2e  accuracy=" in out and "report: runs/e2e/report.html" in out
    assert "run directory: runs/e2e" in err
    html = (tmp_path / "runs/e2e/report.html").read_text()
    assert html.count("data:image/png;base64,") >= 8

    code, out, _ = _run(["evaluate", "runs/e2e"], capsys)
    assert code == 0 and re.search(r"accuracy\s+\d\.\d{4}", out)

    img = np.zeros((8, 8), np.uint8)
    img[:3] = 250
    Image.fromarray(img).save(tmp_path / "top.png")
    np.save(tmp_path / "mid.npy", np.full((8, 8), 30, np.uint8))
    code, out, _ = _run(["predict", "runs/e2e", "top.png", "mid.npy", "--out", "p.csv"], capsys)
    assert code == 0 and "top.png" in out and "written: p.csv" in out
    rows = list(csv.DictReader(open(tmp_path / "p.csv")))
    assert [r["file"] for r in rows] == ["top.png", "mid.npy"] and all(r["class"] in "012" for r in rows)
    assert "explanation" not in rows[0]

    code, out, _ = _run(["predict", "runs/e2e", "top.png", "mid.npy", "--out", "out/p.csv", "--explain"], capsys)
    assert code == 0 and "saliency: 2 PNG file(s) in out/p-explain" in out
    rows = list(csv.DictReader(open(tmp_path / "out/p.csv")))
    assert [r["explanation"] for r in rows] == ["out/p-explain/0000-top.png", "out/p-explain/0001-mid.png"]
    for r in rows:
        with Image.open(tmp_path / r["explanation"]) as png:
            assert png.format == "PNG" and png.size[0] > 400

    code, out, _ = _run(["info", "runs/e2e"], capsys)
    assert code == 0 and "seed001_cnn" in out and "test accuracy" in out
    code, out, _ = _run(["report", "runs/e2e"], capsys)
    assert code == 0 and out.strip() == "report: runs/e2e/report.html"


@ON_MLP_RUN
def test_predict_wrong_shape_is_one_line(mlp_run, capsys):
    np.save("bad.npy", np.zeros((5, 5)))
    code, _, err = _run(["predict", str(mlp_run), "bad.npy"], capsys)
    assert code == 2 and err.count("\n") == 1
    assert "bad.npy: expected shape (8, 8, 1), received (5, 5)" in err


@pytest.mark.parametrize("args, message", [
    (["train", "epoch=3"], r'unknown key \'epoch\'. Did you mean "epochs"\?'),
    (["train", "data=nowhere/"], "nowhere/: no such data set or path"),
    (["evaluate", "runs/none"], "not a finished run folder"),
])
def test_errors_are_one_line_with_exit_2(args, message, capsys):
    code, _, err = _run(args, capsys)
    assert code == 2 and err.count("\n") == 1 and re.search(message, err)
    assert not Path("runs").exists()          # nothing half-written: no run folder for a run that never started


@pytest.mark.parametrize("args, message, output", [
    (["predict", "runs/none", "a.png", "--top-k", "0"], "top_k expects a whole number of at least 1, received 0",
     None),
    (["predict", "runs/none", "a", "--out", "p.parquet", "--chunk", "0"], "chunk expects a whole number of at least 1",
     "p.parquet"),
    (["predict", "runs/none", "a", "--out", "p.parquet", "--top-k", "-1"], "top_k expects a whole number", "p.parquet"),
    (["make-thermal", "frames", "--faces", "-3"], "faces expects a whole number of at least 1, received -3", "frames"),
    (["serve", "runs/none", "--port", "70000"], "port expects a TCP port from 1 to 65535, received 70000", None),
    (["serve", "runs/none", "--port", "0"], "port expects a TCP port from 1 to 65535, received 0", None),
])
def test_a_count_or_port_out_of_range_is_refused_before_anything_is_written(args, message, output, capsys):
    code, _, err = _run(args, capsys)
    assert code == 2 and err.count("\n") == 1 and message in err
    assert output is None or not Path(output).exists()


@pytest.mark.parametrize("args, example", [
    (["predict", "runs/none", "a.png", "--out", "taken"], "taken/predictions.csv"),
    (["predict", "runs/none", "a.png", "--explain", "--out", "taken"], "taken/predictions.csv"),
    (["compare", "runs/none", "--out", "taken"], "taken/compare.html"),
])
def test_an_out_path_that_is_a_folder_is_refused_before_the_work(args, example, capsys):
    Path("taken").mkdir()
    code, _, err = _run(args, capsys)
    assert code == 2 and err.count("\n") == 1
    assert (f"taken: expected a file name to write, and a folder is there. Give a file path, for example "
            f"{example}.") in err
    assert list(Path("taken").iterdir()) == []


def test_models_and_datasets_and_config(capsys):
    code, out, _ = _run(["models"], capsys)
    assert code == 0 and "1,199,882" in out and "6,828,986" in out and "333,526" in out
    code, out, _ = _run(["datasets"], capsys)
    assert code == 0 and "digits" in out and "fashion-mnist" in out
    code, out, _ = _run(["config"], capsys)
    assert code == 0 and out.startswith("data ")
    code, out, _ = _run(["presets"], capsys)
    assert code == 0 and "fast: " in out and "model=gridlab_fast" in out and "best: " in out


def test_python_dash_m_entry_point():
    out = subprocess.run([sys.executable, "-m", "gridlab", "--help"], capture_output=True, text=True, check=True)
    assert "usage: gridlab" in out.stdout


@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_command_has_help_and_is_in_the_readme(command, capsys):
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    assert exc.value.code == 0 and "example:" in capsys.readouterr().out
    assert f"gridlab {command}" in README.read_text(), f"README does not document `gridlab {command}`"


@pytest.mark.slow
def test_make_thermal_train_predict_with_threshold(capsys):
    code, out, _ = _run(["make-thermal", "th", "--faces", "14", "--not-faces", "7", "--seed", "3"], capsys)
    assert code == 0 and out.startswith("th  (train with: gridlab train data=th model=gridlab_cnn)")
    code, out, err = _run(["train", "data=th", "model=gridlab_cnn", "epochs=1", "batch=4", "name=t", "report=false"],
                          capsys)
    assert code == 0 and "balanced_accuracy=" in out and "threshold" in err
    frames = sorted(str(p) for p in Path("th").rglob("*.txt"))[:3]
    code, out, _ = _run(["predict", "runs/t", *frames], capsys)
    lines = out.strip().splitlines()
    assert code == 0 and len(lines) == 4
    assert all(re.search(r"(face|not_face)\s+\d\.\d{4}\s+\d\.\d{4}", line) for line in lines[1:])
    # evaluate and report score the same way training did: the threshold's figures and those at argmax
    trained = __import__("json").loads(Path("runs/t/metrics.json").read_text())
    assert _run(["evaluate", "runs/t"], capsys)[0] == 0
    evaluated = __import__("json").loads(Path("runs/t/metrics.json").read_text())
    assert evaluated["at_argmax"] == trained["at_argmax"] and evaluated["accuracy"] == trained["accuracy"]
    assert _run(["report", "runs/t"], capsys)[0] == 0
    page = Path("runs/t/report.html").read_text()
    assert "At argmax instead of the threshold: accuracy " in page and "<section id='saliency'>" in page
    # sensor frames explained: the frame in temperature colours with the map's contours, one PNG per frame
    code, out, _ = _run(["predict", "runs/t", *frames[:2], "--explain"], capsys)
    assert code == 0 and "saliency: 2 PNG file(s) in explain" in out and len(list(Path("explain").glob("*.png"))) == 2


@ON_MLP_RUN
def test_compare_two_runs(mlp_run, idx_dir, tmp_path, capsys):
    _run(["train", "data=mnist", f"data_dir={idx_dir}", "model=seed003_mlp", "epochs=2", "name=b", "report=false",
          "ood=none", "-q"], capsys)
    code, out, _ = _run(["compare", str(mlp_run), "runs/b", "--out", "cmp.html"], capsys)
    assert code == 0 and "seed002_mlp" in out and "seed003_mlp" in out and "written: cmp.html" in out
    page = (tmp_path / "cmp.html").read_text()
    assert page.count("<tr>") == 3 and "data:image/png;base64," in page


@ON_MLP_RUN
def test_evaluate_on_data_of_another_shape_names_both_shapes(mlp_run, tmp_path, capsys):
    for label in ("a", "b"):
        (tmp_path / "small" / label).mkdir(parents=True)
        for i in range(3):
            Image.fromarray(np.full((5, 5), 40 * i, np.uint8)).save(tmp_path / "small" / label / f"{i}.png")
    code, _, err = _run(["evaluate", str(mlp_run), "--data", "small"], capsys)
    assert code == 2 and "the model expects inputs of shape (8, 8, 1), the data small has (5, 5, 1)" in err


# --- hostile inputs of issue 14: each gets its exact one-line answer ------------------------------------------------

def _npz(path, x, y, **more):
    np.savez(path, x=x, y=y, **more)
    return str(path)


def test_npz_with_string_labels_trains_with_sorted_class_names(tmp_path, capsys):
    from tests.conftest import make_images

    x, y = make_images(10, 8, 2)
    data = _npz(tmp_path / "strings.npz", x, np.where(y == 0, "dog", "cat"))
    code, out, err = _run(["train", f"data={data}", "epochs=1", "model=seed003_mlp", "report=false", "name=s",
                           "ood=none", "-q"], capsys)
    assert code == 0, err
    info = __import__("json").loads((tmp_path / "runs/s/run.json").read_text())
    assert info["class_names"] == ["cat", "dog"] and info["counts"]["train"] == [6, 6]


@pytest.mark.parametrize("make, line", [
    (lambda x, y: dict(y=np.zeros(len(y), np.int64)),
     "{path}: expected examples of at least 2 classes, received 1 (class '0', 20 examples). A classifier needs two "
     "or more classes: add examples of another class."),
    (lambda x, y: dict(y=np.r_[np.zeros(18, np.int64), [1, 1]]),
     "{path}: expected at least 3 examples of every class (one for each of the training, validation and test "
     "splits), received 2 of class '1'. Add examples of that class, or remove it."),
    (lambda x, y: dict(y=np.r_[np.zeros(19, np.int64), [1]], x_test=x, y_test=y),     # many in test, 1 to train
     "{path}: expected at least 2 examples of every class (one for each of the training and validation splits), "
     "received 1 of class '1'. Add examples of that class, or remove it."),
    (lambda x, y: dict(x=np.where(np.arange(20)[:, None, None] == 7, np.nan, x.astype(np.float32))),
     "{path}: expected finite numbers, received nan in x[7] (1 of 20 examples hold NaN or inf). Repair or drop "
     "those examples before training."),
    (lambda x, y: dict(y=y.astype(np.float64) + 0.5),
     "{path}: expected whole-number class labels or class names in 'y', received 0.5 at index 0 "
     "(dtype float64). Store labels as integers 0..K-1 or as strings."),
])
def test_npz_that_cannot_make_a_classifier_is_one_line(tmp_path, capsys, make, line):
    from tests.conftest import make_images

    x, y = make_images(10, 8, 2)
    arrays = {"x": x, "y": y, **make(x, y)}
    data = _npz(tmp_path / "d.npz", **arrays)
    code, out, err = _run(["train", f"data={data}", "epochs=1"], capsys)
    assert code == 2 and err == "gridlab train: error: " + line.format(path=data) + "\n"
    assert not (tmp_path / "runs").exists()                # refused before anything was written


def test_stray_text_file_in_an_image_folder_is_ignored_and_listed(image_folder, tmp_path, capsys):
    (image_folder / "cat" / "notes.txt").write_text("taken on monday\n")
    code, out, err = _run(["train", f"data={image_folder}", "epochs=1", "model=seed003_mlp", "report=false",
                           "ood=none"], capsys)
    assert code == 0, err
    notes = image_folder / "cat" / "notes.txt"
    assert (f"notice: 1 file(s) that are not images were ignored (first: {notes}); see data_report.csv.\n"
            in err)
    rows = list(csv.reader(open(tmp_path / "runs/images-seed003_mlp/data_report.csv")))
    assert ["ignored", "", "", "", "", str(notes),
            f"{notes}: not an image (no image name or PNG/JPEG/BMP content); ignored"] in rows
    assert [r[:3] for r in rows if r[0] == "count"] == [["count", "cat", "6"], ["count", "dog", "6"]]


def test_string_keys_take_the_text_as_typed(idx_dir, tmp_path, capsys):
    code, out, err = _run(["train", "data=mnist", f"data_dir={idx_dir}", "model=seed003_mlp", "epochs=1",
                           "report=false", "name=off", "lr=1e-3", "ood=none", "-q"], capsys)
    assert code == 0, err
    assert (tmp_path / "runs/off/run.json").is_file()
    assert "lr: 0.001\n" in (tmp_path / "runs/off/config.yaml").read_text()
    code, _, err = _run(["train", "verbose=on"], capsys)
    assert code == 2 and err == ("gridlab train: error: command line: verbose expects bool, received 'on' (str). "
                                 "Example: verbose=true\n")
