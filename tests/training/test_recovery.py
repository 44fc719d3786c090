"""Crash safety with real processes and real file systems: SIGKILL mid-write and mid-training, a full disk and a
read-only run folder during a checkpoint."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from gridlab.errors import RunError
from gridlab.files import remove_stale_temporaries

WRITER = """
import sys, time
from gridlab.files import atomic_path
with atomic_path(sys.argv[1]) as tmp:
    with open(tmp, "wb") as fh:
        for _ in range(1000):
            fh.write(b"n" * 65536)
            fh.flush()
            print("writing", flush=True)
            time.sleep(0.01)
"""


def test_writer_killed_midway_leaves_the_old_file(tmp_path):
    target = tmp_path / "history.csv"
    target.write_bytes(b"old contents\n")
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(target)], stdout=subprocess.PIPE)
    for _ in range(5):
        proc.stdout.readline()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert target.read_bytes() == b"old contents\n"
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "history.csv"]
    assert leftovers and all(name.startswith(".tmp-") for name in leftovers)
    assert remove_stale_temporaries(tmp_path) == len(leftovers) and [p.name for p in tmp_path.iterdir()] == [
        "history.csv"]


def _bigger_idx(folder: Path, n: int = 2000):
    from gridlab.sources.idx import write_idx
    from tests.conftest import make_images

    x, y = make_images(n // 2, 28, 2)
    xt, yt = make_images(50, 28, 2, seed=1)
    write_idx(folder / "train-images-idx3-ubyte.gz", x)
    write_idx(folder / "train-labels-idx1-ubyte.gz", y)
    write_idx(folder / "t10k-images-idx3-ubyte.gz", xt)
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", yt)


@pytest.mark.slow
def test_sigkill_mid_training_then_the_same_command_resumes(tmp_path):
    import json

    _bigger_idx(tmp_path / "idx")
    command = [sys.executable, "-m", "gridlab", "train", "data=mnist", f"data_dir={tmp_path / 'idx'}",
               "model=seed000_cnn", "epochs=5", "patience=0", "name=k", "report=false"]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    state = tmp_path / "runs/k/state.json"
    deadline = time.time() + 240
    while time.time() < deadline:
        if state.is_file() and json.loads(state.read_text())["epochs_done"] >= 2:
            break
        time.sleep(0.05)
    else:
        proc.kill()
        pytest.fail("training did not reach epoch 2 in time")
    proc.send_signal(signal.SIGKILL)     # mid-epoch 3 (or between writes): the files must still be whole
    proc.wait()
    done_before = json.loads(state.read_text())["epochs_done"]
    assert not (tmp_path / "runs/k/metrics.json").exists()

    again = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-2000:]
    assert f"resuming after epoch {done_before}" in again.stderr
    assert not (tmp_path / "runs/k-2").exists()
    history = (tmp_path / "runs/k/history.csv").read_text().splitlines()[1:]
    assert [int(line.split(",")[0]) for line in history] == [1, 2, 3, 4, 5]
    info = json.loads((tmp_path / "runs/k/run.json").read_text())
    assert info["epochs_run"] == 5 and 1 <= info["best_epoch"] <= 5
    from gridlab.models.io import load_model

    assert load_model(tmp_path / "runs/k/model.keras").count_params() == info["parameters"]


@pytest.fixture
def small_fs(tmp_path):
    mount = tmp_path / "mnt"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def _one_epoch_then(monitor_folder, spoil):
    from gridlab.models import build_model
    from gridlab.training.callbacks import Monitor

    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 255, (64, 8, 8, 1)).astype(np.uint8), rng.integers(0, 2, 64)
    model = build_model("seed002_mlp", (8, 8, 1), 2, {"kind": "divide255", "scale": 1 / 255, "offset": 0.0},
                        "uint8")
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    monitor = Monitor(monitor_folder, patience=0)
    model.fit(x, y, validation_data=(x, y), epochs=1, callbacks=[monitor], verbose=0)
    before = {p.name: p.read_bytes() for p in monitor_folder.iterdir()}
    assert {"model.keras", "last.keras", "history.csv", "state.json"} <= set(before)
    spoil()
    monitor.best = float("inf")          # make epoch 2 an improvement, so every file is rewritten
    with pytest.raises(RunError) as err:
        model.fit(x, y, validation_data=(x, y), epochs=2, initial_epoch=1, callbacks=[monitor], verbose=0)
    after = {p.name: p.read_bytes() for p in monitor_folder.iterdir()}
    return str(err.value), before, after


def test_disk_full_during_checkpoint_keeps_previous_files(small_fs):
    run = small_fs / "run"
    run.mkdir()

    def fill():
        with open(small_fs / "filler", "wb") as fh:
            try:
                while True:
                    fh.write(b"\0" * 65536)
                    fh.flush()
            except OSError:
                pass

    message, before, after = _one_epoch_then(run, fill)
    assert "cannot write the checkpoint of epoch 2 (No space left on device)" in message
    assert "\n" not in message and after == before


def test_read_only_run_folder_during_checkpoint(small_fs):
    run = small_fs / "run"
    run.mkdir()

    def read_only():
        subprocess.run(["mount", "-o", "remount,ro", str(small_fs)], check=True)

    message, before, after = _one_epoch_then(run, read_only)
    assert "cannot write the checkpoint of epoch 2 (Read-only file system)" in message
    assert after == before
