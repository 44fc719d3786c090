"""``gridlab train ... distribute=data_parallel --ray`` (or ``--address HOST:PORT``): Ray Train starts the processes.

Ray Train's ``JaxTrainer`` places ``distribute_processes`` workers on the cluster (``ScalingConfig``); the rank 0
worker picks a free port on its node and Ray Train's ``broadcast_from_rank_zero`` hands every worker that coordinator
address. Each worker then runs the same ``train`` as a process started by hand (training.distributed), with its rank
as ``distribute_process_id``. Process 0's run folder is written on its node: on a cluster, give ``project`` a path
every node shares.
"""
from __future__ import annotations

import importlib.util
import logging
import re
import socket
from pathlib import Path

from .. import errors, quiet, ray_cluster, runs
from ..errors import ConfigError
from ..runs import Run, load_run

PATH_KEYS = ("project", "data", "data_dir", "model")    # made absolute: Ray's workers may run in another folder


def train_on_ray(overrides: dict, cfg: str | None, address: str | None, progress=print) -> Run:
    """Train with ``distribute=data_parallel`` on Ray Train workers (a local Ray sized to this machine, or the
    cluster at ``address``); returns process 0's Run."""
    from ..config import load_config

    for name in ("ray", "jax"):
        if importlib.util.find_spec(name) is None:
            extra = "ray" if name == "ray" else "distributed"
            raise ConfigError(f"train --ray runs data-parallel training on Ray Train with JAX, and {name} is not "
                              f"installed: pip install 'gridlab[{extra}]'.")
    overrides = {**overrides, "distribute": "data_parallel"}
    config = load_config(overrides, cfg)
    if not config.distribute_processes:
        raise ConfigError("train --ray needs distribute_processes=N, the number of training processes Ray starts.")
    # the driver names the run folder, so it knows where process 0 writes it
    folder = runs.choose_run_dir(config)[0].resolve()
    overrides = {**overrides, **_absolute(config), "name": folder.name}
    ray_cluster.prepare(address, progress)            # before Ray is imported: it reads its auth mode once
    import ray
    from ray.train import LoggingConfig, RunConfig, ScalingConfig
    from ray.train.v2.jax import JaxTrainer

    # Ray Train's workers load Keras before the training function runs: the backend is chosen for the whole job.
    # Ray Train's print patch would send each of gridlab's lines twice (to its logger and to stderr). Ray's
    # preemption watcher only logs the draining of a node (ray.train.get_preemption_info, which gridlab's training
    # does not read), and on a `ray start` cluster creating it prints an error-level line of Ray's own
    # (ray-project/ray#53727): it is off.
    env = {"KERAS_BACKEND": "jax", "RAY_TRAIN_ENABLE_PRINT_PATCH": "0", "RAY_TRAIN_ENABLE_PREEMPTION_WATCHER": "0"}
    started = ray_cluster.start(address, worker_logs=True, env=env)
    try:
        progress(f"Ray Train: {config.distribute_processes} processes, 1 CPU each"
                 + (f", on the cluster at {address}" if address else ", on a local Ray"))
        trainer = JaxTrainer(
            _worker, train_loop_config={"overrides": overrides, "cfg": cfg, "quiet": quiet.filtering()},
            scaling_config=ScalingConfig(num_workers=config.distribute_processes, use_gpu=False,
                                         resources_per_worker={"CPU": 1}),
            run_config=RunConfig(name="ray_train", storage_path=str(Path(config.project).resolve()),
                                 logging_config=LoggingConfig("ERROR" if quiet.filtering() else "INFO")))
        try:
            result = trainer.fit()
        except ray.train.WorkerGroupError as exc:
            raise _one_line(exc) from None
    finally:
        if started:
            ray.shutdown()
    if result.error:
        raise result.error
    return load_run(folder)


def _absolute(config) -> dict:
    """The path-valued keys as absolute paths, where they name something that exists here (or the project)."""
    fixed = {}
    for key in PATH_KEYS:
        value = getattr(config, key)
        if value and (key == "project" or Path(str(value)).exists()):
            fixed[key] = str(Path(str(value)).resolve())
    return fixed


def _worker(loop_config: dict) -> None:
    """One Ray Train worker: learn the coordinator's address from rank 0, then train as that rank (with library
    chatter filtered when the driver filters its own)."""
    if not loop_config.get("quiet"):
        return _train_as_rank(loop_config)
    logging.getLogger().setLevel(logging.WARNING)   # Ray Train lets every library's INFO line through the root
    with quiet.quiet_libraries((1, 2)):
        _train_as_rank(loop_config)


def _train_as_rank(loop_config: dict) -> None:
    import ray.train
    from ray.train.collective import broadcast_from_rank_zero

    from ..config import load_config
    from .fit import train

    context = ray.train.get_context()
    rank, size = context.get_world_rank(), context.get_world_size()
    coordinator = broadcast_from_rank_zero(_free_address() if rank == 0 else None)
    train(load_config({**loop_config["overrides"], "distribute_coordinator": coordinator,
                       "distribute_processes": size, "distribute_process_id": rank}, loop_config["cfg"]))


def _one_line(exc: Exception) -> Exception:
    """A worker's gridlab error as the same one-line error here; any other failure unchanged."""
    found = re.search(r"gridlab\.errors\.(\w+): (.+)", str(exc))
    if not found:
        return exc
    kind = getattr(errors, found[1], errors.GridlabError)
    return kind(f"Ray Train worker: {found[2]}")


def _free_address() -> str:
    """This node's address and a port free on it now, for JAX's coordinator."""
    import ray.util

    with socket.socket() as s:
        s.bind(("", 0))
        port = s.getsockname()[1]
    return f"{ray.util.get_node_ip_address()}:{port}"
