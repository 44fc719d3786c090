"""Data-parallel training (training.distributed): the coordinates and checks, then two real processes on
127.0.0.1 (JAX's coordinator and Gloo collectives), by hand and started by Ray Train."""
from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gridlab import backend
from gridlab.config import load_config
from gridlab.errors import ConfigError, GridlabError
from gridlab.training import distributed
from tests.conftest import as_a_user, free_port, xla_flags
from tests.test_quiet import GRIDLAB_LINE

needs_jax = pytest.mark.skipif(importlib.util.find_spec("jax") is None,
                               reason="JAX is not installed (pip install 'gridlab[distributed]')")
DIGEST = re.compile(r"process (\d) of 2 \(coordinator [^)]+\): trained, weights sha256 ([0-9a-f]{64})")


def _config(**keys):
    return load_config({"distribute": "data_parallel", **keys})


def test_coordinates_from_keys_then_environment():
    keys = _config(distribute_coordinator="10.0.0.1:1234", distribute_processes=3, distribute_process_id=2)
    assert distributed.coordinates(keys, environ={}) == distributed.Processes("10.0.0.1:1234", 3, 2)
    env = {distributed.ENV_ADDRESS: "10.0.0.9:99,10.0.0.8:99", distributed.ENV_COUNT: "2",
           distributed.ENV_INDEX: "0"}
    from_env = distributed.coordinates(_config(), environ=env)
    assert from_env == distributed.Processes("10.0.0.9:99", 2, 0) and from_env.leader
    # a key given on the command line wins over the environment
    assert distributed.coordinates(_config(distribute_process_id=1), environ=env).index == 1


def test_no_coordinates_at_all_is_one_process_over_its_local_devices():
    assert distributed.coordinates(_config(), environ={}) == distributed.LOCAL
    assert distributed.LOCAL.leader and str(distributed.LOCAL) == "one process over its local devices"


@pytest.mark.parametrize("keys, env, says", [
    ({"distribute_processes": 2}, {}, "needs distribute_coordinator (or the environment variable "
                                      "KERAS_DISTRIBUTION_JOB_ADDRESSES)"),
    ({"distribute_coordinator": "h:1"}, {}, "needs distribute_processes"),
    ({"distribute_coordinator": "h:1", "distribute_processes": 2}, {}, "needs distribute_process_id"),
    ({"distribute_coordinator": "localhost", "distribute_processes": 2, "distribute_process_id": 0}, {},
     "is not HOST:PORT"),
    ({"distribute_coordinator": "h:1", "distribute_processes": 2, "distribute_process_id": 2}, {},
     "the index must be 0 to 1"),
    ({"distribute_coordinator": "h:1", "distribute_processes": 2}, {distributed.ENV_INDEX: "one"},
     "KERAS_DISTRIBUTION_PROCESS_ID='one' is not a whole number"),
])
def test_bad_coordinates_say_what_is_missing(keys, env, says):
    with pytest.raises(ConfigError, match=re.escape(says)):
        distributed.coordinates(_config(**keys), environ=env)


@pytest.mark.parametrize("keys, says", [
    ({"batch": 33}, "batch=33 does not split evenly over 2 processes"),
    ({"max_time": "5m"}, "max_time cannot be used with distribute=data_parallel"),
    ({"resume": True, "name": "x"}, "resume=true cannot be used"),
])
def test_checks_before_anything_runs(keys, says):
    processes = distributed.Processes("127.0.0.1:1", 2, 0)
    with pytest.raises(ConfigError, match=re.escape(says)):
        distributed.check(_config(**keys), processes)


def test_the_tensorflow_backend_is_refused_with_the_fix():
    import keras  # the test process runs on TensorFlow (conftest)

    assert keras.backend.backend() == "tensorflow"
    with pytest.raises(ConfigError, match="runs on Keras' JAX backend .* but the backend is 'tensorflow': run with "
                                          "KERAS_BACKEND=jax"):
        distributed.check(_config(batch=32), distributed.Processes("127.0.0.1:1", 2, 0))


def test_a_linear_model_is_refused(tmp_path):
    import gridlab

    with pytest.raises(GridlabError, match="fitted by scikit-learn in one process"):
        gridlab.train(data="digits", model="sklearn_logistic", distribute="data_parallel", distribute_coordinator="h:1",
                      distribute_processes=2, distribute_process_id=0, verbose=False)
    assert not (tmp_path / "runs").exists()


def test_shares_are_equal_and_disjoint():
    x, y = np.arange(11)[:, None], np.arange(11)
    parts = [distributed.share(x, y, distributed.Processes("h:1", 3, i)) for i in range(3)]
    assert [len(p[1]) for p in parts] == [3, 3, 3]
    seen = np.concatenate([p[1] for p in parts])
    assert len(set(seen.tolist())) == 9 and all((p[0][:, 0] == p[1]).all() for p in parts)


# what runs after fit (calibration, the OOD score, the audit, the report) is one process's work, the same code as a
# run on one device, tested on JAX by tests/test_backend.py: these runs stop at what distribution changes
TRAIN = ["data=digits", "model=seed003_mlp", "epochs=2", "batch=64", "limit=400", "report=false", "audit=false",
         "ood=none", "calibrate=false", "distribute=data_parallel"]


def _env(tmp_path: Path | None = None) -> dict:
    """The processes' environment: Keras' backend left to gridlab (it selects JAX), and with ``tmp_path`` a TMPDIR
    of the test's own, so the test sees whether process 1 removed its temporary folder."""
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    if tmp_path is not None:
        (tmp_path / "tmp").mkdir(exist_ok=True)
        env["TMPDIR"] = str(tmp_path / "tmp")
    return env


def _digests(text: str) -> dict:
    return {int(i): d for i, d in DIGEST.findall(text)}


@needs_jax
@pytest.mark.slow
def test_two_processes_on_localhost_train_one_model(tmp_path):
    port = free_port()
    procs = [subprocess.Popen([sys.executable, "-m", "gridlab", "train", *TRAIN,
                               f"distribute_coordinator=127.0.0.1:{port}", "distribute_processes=2",
                               f"distribute_process_id={i}"], cwd=tmp_path, env=_env(tmp_path),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for i in range(2)]
    outputs = [p.communicate(timeout=400)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], "\n".join(o[-3000:] for o in outputs)
    digests = {**_digests(outputs[0]), **_digests(outputs[1])}
    assert set(digests) == {0, 1} and digests[0] == digests[1], digests
    assert [f.name for f in (tmp_path / "runs").iterdir()] == ["digits-seed003_mlp"]     # one run folder
    info = json.loads((tmp_path / "runs" / "digits-seed003_mlp" / "run.json").read_text())
    assert info["distributed"] == {"processes": 2, "coordinator": f"127.0.0.1:{port}", "batch_per_process": 32,
                                   "devices": 2, "weights_sha256": digests[0]}
    assert info["versions"]["backend"] == "jax" and info["epochs_run"] == 2
    assert json.loads((tmp_path / "runs" / "digits-seed003_mlp" / "metrics.json").read_text())["accuracy"] > 0.3
    assert list((tmp_path / "tmp").glob("gridlab-process-*")) == []         # process 1 left nothing behind
    assert "accuracy=" in outputs[0] and "accuracy=" not in outputs[1]       # only process 0 reports


@needs_jax
@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="Ray is not installed (pip install 'gridlab[ray]')")
@pytest.mark.slow
@pytest.mark.xdist_group("ray")
def test_ray_train_starts_the_processes(tmp_path, ray_head):
    """On the tests' `ray start` cluster (a local Ray of gridlab's own is started by the same code, which the local
    sweep test runs)."""
    env = as_a_user(_env())
    out = subprocess.run([sys.executable, "-m", "gridlab", "train", *TRAIN, "distribute_processes=2", "--address",
                          ray_head], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    digests = _digests(out.stderr)
    assert set(digests) == {0, 1} and digests[0] == digests[1], out.stderr[-3000:]
    folder = tmp_path / "runs" / "digits-seed003_mlp"
    assert json.loads((folder / "run.json").read_text())["distributed"]["weights_sha256"] == digests[0]
    assert out.stdout.splitlines()[-1].startswith(f"{folder}  accuracy=")     # the driver prints the result
    # gridlab's lines only: no Ray, Gloo, JAX or absl line from the driver, Ray's actors or the workers, and each of
    # process 0's lines once (Ray Train's print patch would send it twice)
    ours = re.compile(rf"^(Ray Train: |data parallel: |process \d of 2 |joining the Ray cluster at |"
                      rf"{re.escape(str(folder))}  accuracy=)")
    foreign = [line for line in (out.stdout + out.stderr).splitlines()
               if not (ours.match(line) or GRIDLAB_LINE.match(line))]
    assert foreign == [], "\n".join(foreign)
    assert out.stderr.count("results: ") == 1


TWO_THEN_ONE = """
import sys
from gridlab.cli import main
train = sys.argv[1:]
assert main(["train", *train, "name=two"]) == 0
print("--- one device", file=sys.stderr)
assert main(["train", *train[:-1], "name=one"]) == 0          # the same run without distribute
print("tensorflow imported:", "tensorflow" in sys.modules, file=sys.stderr)   # installed, but JAX never needs it
"""


@needs_jax
@pytest.mark.slow
def test_one_process_over_two_local_devices_matches_one_device(tmp_path):
    """Several GPUs in one machine, as two forced host devices: no coordinator, one run folder, every device holding
    the same weights, and the accuracy of a one-device run within noise. Both runs in one process (the second on
    one of its two devices), which also shows the first left no distribution behind."""
    # the script runs the command line's main: its process imports Keras as gridlab's command line does (lean)
    env = {**_env(), "XLA_FLAGS": xla_flags("--xla_force_host_platform_device_count=2"), "KERAS_BACKEND": "jax",
           backend.LEAN_VAR: "1"}
    out = subprocess.run([sys.executable, "-c", TWO_THEN_ONE, *TRAIN], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=400)
    assert out.returncode == 0, out.stderr[-3000:]
    two, one = out.stderr.split("--- one device")
    assert "data parallel: one process over its local devices, 2 device(s) in all" in two
    assert "data parallel" not in one and "tensorflow imported: False" in one     # backend.tensorflow_unasked
    info = json.loads((tmp_path / "runs/two/run.json").read_text())
    assert info["distributed"]["devices"] == 2 and info["distributed"]["processes"] == 1
    assert json.loads((tmp_path / "runs/one/run.json").read_text())["distributed"] is None
    assert (f"one process over its local devices: trained, weights sha256 {info['distributed']['weights_sha256']}, "
            "identical on this process's 2 devices") in two
    accuracy = {n: json.loads((tmp_path / f"runs/{n}/metrics.json").read_text())["accuracy"] for n in ("one", "two")}
    assert abs(accuracy["one"] - accuracy["two"]) < 0.1, accuracy
