"""Shared fixtures: tiny data sets written by the tests themselves, and an isolated cache/data environment."""
from __future__ import annotations

import gc
import os
import signal
import socket
import subprocess
import sys
import typing
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
if os.environ.get("PYTEST_XDIST_WORKER"):
    # Under pytest-xdist each worker (and every process it starts) gets one thread for TensorFlow, oneDNN and XLA's
    # CPU client: workers each spreading over both cores fight for them (measured with two workers: the round-trip
    # tests took 48 s this way against 40 s with one thread each, on the 2-core Intel Xeon). The user's own setting
    # wins.
    for name in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS"):
        os.environ.setdefault(name, "1")

import numpy as np
import pytest


# The tests' JAX processes compile many small programs and run each for a few steps: at XLA's backend optimisation
# level 0 they compile in a fraction of the time (the JAX end-to-end test of tests/test_backend.py: 19 s of CPU
# against 27 s, 2-core AMD EPYC). The level changes how fast the code runs; what it computes differs at most in the
# last bits of rounding (fast-math stays off at every level), every process of a test compiles alike, and no test
# compares JAX's numbers with fixed ones. The user's own XLA_FLAGS are kept; a test that sets more flags adds to
# these (``xla_flags``).
def xla_flags(*more: str) -> str:
    """This process's XLA_FLAGS (with the level below) and ``more`` added, for a child process that needs more."""
    return " ".join([os.environ.get("XLA_FLAGS", ""), *more]).strip()


if "--xla_backend_optimization_level" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = xla_flags("--xla_backend_optimization_level=0")


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (for a server, a Ray head or a JAX coordinator the test starts)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# `python HIDE_TENSORFLOW ARGS...`: gridlab's command line (or `-c SCRIPT`) in a process where TensorFlow cannot be
# imported, as on a machine with JAX alone
HIDE_TENSORFLOW = Path(__file__).with_name("without_tensorflow.py")

# what every Ray process the tests start sees: no usage report, and no backend of the test process (gridlab and Ray
# Train choose; a `ray start` node's workers inherit the environment of the command that started it); and no idle
# workers started ahead for the first job: gridlab's jobs set environment variables (runtime_env), so Ray starts
# workers of their own for them and the ones started ahead only cost CPU
RAY_ENV = {**{k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}, "TF_CPP_MIN_LOG_LEVEL": "3",
           "RAY_DISABLE_USAGE_STATS": "1", "RAY_USAGE_STATS_ENABLED": "0", "RAY_prestart_worker_first_driver": "0"}
RAY = str(Path(sys.executable).with_name("ray"))


class RayHead:
    """One `ray start --head` cluster on 127.0.0.1 for the tests that join a cluster by address: started by the first
    of them, and stopped once the next test does not need it (the Ray tests run one after another, first:
    ``pytest_collection_modifyitems``). It runs in a process session of its own, so stopping it kills exactly its
    processes, at once (``end_session``): `ray stop --force` ends every Ray on the machine and waits about 7 s for
    them, which the next cluster had to wait for.

    Whether the cluster wants Ray's token is chosen (``auth``), never left to whether a token happens to exist when
    it starts (`ray start` turns token authentication on only then, and a local Ray of another test writes one):
    with ``auth`` it reads ~/.ray/auth_token, which drivers on this machine find too."""
    address: str | None = None
    auth: bool | None = None
    session: int | None = None       # the session id of `ray start`, and of every process of the cluster

    @classmethod
    def start(cls, auth: bool = True) -> str:
        if cls.address is not None and cls.auth != auth:
            cls.stop()
        if cls.address is None:
            if auth and not (Path.home() / ".ray" / "auth_token").is_file():
                subprocess.run([RAY, "get-auth-token", "--generate"], env=RAY_ENV, capture_output=True, timeout=120,
                               check=True)
            port = free_port()
            head = subprocess.Popen([RAY, "start", "--head", "--node-ip-address=127.0.0.1", f"--port={port}",
                                     f"--num-cpus={(os.cpu_count() or 1) + 1}", "--include-dashboard=false",
                                     "--disable-usage-stats"],
                                    env={**RAY_ENV, "RAY_AUTH_MODE": "token" if auth else "disabled"},
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
            _, err = head.communicate(timeout=120)
            if head.returncode != 0:
                end_session(head.pid)
            assert head.returncode == 0, err[-2000:]
            cls.address, cls.auth, cls.session = f"127.0.0.1:{port}", auth, head.pid
        return cls.address

    @classmethod
    def stop(cls) -> None:
        if cls.session is not None:
            end_session(cls.session)
            # as `ray stop` does: forget the cluster as this machine's latest, the one ray.init() without an address
            # joins (a later ray.init() here would try to join the killed one). Ray names it by the machine's own
            # address: the GCS port tells it
            latest = _ray_address_file()
            if latest.is_file() and latest.read_text().strip().rsplit(":", 1)[-1] == cls.address.rsplit(":", 1)[-1]:
                latest.unlink(missing_ok=True)
        cls.address = cls.session = None


def _ray_address_file() -> Path:
    """The file where `ray start` names the latest cluster on this machine (Ray's own path where Ray has it)."""
    try:
        from ray._common.utils import get_ray_address_file
    except ImportError:
        import tempfile

        return Path(tempfile.gettempdir()) / "ray" / "ray_current_cluster"
    return Path(get_ray_address_file(None))


def end_session(session: int) -> None:
    """Kill every process of ``session`` (a process that called setsid, and all it started): a `ray start` cluster's
    daemons, and the workers its raylet starts (each in a process group of its own, in the same session). Where
    there is no /proc to read, `ray stop --force` ends them (and every other Ray on the machine)."""
    if not Path("/proc/self/stat").is_file():
        subprocess.run([RAY, "stop", "--force"], env=RAY_ENV, capture_output=True, timeout=120)
        return
    killed: set[int] = set()
    while True:             # again while a pass finds a new one: a worker the raylet started during the last pass
        found = set()
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = (text := stat.read_text())[text.rfind(")") + 2:].split()
                if fields[0] != "Z" and int(fields[3]) == session:       # state; session id
                    found.add(int(stat.parent.name))
            except (OSError, ValueError, IndexError):
                pass        # ended meanwhile
        if not found - killed:
            return
        for pid in found - killed:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass        # ended meanwhile
        killed |= found


ON_CLUSTER = ("ray_head_without_auth", "ray_head")     # the order their tests run in (one restart between)


@pytest.fixture
def ray_head():
    """HOST:PORT of the tests' `ray start` cluster (``RayHead``), with token authentication. It offers one logical CPU
    more than this machine has, so a test can tell it from a local Ray of gridlab's own, which is sized to the
    machine."""
    pytest.importorskip("ray", reason="Ray is not installed (pip install 'gridlab[ray]')")
    return RayHead.start(auth=True)


@pytest.fixture
def ray_head_without_auth():
    """HOST:PORT of the tests' `ray start` cluster, without token authentication (as on a machine that had no token
    when it started)."""
    pytest.importorskip("ray", reason="Ray is not installed (pip install 'gridlab[ray]')")
    return RayHead.start(auth=False)


def _cluster(item) -> int | None:
    """Which of ``ON_CLUSTER`` a test uses, as its index, or None."""
    names = getattr(item, "fixturenames", ())
    return next((i for i, name in enumerate(ON_CLUSTER) if name in names), None)


def pytest_runtest_teardown(item, nextitem):
    if nextitem is None or _cluster(nextitem) is None:
        RayHead.stop()


def pytest_sessionfinish(session):
    RayHead.stop()


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """Every test gets its own cache folder and working directory, and no $GRIDLAB_DATA."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("GRIDLAB_DATA", raising=False)
    monkeypatch.chdir(tmp_path)
    yield


def make_images(n_per_class: int = 12, size: int = 8, classes: int = 2, seed: int = 0):
    """Easy-to-learn uint8 images: class c is bright in band c."""
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for c in range(classes):
        for _ in range(n_per_class):
            img = rng.integers(0, 40, (size, size), dtype=np.uint8)
            band = slice(c * size // classes, (c + 1) * size // classes)
            img[band, :] = rng.integers(180, 255, img[band, :].shape, dtype=np.uint8)
            xs.append(img)
            ys.append(c)
    return np.stack(xs), np.asarray(ys, dtype=np.uint8)


def write_idx_set(folder, per_class: int = 10, size: int = 8, classes: int = 3, test_per_class: int = 4):
    """The four gzip IDX files of a tiny data set of ``make_images`` (as mnist's), in ``folder``."""
    from gridlab.sources.idx import write_idx

    x, y = make_images(per_class, size, classes)
    xt, yt = make_images(test_per_class, size, classes, seed=1)
    for name, arr in (("train-images-idx3-ubyte.gz", x), ("train-labels-idx1-ubyte.gz", y),
                      ("t10k-images-idx3-ubyte.gz", xt), ("t10k-labels-idx1-ubyte.gz", yt)):
        write_idx(folder / name, arr)
    return folder


@pytest.fixture
def idx_dir(tmp_path):
    """A folder with the four IDX files of a tiny 3-class, 8x8 data set (gzip)."""
    return write_idx_set(tmp_path / "idx")


@pytest.fixture
def image_folder(tmp_path):
    """root/<class>/*.png: two classes, 10 PNGs each, 8x8 grayscale."""
    from PIL import Image

    root = tmp_path / "images"
    x, y = make_images(10, 8, 2)
    for i, (img, label) in enumerate(zip(x, y)):
        folder = root / ("cat" if label == 0 else "dog")
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(folder / f"{i:03d}.png")
    return root


def write_grid_set(root, n_per_class=(12, 4), shape=(6, 5), header=("# frame", "sensor 1"), seed=0):
    """root/<class>/<day>/fNNN.txt frames; class 'face' is warm in the middle."""
    from gridlab.sources.sensor_grid import write_frame

    rng = np.random.default_rng(seed)
    for name, n in zip(("face", "other"), n_per_class):
        for i in range(n):
            frame = rng.normal(22.0, 0.5, shape)
            if name == "face":
                frame[1:-1, 1:-1] += 12.0
            write_frame(root / name / f"2020120{1 + i % 2}" / f"f{i:03d}.txt", frame, list(header))
    return root


@pytest.fixture
def grid_folder(tmp_path):
    return write_grid_set(tmp_path / "grids")


def as_a_user(environ=None) -> dict:
    """``environ`` (this process's environment by default) as a user's shell has it for gridlab's output: without
    the suite's TF_CPP_MIN_LOG_LEVEL and without gridlab's debug switch, for a child whose printed lines a test
    reads."""
    from gridlab import quiet

    return {k: v for k, v in (os.environ if environ is None else environ).items()
            if k not in ("TF_CPP_MIN_LOG_LEVEL", quiet.DEBUG_VAR)}


# What a fresh `python -m gridlab train` process imports, written as it exits (``fresh_train``): a sitecustomize that
# Python runs as the process starts, from a folder on PYTHONPATH; the command itself stays the user's
RECORD_IMPORTS = """
import atexit, os, sys

def _write():
    with open(os.environ["GRIDLAB_TEST_IMPORTS"], "w") as out:
        out.write("\\n".join(sorted(sys.modules)))

atexit.register(_write)
"""

# the tests that share ``fresh_train`` run on one worker, which starts the process once
FRESH_TRAIN = pytest.mark.xdist_group("fresh_train")


class FreshTrain(typing.NamedTuple):
    result: subprocess.CompletedProcess    # the command's exit status, stdout and stderr
    folder: Path                           # its working directory, where runs/q was written
    imported: set                          # the names in sys.modules as it exited


@pytest.fixture(scope="session")
def fresh_train(tmp_path_factory):
    """One `python -m gridlab train` of a small digits run with the command line's defaults (the report, the
    calibration, the OOD score, the audit), in a fresh process as a user starts it: no TF_CPP_MIN_LOG_LEVEL and no
    debug switch. What it printed (tests/test_quiet.py) and what it imported (tests/test_tracking.py) are read from
    this one process: each test starting its own would train the same run again (about 7 s of CPU)."""
    folder = tmp_path_factory.mktemp("fresh-train")
    (folder / "site").mkdir()
    (folder / "site" / "sitecustomize.py").write_text(RECORD_IMPORTS)
    env = as_a_user()
    env.update(XDG_CACHE_HOME=str(folder / "cache"), GRIDLAB_TEST_IMPORTS=str(folder / "imported.txt"),
               PYTHONPATH=os.pathsep.join(filter(None, [str(folder / "site"), env.get("PYTHONPATH")])))
    result = subprocess.run([sys.executable, "-m", "gridlab", "train", "data=digits", "model=seed000_cnn",
                             "preset=fast", "epochs=1", "steps_per_execution=4", "name=q", "limit=400"],
                            cwd=folder, env=env, capture_output=True, text=True, timeout=600)
    imports = folder / "imported.txt"
    return FreshTrain(result, folder, set(imports.read_text().split()) if imports.is_file() else set())


def pytest_collection_finish(session):
    """What importing the test modules made (Keras and TensorFlow among it: about 580,000 objects) lives as long as
    the test process: frozen, as gridlab's own processes keep Keras' import (``backend.collector_paused``), so that
    Python's collections stop going through all of it again, during the tests and as the process ends (measured
    with ``gc.callbacks`` over a whole run, 2-core AMD EPYC: 15.7 s of CPU in the two workers' collections, against
    19.0 s unfrozen). The tests of the collector itself unfreeze it while they run (``tests/test_backend.py``,
    ``collector``). Hypothesis is imported first: as it starts it registers the random generators of other libraries
    (trio's, which anyio's pytest plugin imports where pytest loads every installed plugin; scripts/test.sh names
    the two the suite uses) after checking with ``gc.get_referrers`` that something holds them, and that does not
    see frozen objects.

    What the tests make is passed over by a full collection 10 times less often (the oldest generation's threshold
    100 instead of 10): each test's models, graphs and runs pile up among the oldest objects, and every full pass
    went through all of them again (measured over a whole run, 2-core AMD EPYC: the workers' full collections took
    4.8 s of CPU instead of 10.6, their CPU 167.9 s instead of 176.8, their peak memory 1.9 GiB instead of 1.8)."""
    import hypothesis  # noqa: F401

    gc.freeze()
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, 100)


@pytest.hookimpl(trylast=True)     # after pytest-xdist's own hook, which names each grouped test's group
def pytest_collection_modifyitems(config, items):
    """Under pytest-xdist's loadgroup, each xdist_group is one unit for one worker: the Ray tests (the largest unit)
    first, then the other groups, then the single tests, the slow ones first, so no worker starts a long unit while
    the others have run out of work (the longest first). xdist hands out units in this order only without its own
    reordering by the number of tests in a unit (``--no-loadscope-reorder``, scripts/test.sh), which put the Ray
    group, with few tests, after the larger groups. Without xdist the order changes nothing a test may rely on."""
    def rank(item):
        groups = {mark.args[0] for mark in item.iter_markers("xdist_group")}
        # xdist joins every group a test is marked with into one name ("ray_stream" is not "ray"): a Ray test in a
        # second group would run beside the others, on a worker that starts a cluster of its own (``RayHead``)
        assert groups <= {"ray"} or "ray" not in groups, f"{item.nodeid}: a Ray test belongs to group 'ray' alone"
        cluster = _cluster(item)
        assert cluster is None or groups == {"ray"}, f"{item.nodeid}: a test on the Ray cluster belongs to group 'ray'"
        # the cluster's tests one after another, so that it is started once for each kind (``RayHead``)
        rank_in_group = len(ON_CLUSTER) if cluster is None else cluster
        fast = item.get_closest_marker("slow") is None      # False sorts first: the slow single tests
        return (0, rank_in_group) if groups == {"ray"} else (1, 0) if groups else (2, fast)
    items.sort(key=rank)
    if getattr(config.option, "loadgroup", False):
        # pytest-xdist groups a test by the "@group" it appends to the test's id; pytest 9.2 computes ids another
        # way and xdist 3.8's groups silently stop working (pyproject pins pytest below 9.2): refuse, not flake
        lost = [item.nodeid for item in items if item.get_closest_marker("xdist_group") and "@" not in item.nodeid]
        assert not lost, (f"pytest-xdist did not group {lost[0]} (pytest {pytest.__version__}): install the "
                          "pytest the dev extra names (pip install -e '.[dev]')")
