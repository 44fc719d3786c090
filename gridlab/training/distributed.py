"""Data-parallel training across processes and machines with Keras 3's own ``keras.distribution`` (``DataParallel``
on the JAX backend; docs/distributed.md).

Every process runs the same ``gridlab train ... distribute=data_parallel`` with its coordinates: the coordinator's
HOST:PORT (process 0's), the number of processes and its own index, from the config keys or from Keras' own
environment variables (``KERAS_DISTRIBUTION_JOB_ADDRESSES``, ``KERAS_DISTRIBUTION_NUM_PROCESSES``,
``KERAS_DISTRIBUTION_PROCESS_ID``). Each process reads the data, keeps its own equal share of the training and
validation splits, and feeds ``batch / processes`` examples per step; Keras assembles the global batch and averages
the gradients, so the weights stay identical everywhere. Only process 0 writes the run folder; the others keep their
checkpoints in a temporary folder they remove at the end.

TensorFlow's MultiWorkerMirroredStrategy does not work with Keras 3's ``model.fit`` (keras-team/keras#20585), so this
is JAX only; TensorFlow stays the single-machine default.
"""
from __future__ import annotations

import dataclasses
import hashlib
import os

import numpy as np

from ..errors import ConfigError

ENV_ADDRESS, ENV_COUNT, ENV_INDEX = ("KERAS_DISTRIBUTION_JOB_ADDRESSES", "KERAS_DISTRIBUTION_NUM_PROCESSES",
                                     "KERAS_DISTRIBUTION_PROCESS_ID")


@dataclasses.dataclass(frozen=True)
class Processes:
    """Where this process stands: the coordinator's HOST:PORT, how many processes train, and which one this is."""

    coordinator: str
    count: int
    index: int

    @property
    def leader(self) -> bool:
        """Process 0, the one that writes the run folder."""
        return self.index == 0

    def __str__(self) -> str:
        if not self.coordinator:
            return "one process over its local devices"
        return f"process {self.index} of {self.count} (coordinator {self.coordinator})"


LOCAL = Processes("", 1, 0)      # one process, data parallel over its local devices


def coordinates(config, environ=None) -> Processes:
    """This process's coordinates from the config keys, else Keras' environment variables; a ConfigError naming the
    missing one otherwise.

    >>> coordinates(type("C", (), {"distribute_coordinator": "10.0.0.1:1234", "distribute_processes": 2,
    ...                            "distribute_process_id": 1})(), environ={}).leader
    False
    """
    environ = os.environ if environ is None else environ
    address = config.distribute_coordinator or (environ.get(ENV_ADDRESS, "").split(",")[0] or None)
    count = config.distribute_processes if config.distribute_processes is not None else _int(environ, ENV_COUNT)
    index = config.distribute_process_id if config.distribute_process_id is not None else _int(environ, ENV_INDEX)
    if address is None and count in (None, 1) and index in (None, 0):
        return LOCAL          # one process over this machine's devices (several GPUs): no coordinator to join
    for value, key, env in ((address, "distribute_coordinator", ENV_ADDRESS),
                            (count, "distribute_processes", ENV_COUNT), (index, "distribute_process_id", ENV_INDEX)):
        if value is None:
            raise ConfigError(f"distribute=data_parallel needs {key} (or the environment variable {env}): every "
                              "process is given the coordinator's HOST:PORT, the number of processes and its own "
                              "index, e.g. distribute_coordinator=10.0.0.1:1234 distribute_processes=2 "
                              "distribute_process_id=0 (see docs/distributed.md).")
    host, _, port = str(address).rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"distribute_coordinator={address!r} is not HOST:PORT; give process 0's address and a free "
                          "port, e.g. 127.0.0.1:1234.")
    if count < 1 or not 0 <= index < count:
        raise ConfigError(f"distribute_process_id={index} with distribute_processes={count}: the index must be 0 to "
                          f"{count - 1}, one per process.")
    return Processes(str(address), int(count), int(index))


def _int(environ, name: str) -> int | None:
    text = environ.get(name)
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        raise ConfigError(f"{name}={text!r} is not a whole number; unset it or give the number.") from None


def check(config, processes: Processes) -> None:
    """What data-parallel training needs besides the coordinates, checked before anything is read or written; selects
    Keras' JAX backend when the user chose none (``_select_jax``)."""
    if config.batch % processes.count:
        raise ConfigError(f"batch={config.batch} does not split evenly over {processes.count} processes; batch is the "
                          f"global batch, so give a multiple of {processes.count} (e.g. "
                          f"batch={config.batch - config.batch % processes.count or processes.count}).")
    if config.max_time:
        raise ConfigError("max_time cannot be used with distribute=data_parallel: every process would stop at its "
                          "own clock's step and the others would wait for it forever; give epochs instead.")
    if config.resume:
        raise ConfigError("resume=true cannot be used with distribute=data_parallel yet (the other processes have "
                          "no resume point); start a new run, or resume it in one process without distribute.")
    _select_jax(config.device)


def _select_jax(device: str = "auto") -> None:
    """Keras on JAX for ``device`` (``backend.use``): selected when Keras is not loaded yet and the user chose no
    backend; a ConfigError otherwise."""
    from .. import backend

    backend.use(device, need_jax=True)


_JOINED: Processes | None = None


def start(processes: Processes, batch: int) -> list:
    """Join the other processes (blocks until all have arrived) and make every model built from now on data
    parallel over all their devices (``batch`` is the global batch, split evenly over them). Returns the devices."""
    import keras

    global _JOINED
    if not processes.coordinator:
        pass                 # one process: its local devices, nothing to join
    elif _JOINED is None:    # JAX joins a process to one group for its lifetime
        keras.distribution.initialize(processes.coordinator, processes.count, processes.index)
        _JOINED = processes
    elif _JOINED != processes:
        raise ConfigError(f"this Python process already trains as {_JOINED}; it cannot join another group as "
                          f"{processes}. Run each distributed training in its own process.")
    devices = keras.distribution.list_devices()
    if batch % len(devices):
        raise ConfigError(f"batch={batch} does not split evenly over the {len(devices)} devices; give a multiple of "
                          f"{len(devices)} (e.g. batch={batch - batch % len(devices) or len(devices)}).")
    mesh = keras.distribution.DeviceMesh((len(devices),), ["batch"], devices)
    # each process hands Keras its own share (``share``), so Keras must not shard a dataset again
    keras.distribution.set_distribution(keras.distribution.DataParallel(device_mesh=mesh, auto_shard_dataset=False))
    return devices


def leave() -> None:
    """Models built from now on live in this process alone again (for process 0's evaluation and report)."""
    import keras

    keras.distribution.set_distribution(None)


def share(x: np.ndarray, y: np.ndarray, processes: Processes) -> tuple[np.ndarray, np.ndarray]:
    """This process's equal share of a split: every ``count``-th example from its index, cut to the same length in
    every process (so all take the same number of steps; at most ``count - 1`` examples are left out)."""
    n = len(x) // processes.count
    return x[processes.index::processes.count][:n], y[processes.index::processes.count][:n]


def weights_digest(model) -> str:
    """SHA-256 of the model's weights in order; equal in every process when training kept them in step."""
    digest = hashlib.sha256()
    for w in model.get_weights():
        digest.update(np.ascontiguousarray(w).tobytes())
    return digest.hexdigest()


def replicas_agree(model) -> bool:
    """Every local device holds the same copy of every weight (data parallel replicates the variables; a failure
    here would mean the devices trained apart)."""
    for variable in model.weights:
        shards = getattr(getattr(variable, "value", None), "addressable_shards", None) or []
        if len(shards) > 1:
            first = np.asarray(shards[0].data)
            if any(not np.array_equal(first, np.asarray(s.data)) for s in shards[1:]):
                return False
    return True
