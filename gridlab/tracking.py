"""Experiment tracking: TensorBoard event files in the run folder while training, and a finished run folder logged
to MLflow (its config as parameters, per-epoch and test metrics, its files as artifacts).

Both are optional: ``tracking=none`` (the default) imports neither, and a missing package is a one-line error
naming the extra to install. MLflow goes through ``MlflowClient`` with an explicit tracking URI (no process-wide
state); the default store is SQLite in the project folder, not MLflow 3's deprecated ``file:`` store
(docs/sweeps.md, "Traps").
"""
from __future__ import annotations

import functools
import json
import time
from pathlib import Path

from . import quiet, runs
from .errors import ConfigError

TENSORBOARD_DIR = "tensorboard"
SKIP_PARAMS = {"verbose", "exist_ok", "resume", "project", "name"}


def wants(config, kind: str) -> bool:
    """Whether ``config.tracking`` asks for ``kind`` (tensorboard or mlflow)."""
    return config.tracking in (kind, "all")


def tensorboard_callback(folder: Path):
    """Keras' TensorBoard callback writing epoch-level event files to ``folder/tensorboard``."""
    import keras

    return keras.callbacks.TensorBoard(log_dir=str(Path(folder) / TENSORBOARD_DIR), write_graph=False,
                                       histogram_freq=0, update_freq="epoch")


def default_uri(project) -> str:
    return f"sqlite:///{(Path(project).resolve() / 'mlflow.db')}"


PACKAGES = {"mlflow": ("mlflow", "MLflow"), "tensorboard": ("tensorboard", "TensorBoard")}


def require(kind: str, asked: str | None = None) -> None:
    """A one-line error when the package that ``tracking=<kind>`` needs is not installed."""
    import importlib.util

    package, name = PACKAGES[kind]
    if importlib.util.find_spec(package) is None:
        raise ConfigError(f"tracking={asked or kind} needs {name}, which is not installed: pip install "
                          "'gridlab[track]' (or set tracking=none).")


def check_installed(config) -> None:
    """Before any training: every package the config's tracking needs is there."""
    for kind in PACKAGES:
        if wants(config, kind):
            require(kind, config.tracking)


def _store_quiet(fn):
    """``fn`` talks to MLflow with its store's set-up lines off (``quiet.info_off``): opening a new SQLite store logs
    "Creating initial MLflow database tables..." and "Updating database tables" at INFO, in a notebook too."""
    @functools.wraps(fn)
    def quietly(*args, **kwargs):
        require("mlflow")
        import mlflow  # noqa: F401  (importing MLflow sets its loggers' levels: first, then the scope)

        with quiet.info_off("mlflow.store.db.utils"):
            return fn(*args, **kwargs)
    return quietly


def _client(uri: str):
    """An ``MlflowClient`` on ``uri`` (inside ``_store_quiet``, which has checked that MLflow is installed)."""
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri)


def experiment_id(client, name: str, artifacts: Path) -> str:
    """The MLflow experiment ``name`` (created with its artifacts under ``artifacts`` when new)."""
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    return client.create_experiment(name, artifact_location=artifacts.resolve().as_uri())


def flat(d: dict, prefix: str = "") -> dict:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``; lists as JSON text."""
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flat(v, key + "."))
        else:
            out[key] = json.dumps(v) if isinstance(v, list) else v
    return out


@_store_quiet
def log_run(folder, uri: str, experiment: str, tags: dict | None = None, parent: str | None = None) -> str:
    """Log a finished run folder to MLflow at ``uri`` in ``experiment``; returns the MLflow run id."""
    from mlflow.entities import Metric, Param, RunTag

    folder = Path(folder)
    client = _client(uri)
    project = folder.parent
    exp = experiment_id(client, experiment, project / "mlflow-artifacts")
    all_tags = {"gridlab.folder": str(folder.resolve()), **(tags or {})}
    if parent:
        all_tags["mlflow.parentRunId"] = parent
    run = client.create_run(exp, run_name=folder.name, tags=all_tags)
    rid = run.info.run_id
    config = {k: v for k, v in runs.saved_overrides(folder).items() if k not in SKIP_PARAMS}
    params = [Param(k, str(v)[:6000]) for k, v in flat(config).items()]
    now = int(time.time() * 1000)
    metrics = []
    for row in runs.read_history(folder):
        step = int(row.get("epoch", 0))
        metrics += [Metric(k, float(v), now, step) for k, v in row.items()
                    if k != "epoch" and isinstance(v, (int, float)) and v == v]
    final = runs.read_metrics(folder) if (folder / runs.METRICS).is_file() else {}
    metrics += [Metric(f"test_{k}", float(v), now, 0) for k, v in final.items()
                if isinstance(v, (int, float)) and not isinstance(v, bool)]
    for i in range(0, len(params), 100):
        client.log_batch(rid, params=params[i:i + 100])
    for i in range(0, len(metrics), 500):
        client.log_batch(rid, metrics=metrics[i:i + 500])
    client.log_batch(rid, tags=[RunTag(k, str(v)) for k, v in all_tags.items() if k.startswith("gridlab.")])
    client.log_artifacts(rid, str(folder))
    client.set_terminated(rid, "FINISHED" if final else "KILLED")
    return rid


@_store_quiet
def start_parent(uri: str, experiment: str, name: str, project: Path, params: dict) -> str:
    """An MLflow run that the trials of a sweep are logged under (``mlflow.parentRunId``)."""
    from mlflow.entities import Param

    client = _client(uri)
    run = client.create_run(experiment_id(client, experiment, project / "mlflow-artifacts"), run_name=name)
    client.log_batch(run.info.run_id, params=[Param(k, str(v)[:6000]) for k, v in flat(params).items()])
    return run.info.run_id


@_store_quiet
def finish_parent(uri: str, run_id: str, folder: Path) -> None:
    client = _client(uri)
    for name in ("sweep.yaml", "trials.csv", "best.yaml", "sweep.html"):
        if (folder / name).is_file():
            client.log_artifact(run_id, str(folder / name))
    client.set_terminated(run_id)
