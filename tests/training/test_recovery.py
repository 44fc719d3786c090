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


def _bigger_idx(folder: Path, n: int = 400):
    from gridlab.sources.idx import write_idx
    from tests.conftest import make_images

    x, y = make_images(n // 2, 28, 2)
    xt, yt = make_images(50, 28, 2, seed=1)
    write_idx(folder / "train-images-idx3-ubyte.gz", x)
    write_idx(folder / "train-labels-idx1-ubyte.gz", y)
    write_idx(folder / "t10k-images-idx3-ubyte.gz", xt)
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", yt)


PAUSED_TRAINER = """
import sys, time, keras, gridlab

class PauseMidEpoch3(keras.callbacks.Callback):
    # a sync point instead of a race: at the 3rd batch of epoch 3 say so, then wait to be killed
    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        if self.epoch == 2 and batch == 2:
            open(sys.argv[1], "w").close()
            time.sleep(600)

gridlab.train(callbacks=[PauseMidEpoch3()], **gridlab.config.parse_overrides(sys.argv[2:]))
"""


@pytest.mark.slow
def test_sigkill_mid_training_then_the_same_command_resumes(tmp_path, capsys):
    import json

    _bigger_idx(tmp_path / "idx")
    args = ["data=mnist", f"data_dir={tmp_path / 'idx'}", "model=seed000_cnn", "epochs=5", "patience=0", "name=k",
            "report=false", "ood=none", "verbose=false"]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    paused = tmp_path / "paused"
    proc = subprocess.Popen([sys.executable, "-c", PAUSED_TRAINER, str(paused), *args], cwd=tmp_path, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300          # a bound for slow machines, not a timing assumption
    while not paused.exists():
        if proc.poll() is not None:
            pytest.fail(f"training ended before the pause: {proc.stderr.read().decode()[-2000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("training did not reach epoch 3 within 300 s")
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)     # mid-epoch 3: the files of epoch 2 must still be whole
    proc.wait()
    state = json.loads((tmp_path / "runs/k/state.json").read_text())
    assert state["epochs_done"] == 2
    assert not (tmp_path / "runs/k/metrics.json").exists()

    # the same command again, in this process through the command line's entry point (a fresh process would only
    # import TensorFlow once more: what resumes is read from the run folder)
    from gridlab.cli import main

    capsys.readouterr()
    assert main(["train", *args[:-1]]) == 0
    assert "resuming after epoch 2" in capsys.readouterr().err
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
