"""``gridlab sweep``: many trainings over a search space, on Ray Tune (local by default, a cluster by address).

Every trial is an ordinary gridlab run under ``<project>/<sweep>/trials/<trial id>/``. The sweep folder holds
``sweep.yaml`` (space and settings), ``trials.csv`` (one row per trial), ``best.yaml`` (a config that
``gridlab train --cfg best.yaml`` reproduces the best trial with) and ``sweep.html`` (one self-contained page), and
Ray Tune's own state in ``ray/``: running the same command again after Ctrl-C or a kill restores the sweep
(``Tuner.restore``) and keeps the finished trials.

Ray is imported only here (``pip install 'gridlab[ray]'``); the search space is checked before Ray starts.
Version notes and traps: docs/sweeps.md.
"""
from __future__ import annotations

import dataclasses
import importlib.util
import os
from pathlib import Path

from .. import quiet, ray_cluster
from ..config import SPECS, load_config, load_yaml, parse_overrides
from ..errors import ConfigError
from ..files import write_text
from .space import as_yaml, check_search, dump_yaml, grid_size, parse_space, read_space, split_items, to_tune

SWEEP, TRIALS, BEST, PAGE = "sweep.yaml", "trials.csv", "best.yaml", "sweep.html"
RAY_DIR = "ray"
SETTINGS = tuple(k for k in SPECS if k.startswith("sweep_"))


@dataclasses.dataclass
class SweepResult:
    folder: Path
    rows: list          # one dict per trial, as in trials.csv
    best: dict | None   # the best row
    metric: str
    mode: str


def mode_of(metric: str, mode: str) -> str:
    """``auto``: min for a loss, max for anything else."""
    return ("min" if "loss" in metric else "max") if mode == "auto" else mode


def plan(items=(), cfg: str | None = None, **overrides):
    """Parse and check everything a sweep needs without starting Ray: (config, space, base overrides, folder,
    the sweep.yaml document). Raises ConfigError on a bad space."""
    plain, cli_space = split_items(items)
    given = {**parse_overrides(plain), **overrides}
    config = load_config(given, cfg)
    space = read_space(config.sweep_space) if config.sweep_space else {}
    space.update(parse_space(cli_space, "command line"))
    check_search(space, config.sweep_search)
    for key, param in space.items():     # each value must make a valid config with the rest (e.g. tta needs augment)
        for value in (param.values if param.kind == "choice" else (param.low,)):
            load_config({**given, key: value}, cfg)
    base = {k: v for k, v in dataclasses.asdict(config).items()
            if k not in SETTINGS and k not in ("project", "name", "exist_ok", "resume", "verbose", "preset")}
    name = config.name or f"sweep-{Path(str(config.data)).stem}"
    folder = Path(config.project).resolve() / name
    settings = {k: getattr(config, k) for k in SETTINGS}
    settings["sweep_mode"] = mode_of(config.sweep_metric, config.sweep_mode)
    doc = {"space": as_yaml(space), "settings": settings, "base": {k: v for k, v in base.items() if k in given
                                                                   or k == "data"}}
    return config, space, base, folder, doc


def _require_ray():
    if importlib.util.find_spec("ray") is None:
        raise ConfigError("gridlab sweep runs on Ray Tune, which is not installed: pip install 'gridlab[ray]'.")


def _searcher(config):
    from ray.tune.search import BasicVariantGenerator

    if config.sweep_search == "optuna":
        if importlib.util.find_spec("optuna") is None:
            raise ConfigError("sweep_search=optuna needs Optuna: pip install 'gridlab[ray]' (or "
                              "sweep_search=random).")
        import optuna
        from ray.tune.search.optuna import OptunaSearch

        if quiet.filtering():       # "A new study created in memory": the sweep's own lines say what runs
            optuna.logging.set_verbosity(optuna.logging.WARNING)
        return OptunaSearch(seed=config.seed)         # metric and mode: TuneConfig's
    return BasicVariantGenerator(random_state=config.seed)


def _scheduler(config):
    if config.sweep_scheduler == "none":
        return None
    from ray.tune.schedulers import ASHAScheduler

    # max_t past the last epoch: a trial that reaches its last epoch is never stopped by ASHA before it writes its
    # test metrics and report; ASHA's rungs (epochs 1, 2, 4, ...) stop the ones that fall behind
    return ASHAScheduler(time_attr="epoch", max_t=config.epochs + 1, grace_period=1, reduction_factor=2)


def _tuner(config, space, trainable, folder: Path, metric: str, mode: str, trials: int, concurrent: int, progress):
    """A new Tuner, or the sweep's own restored from ``<sweep>/ray/`` when it was interrupted."""
    from ray import tune

    experiment = folder / RAY_DIR
    if tune.Tuner.can_restore(str(experiment)):
        progress(f"continuing the sweep in {folder} (finished trials are kept)")
        return tune.Tuner.restore(str(experiment), trainable, resume_unfinished=True, restart_errored=True)
    grid = config.sweep_search == "grid"
    return tune.Tuner(
        trainable, param_space=to_tune(space, config.sweep_search),
        tune_config=tune.TuneConfig(metric=metric, mode=mode, search_alg=None if grid else _searcher(config),
                                    scheduler=_scheduler(config), num_samples=1 if grid else trials,
                                    max_concurrent_trials=concurrent, time_budget_s=_seconds(config.sweep_max_time),
                                    reuse_actors=True),      # one worker process (and TensorFlow import) per slot
        run_config=tune.RunConfig(name=RAY_DIR, storage_path=str(folder), verbose=1))


def sweep(items=(), cfg: str | None = None, progress=print, **overrides) -> SweepResult:
    """Run (or continue) a sweep: ``items`` are command-line style ``key=...`` strings (values, choices and
    ranges), ``overrides`` plain keys. Returns the trials and the best one; writes the sweep folder."""
    config, space, base, folder, doc = plan(items, cfg, **overrides)
    _require_ray()
    metric, mode = config.sweep_metric, doc["settings"]["sweep_mode"]
    saved = folder / SWEEP
    same = _identity(load_yaml(dump_yaml(doc)))
    if saved.is_file() and _identity(load_yaml(saved.read_text(encoding="utf-8"))) != same:
        raise ConfigError(f"{folder}: a different sweep (another space or settings) already lives there; give a new "
                          "name=..., or the same command to continue it.")
    folder.mkdir(parents=True, exist_ok=True)
    write_text(saved, dump_yaml(doc))
    address = config.sweep_address or os.environ.get("RAY_ADDRESS")
    ray_cluster.prepare(address, progress)            # before Ray is imported: it reads its auth mode once
    import ray
    from ray import tune

    from .trial import run_trial

    trials = grid_size(space) if config.sweep_search == "grid" else config.sweep_trials
    cpus, gpus = config.sweep_cpus_per_trial, config.sweep_gpus_per_trial
    started = ray_cluster.start(address)
    try:
        total = int(ray.cluster_resources().get("CPU", 1))
        concurrent = max(1, min(total // cpus, config.sweep_concurrent or total))
        if gpus:
            total_gpus = float(ray.cluster_resources().get("GPU", 0))
            if total_gpus < gpus:
                raise ConfigError(f"sweep_gpus_per_trial={gpus:g}, but the Ray cluster has {total_gpus:g} GPU(s); "
                                  "use sweep_gpus_per_trial=0 to sweep on CPUs.")
            concurrent = max(1, min(concurrent, int(total_gpus / gpus)))
        progress(f"sweep {folder.name}: {trials} trial(s), {concurrent} at a time ({cpus} CPU each of {total}"
                 + (f", {gpus:g} GPU each" if gpus else "") + f"); {config.sweep_search} search, scheduler "
                 f"{config.sweep_scheduler}, optimising {metric} ({mode})")
        trainable = tune.with_resources(tune.with_parameters(run_trial, base=base, folder=str(folder), cpus=cpus,
                                                             gpus=gpus), {"cpu": cpus, "gpu": gpus})
        grid = _tuner(config, space, trainable, folder, metric, mode, trials, concurrent, progress).fit()
    finally:
        if started:
            ray.shutdown()
    from .results import collect, write_outputs

    rows = collect(folder, grid, space, metric, mode)
    best = write_outputs(folder, rows, space, metric, mode, doc)
    if len(rows) < trials or any(r["status"] == "stopped" for r in rows):   # Ctrl-C or the time budget
        progress(f"{sum(r['status'] == 'finished' for r in rows)} of {trials} trial(s) finished; if the sweep was "
                 "interrupted, run the same command again to continue it (finished trials are kept).")
    if config.tracking in ("mlflow", "all"):
        _log_to_mlflow(config, folder, rows, doc, progress)
    return SweepResult(folder, rows, best, metric, mode)


def _identity(doc: dict) -> dict:
    """What makes two sweep.yaml documents the same sweep: where it runs and its time budget may change when it is
    continued."""
    settings = {k: v for k, v in (doc.get("settings") or {}).items() if k not in ("sweep_address", "sweep_max_time")}
    return {**doc, "settings": settings}


def _seconds(text):
    from ..config import parse_duration

    return parse_duration(text) if text else None


def _log_to_mlflow(config, folder: Path, rows: list, doc: dict, progress) -> None:
    """Every trial's run folder as an MLflow run under one parent run for the sweep, from the driver."""
    from .. import tracking

    uri = config.tracking_uri or tracking.default_uri(config.project)
    parent = tracking.start_parent(uri, folder.name, folder.name, folder.parent, {**doc["settings"],
                                                                                   **doc["space"]})
    for row in rows:
        if row["folder"] and Path(row["folder"]).is_dir():
            tracking.log_run(Path(row["folder"]), uri, folder.name, {"gridlab.trial": row["trial"],
                                                                     "gridlab.status": row["status"]}, parent)
    tracking.finish_parent(uri, parent, folder)
    progress(f"MLflow: {len(rows)} trial run(s) under parent run {parent} in experiment {folder.name!r} at {uri}")
