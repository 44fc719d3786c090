"""The run folder (gridlab/runs.py) on folders written by hand: naming, finding, its files and the Run handle."""
import dataclasses

import pytest

from gridlab import runs
from gridlab.config import load_config
from gridlab.errors import RunError


def write_run(folder, name="r", accuracy=0.9, epochs=3, model="seed001_cnn"):
    """A finished run folder as train leaves one: run.json, metrics.json and history.csv (no model)."""
    info = runs.RunInfo(name=name, data="digits", origin="test", kind="image", class_names=["a", "b"],
                        input_shape=[8, 8, 1], input_dtype="uint8", reader={}, scaling={"kind": "divide255"},
                        model=model, parameters=1234, precision="float32", epochs_run=epochs, train_seconds=2.5)
    runs.write_info(folder, info)
    runs.write_metrics(folder, {"accuracy": accuracy, "balanced_accuracy": accuracy, "log_loss": 0.3,
                                "examples": 10})
    runs.write_history(folder, [{"epoch": e + 1, "val_loss": 1.0 / (e + 1), "val_accuracy": accuracy - 0.1 / (e + 1),
                                 "seconds": 1.0} for e in range(epochs)])
    return folder


def test_a_taken_name_gets_the_next_free_number(tmp_path):
    config = load_config({"data": "digits", "name": "x", "project": str(tmp_path)})
    assert runs.choose_run_dir(config) == (tmp_path / "x", False)
    (tmp_path / "x").mkdir()
    (tmp_path / "x-2").mkdir()
    assert runs.choose_run_dir(config) == (tmp_path / "x-3", False)
    assert runs.choose_run_dir(config.replace(exist_ok=True)) == (tmp_path / "x", False)
    assert runs.default_name(load_config({"data": "digits", "model": "my layers.yaml"})) == "digits-my-layers"


def test_an_unfinished_run_resumes_and_a_finished_one_refuses_resume(tmp_path):
    config = load_config({"data": "digits", "name": "x", "project": str(tmp_path)})
    runs.write_state(tmp_path / "x", {"epochs_done": 1})
    assert runs.choose_run_dir(config) == (tmp_path / "x", True)
    runs.write_metrics(tmp_path / "x", {"accuracy": 1.0})
    with pytest.raises(RunError, match="nothing to resume"):
        runs.choose_run_dir(config.replace(resume=True))


def test_find_run_takes_a_path_or_a_name_under_the_project(tmp_path, monkeypatch):
    write_run(tmp_path / "elsewhere" / "r")
    assert runs.find_run(tmp_path / "elsewhere" / "r") == tmp_path / "elsewhere" / "r"
    assert runs.find_run("r", project=tmp_path / "elsewhere") == tmp_path / "elsewhere" / "r"
    with pytest.raises(RunError, match=r"r: not a finished run folder \(no run.json\) here or in runs/"):
        runs.find_run("r")
    write_run(tmp_path / "runs" / "r")
    assert runs.find_run("r") == runs.Path("runs") / "r"            # the project key's default, from the cwd
    run = runs.load_run(tmp_path / "elsewhere" / "r")                # the handle train and load_run return
    assert runs.find_run(run) == tmp_path / "elsewhere" / "r" and runs.load_run(run).folder == run.folder


def test_files_round_trip_and_exports_accumulate(tmp_path):
    folder = write_run(tmp_path / "r")
    info = runs.read_info(folder)
    assert dataclasses.asdict(info)["parameters"] == 1234 and info.compile_seconds is None
    assert [h["epoch"] for h in runs.read_history(folder)] == [1.0, 2.0, 3.0]
    assert runs.write_metrics(folder, {"accuracy": 0.5}, data="other/fashion").name == "evaluation-fashion.json"
    runs.record_export(folder, "onnx", {"passed": True})
    runs.record_export(folder, "litert", {"passed": False})
    assert runs.read_exports(folder) == {"onnx": {"passed": True}, "litert": {"passed": False}}
    assert runs.export_path(folder, "saved_model") == folder / "export" / "saved_model"
    runs.write_state(folder, {"epochs_done": 2})
    runs.remove_resume_files(folder)
    assert not (folder / runs.STATE).exists()


def test_the_run_handle_shows_itself(tmp_path):
    run = runs.load_run(write_run(tmp_path / "r"))
    assert repr(run) == f"Run({str(tmp_path / 'r')!r}, accuracy=0.9000)"
    html = run._repr_html_()
    assert "gridlab run r" in html and "1,234 parameters" in html and "no report" in html
    assert "<th style='text-align:left;padding-right:12px'>accuracy</th><td style='text-align:right'>0.9000" in html


@pytest.mark.parametrize("text, says", [
    ("{not json", r"run\.json: expected JSON, received text that is not \(line 1: Expecting property name"),
    ('{"name": "r"}', r"run\.json: expected gridlab's run record, received JSON without data, origin, kind, "),
    ("[1, 2]", r"run\.json: expected gridlab's run record, received JSON without name, data, "),
])
def test_a_damaged_run_json_is_one_line_naming_the_file(tmp_path, text, says):
    write_run(tmp_path)
    (tmp_path / runs.INFO).write_text(text)
    with pytest.raises(RunError, match=says + r".*The run folder is damaged: restore the file, or train the run "
                                               r"again\.$"):
        runs.read_info(tmp_path)
    (tmp_path / runs.METRICS).write_bytes(b"\xff\xfe")
    with pytest.raises(RunError, match=r"metrics\.json: expected JSON, received bytes that are not UTF-8 text"):
        runs.read_metrics(tmp_path)


def test_a_missing_model_file_is_named_not_called_unsafe(tmp_path):
    from gridlab.models.io import load_model

    with pytest.raises(RunError, match=r"model\.keras: no such model file\. Check the path; in a run folder, "
                                       r"restore it or train the run again\.$"):
        load_model(tmp_path / "model.keras")
