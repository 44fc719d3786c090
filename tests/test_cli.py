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

README = Path(__file__).resolve().parents[1] / "README.md"


def _run(args, capsys):
    code = main(args)
    out = capsys.readouterr()
    return code, out.out, out.err


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

    code, out, _ = _run(["info", "runs/e2e"], capsys)
    assert code == 0 and "seed001_cnn" in out and "test accuracy" in out
    code, out, _ = _run(["report", "runs/e2e"], capsys)
    assert code == 0 and out.strip() == "report: runs/e2e/report.html"


def test_predict_wrong_shape_is_one_line(idx_dir, capsys):
    _run(["train", "data=mnist", f"data_dir={idx_dir}", "model=seed002_mlp", "epochs=1", "name=s", "report=false",
          "-q"], capsys)
    np.save("bad.npy", np.zeros((5, 5)))
    code, _, err = _run(["predict", "runs/s", "bad.npy"], capsys)
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


def test_compare_two_runs(idx_dir, tmp_path, capsys):
    for name, model in (("a", "seed002_mlp"), ("b", "seed003_mlp")):
        _run(["train", "data=mnist", f"data_dir={idx_dir}", f"model={model}", "epochs=2", f"name={name}",
              "report=false", "-q"], capsys)
    code, out, _ = _run(["compare", "runs/a", "runs/b", "--out", "cmp.html"], capsys)
    assert code == 0 and "seed002_mlp" in out and "seed003_mlp" in out and "written: cmp.html" in out
    page = (tmp_path / "cmp.html").read_text()
    assert page.count("<tr>") == 3 and "data:image/png;base64," in page


def test_evaluate_on_data_of_another_shape_names_both_shapes(idx_dir, tmp_path, capsys):
    _run(["train", "data=mnist", f"data_dir={idx_dir}", "model=seed002_mlp", "epochs=1", "name=m", "report=false",
          "-q"], capsys)
    for label in ("a", "b"):
        (tmp_path / "small" / label).mkdir(parents=True)
        for i in range(3):
            Image.fromarray(np.full((5, 5), 40 * i, np.uint8)).save(tmp_path / "small" / label / f"{i}.png")
    code, _, err = _run(["evaluate", "runs/m", "--data", "small"], capsys)
    assert code == 2 and "the model expects inputs of shape (8, 8, 1), the data small has (5, 5, 1)" in err
