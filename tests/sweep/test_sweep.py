"""Sweeps on real Ray: a local Ray started by gridlab while a cluster runs on the same machine (3 trials, 2 at a
time, logged to MLflow, the page rendered in Chromium, best.yaml trained again), and that `ray start --head` cluster
joined by address, whose sweep is killed and continued without training its finished trials again."""
import csv
import datetime
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import RAY_ENV
from tests.evaluation.test_report_browser import CHROMEDRIVER, CHROMIUM, open_browser

pytest.importorskip("ray.tune", reason="Ray Tune is not installed (pip install 'gridlab[ray]')")
# each trial is a whole run; what runs after its fit (calibration, the OOD score, the audit) is tested with train
BASE = ["data=digits", "model=seed003_mlp", "lr=loguniform(1e-3,1e-1)", "batch=[32,64]", "sweep_scheduler=none",
        "seed=3", "calibrate=false", "ood=none", "audit=false"]
ENV = RAY_ENV


def _gridlab(*args, timeout=400, **kwargs):
    return subprocess.run([sys.executable, "-m", "gridlab", *args], env=ENV, capture_output=True, text=True,
                          timeout=timeout, **kwargs)


def _spans(folder: Path) -> list[tuple[datetime.datetime, datetime.datetime]]:
    """(started, finished) of every trial, from the trial.log lines the trials write."""
    out = []
    for log in sorted(folder.glob("trials/*/trial.log")):
        stamps = {}
        for line in log.read_text().splitlines():
            when = datetime.datetime.strptime(line[:19], "%Y-%m-%d %H:%M:%S")
            stamps.setdefault(line[20:].split()[0], when)
        out.append((stamps["started"], stamps["finished"]))
    return out


def _most_at_once(spans) -> int:
    edges = sorted([(s, 1) for s, _ in spans] + [(f, -1) for _, f in spans], key=lambda e: (e[0], e[1]))
    now = best = 0
    for _, step in edges:
        now += step
        best = max(best, now)
    return best


@pytest.mark.slow
@pytest.mark.xdist_group("ray")
def test_local_sweep_leaves_three_complete_runs_and_one_page(tmp_path, ray_head):
    # with a cluster running on this machine (ray_head), a sweep without --address is still on a Ray of gridlab's
    # own, sized to the machine: ray.init() alone would join the cluster, and refuse num_cpus with a traceback
    # without the trials' reports: each trial is gridlab.train (tests/training), and the sweep's page stands alone
    out = _gridlab("sweep", *BASE, "epochs=2", "sweep_trials=3", "sweep_concurrent=2", "tracking=mlflow",
                   "report=false", "name=s", cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    folder = tmp_path / "runs" / "s"
    rows = list(csv.DictReader(open(folder / "trials.csv")))
    assert len(rows) == 3 and {r["status"] for r in rows} == {"finished"}
    assert [float(r["val_loss"]) for r in rows] == sorted(float(r["val_loss"]) for r in rows)
    for r in rows:
        run = Path(r["folder"])
        assert {"config.yaml", "model.keras", "history.csv", "metrics.json", "run.json", "curves.png"} <= {
            p.name for p in run.iterdir()}
        assert 1e-3 <= float(r["lr"]) <= 1e-1 and r["batch"] in ("32", "64")
    assert f"3 trial(s), 2 at a time (1 CPU each of {os.cpu_count()})" in out.stdout     # not the cluster's
    assert _most_at_once(_spans(folder)) == 2            # two trials side by side, never more
    processes = {line.split(" in process ")[-1] for r in rows
                 for line in (Path(r["folder"]) / "trial.log").read_text().splitlines() if "started" in line}
    # trials reuse worker processes (reuse_actors): at least one trial ran in a process an earlier trial used. Not
    # exactly 2: while no trial waits, Tune keeps one idle worker, so two trials ending in the same moment of its
    # control loop cost one new process (ray/tune/utils/object_cache.py, may_keep_one)
    assert len(processes) < len(rows)

    # MLflow: one run per trial under a parent run for the sweep, in the project's SQLite store
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'runs' / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("s")
    found = client.search_runs([experiment.experiment_id])
    trials = [r for r in found if "mlflow.parentRunId" in r.data.tags]
    assert len(found) == 4 and len(trials) == 3
    assert {"lr", "batch", "model"} <= set(trials[0].data.params) and "test_accuracy" in trials[0].data.metrics
    assert len(client.get_metric_history(trials[0].info.run_id, "val_loss")) == 2

    # best.yaml reproduces the best trial's configuration (trained here: a new process would import TensorFlow
    # again for nothing the test checks)
    import gridlab

    again = gridlab.train(cfg=str(folder / "best.yaml"), name="again", report=False, verbose=False)
    assert again.folder.resolve() == tmp_path / "runs" / "again"
    import yaml

    saved = yaml.safe_load((again.folder / "config.yaml").read_text())
    assert saved["lr"] == pytest.approx(float(rows[0]["lr"])) and saved["batch"] == int(rows[0]["batch"])
    if os.path.exists(CHROMEDRIVER) and os.path.exists(CHROMIUM):      # as the other browser tests
        _render(folder / "sweep.html", tmp_path)


def _render(page: Path, tmp_path: Path) -> None:
    driver = open_browser(tmp_path)
    try:
        driver.get(page.resolve().as_uri())
        assert driver.execute_script("return document.querySelectorAll('#trials tr').length") == 4
        images = driver.execute_script("return Array.from(document.images).map(i => [i.alt, i.complete, "
                                       "i.naturalWidth])")
        assert len(images) == 3 and all(done and width > 200 for _, done, width in images), images
        assert driver.execute_script("return document.querySelectorAll('#trials tr.best').length") == 1
        driver.save_screenshot(str(Path(os.environ.get("GRIDLAB_SCREENSHOTS", tmp_path)) / "sweep-screenshot.png"))
    finally:
        driver.quit()


def _wait_for(condition, timeout=240, proc=None):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the sweep exited early: {proc.stderr.read()[-3000:] if proc.stderr else ''}")
        time.sleep(0.2)
    raise AssertionError("timed out")


@pytest.mark.slow
@pytest.mark.xdist_group("ray")   # the tests' cluster is one worker's (tests/conftest.py, RayHead): it runs them all
def test_sweep_on_a_ray_cluster_continues_after_a_kill(tmp_path, ray_head):
    args = ["sweep", *BASE, "epochs=3", "sweep_trials=3", "sweep_cpus_per_trial=2", "report=false", "name=k",
            "--address", ray_head]
    folder = tmp_path / "runs" / "k"
    first = subprocess.Popen([sys.executable, "-m", "gridlab", *args], cwd=tmp_path, env=ENV,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        finished = lambda: [p.parent for p in folder.glob("trials/*/metrics.json")]   # noqa: E731
        _wait_for(lambda: len(finished()) >= 1 and len(list(folder.glob("trials/*/trial.log"))) >= 2, proc=first)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    done = finished()
    kept = {p: (p / "model.keras").stat().st_mtime_ns for p in done}
    second = _gridlab(*args, cwd=tmp_path)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "continuing the sweep" in second.stdout
    rows = list(csv.DictReader(open(folder / "trials.csv")))
    assert len(rows) == 3 and {r["status"] for r in rows} == {"finished"}
    for p, mtime in kept.items():        # finished before the kill: not trained again
        assert (p / "model.keras").stat().st_mtime_ns == mtime
        assert sum("started" in line for line in (p / "trial.log").read_text().splitlines()) == 1
