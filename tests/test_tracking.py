"""Tracking: TensorBoard event files and an MLflow run for a plain `gridlab train`; without the extras installed
(or with tracking=none) gridlab imports neither MLflow nor Ray."""
import pytest

import gridlab
from gridlab.errors import ConfigError
from tests.conftest import FRESH_TRAIN


def test_train_with_tracking_all_writes_event_files_and_one_mlflow_run(idx_dir, tmp_path, capfd):
    pytest.importorskip("mlflow")
    import logging

    from mlflow.tracking import MlflowClient

    mlflow_logger = logging.getLogger("mlflow")          # at INFO, as a fresh process has it (a command line run
    saved = mlflow_logger.level                          # earlier in this process may have left it at warnings)
    mlflow_logger.setLevel(logging.INFO)
    try:
        run = gridlab.train(data="mnist", data_dir=str(idx_dir), model="seed002_mlp", epochs=2, batch=8, name="t",
                            tracking="all", report=False, verbose=False, ood="none")
    finally:
        mlflow_logger.setLevel(saved)
    # a new SQLite store's set-up lines ("Creating initial MLflow database tables...") are not the caller's
    assert "database tables" not in capfd.readouterr().err
    events = list((run.folder / "tensorboard").rglob("events.out.tfevents.*"))
    assert {p.parent.name for p in events} == {"train", "validation"}
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'runs' / 'mlflow.db'}")
    found = client.search_runs([client.get_experiment_by_name("mnist").experiment_id])
    assert len(found) == 1
    logged = found[0]
    assert logged.data.params["model"] == "seed002_mlp" and logged.data.params["epochs"] == "2"
    assert [m.step for m in client.get_metric_history(logged.info.run_id, "val_loss")] == [1, 2]
    assert logged.data.metrics["test_accuracy"] == pytest.approx(run.metrics["accuracy"])
    names = {a.path for a in client.list_artifacts(logged.info.run_id)}
    assert {"model.keras", "history.csv", "metrics.json", "config.yaml"} <= names


@pytest.mark.parametrize("missing, tracking, name", [("mlflow", "mlflow", "MLflow"),
                                                    ("tensorboard", "all", "TensorBoard")])
def test_a_missing_tracking_package_is_one_line_before_training(idx_dir, monkeypatch, missing, tracking, name):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda mod, *a: None if mod == missing else real(mod, *a))
    with pytest.raises(ConfigError, match=rf"^tracking={tracking} needs {name}, which is not installed: pip install "
                                          r"'gridlab\[track\]' \(or set tracking=none\)\.$"):
        gridlab.train(data="mnist", data_dir=str(idx_dir), model="seed002_mlp", epochs=1, tracking=tracking,
                      verbose=False)
    assert not (idx_dir.parent / "runs").exists()


@pytest.mark.slow
@FRESH_TRAIN
def test_without_tracking_neither_mlflow_nor_ray_is_imported(fresh_train):
    """A whole run with the defaults (tracking=none), in a fresh `gridlab train` process (tests/conftest.py)."""
    assert fresh_train.result.returncode == 0, fresh_train.result.stderr[-2000:]
    assert "gridlab.training.fit" in fresh_train.imported                # the record is that of the training run
    assert not {"mlflow", "ray", "optuna"} & fresh_train.imported
