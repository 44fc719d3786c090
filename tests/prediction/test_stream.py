"""Streaming prediction into Parquet shards: the same rows as `gridlab predict`, a bad file reported and skipped,
and an interrupted job continued without predicting a file twice."""
import numpy as np
import pandas as pd
import pytest
from PIL import Image

import gridlab
from gridlab.cli import main
from gridlab.prediction import Predictor
from gridlab.prediction.stream import predict_stream
from tests.conftest import RAY_ENV, make_images, write_idx_set


@pytest.fixture(scope="module")
def run_and_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("stream")
    write_idx_set(root / "idx")
    run = gridlab.train(data="mnist", data_dir=str(root / "idx"), model="seed002_mlp", epochs=2, batch=8,
                        project=str(root / "runs"), verbose=False, report=False, audit=False)
    images, _ = make_images(70, 8, 3, seed=5)
    folder = root / "inbox"
    for i, img in enumerate(images):
        (folder / f"day{i % 3}").mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(folder / f"day{i % 3}" / f"{i:03d}.png")
    (folder / "day1" / "100-broken.png").write_bytes(b"GIF89a not an image gridlab reads")
    return run.folder, folder


def _table(out):
    return pd.read_parquet(out).sort_values("file").reset_index(drop=True)


def test_streaming_equals_predict_row_for_row_and_reports_a_bad_file(run_and_files, tmp_path, capsys):
    run, folder = run_and_files
    assert main(["predict", str(run), str(folder), "--out", "p.parquet", "--chunk", "50"]) == 3    # some failed
    out = capsys.readouterr().out
    assert "211 file(s) in p.parquet" in out and "; 1 failed" in out and "100-broken.png: expected PNG" in out
    table = _table(tmp_path / "p.parquet")
    assert len(table) == 211 and table["file"].is_unique and len(list((tmp_path / "p.parquet").glob("*.parquet"))) == 5
    bad = table[table["error"].notna()]
    assert bad["file"].tolist() == [str(folder / "day1" / "100-broken.png")] and bad["class"].isna().all()
    good = table[table["error"].isna()]
    expected = Predictor(run).predict_files(good["file"].tolist())
    assert good["class"].tolist() == [r["class"] for r in expected]
    assert np.allclose(good["probability"], [r["probability"] for r in expected], atol=1e-6)
    assert [list(t) for t in good["top_k"]] == [[t["class"] for t in r["top_k"]] for r in expected]


def test_an_interrupted_job_continues_without_predicting_a_file_twice(run_and_files, tmp_path):
    run, folder = run_and_files
    out = tmp_path / "p.parquet"
    calls = []

    def stop_after_two_shards(message):
        calls.append(message)
        if len(calls) == 2:
            raise KeyboardInterrupt         # as Ctrl-C between shards; a kill inside a chunk loses only that chunk

    with pytest.raises(KeyboardInterrupt):
        predict_stream(run, [folder], out, chunk=40, progress=stop_after_two_shards)
    first = {p.name: p.stat().st_mtime_ns for p in out.glob("part-*.parquet")}
    assert sorted(first) == ["part-00000.parquet", "part-00001.parquet"]
    assert not [p for p in out.iterdir() if p.name.startswith(".")]      # no half-written shard
    said = []
    summary = predict_stream(run, [folder], out, chunk=40, progress=said.append)
    assert said[0] == f"80 of 211 file(s) already in {out}: continuing with 131"
    assert summary["files"] == 211 and len(summary["refused"]) == 1
    table = _table(out)
    assert len(table) == 211 and table["file"].is_unique
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("part-*.parquet") if p.name in first} == first


@pytest.mark.slow
def test_a_killed_job_resumes(run_and_files, tmp_path, capsys):
    """A real SIGKILL: the job is held on a named pipe given as its last file (reading it waits for a writer that
    never comes), after five shards; it is killed there and the same command continues with the rest (in this
    process, through the same entry point: a second process would prove nothing more)."""
    import os
    import signal
    import subprocess
    import sys
    import time

    run, folder = run_and_files
    out, fifo = tmp_path / "p.parquet", tmp_path / "held.png"
    os.mkfifo(fifo)
    command = [sys.executable, "-m", "gridlab", "predict", str(run), str(folder)]
    options = ["--out", str(out), "--chunk", "40"]
    job = subprocess.Popen([*command, str(fifo), *options], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True)
    deadline = time.monotonic() + 180
    while len(list(out.glob("part-*.parquet"))) < 5 and job.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    # the sixth chunk holds the pipe, which no one writes: the job cannot finish, only wait there
    assert job.poll() is None, job.communicate()[0][-2000:]
    job.send_signal(signal.SIGKILL)
    job.wait(timeout=30)
    first = {p.name: p.stat().st_mtime_ns for p in out.glob("part-*.parquet")}
    assert sorted(first) == [f"part-0000{i}.parquet" for i in range(5)] and not (out / "_summary.json").exists()
    capsys.readouterr()
    assert main(["predict", str(run), str(folder), *options]) == 3      # done, with the one bad file as a row
    said = capsys.readouterr()
    assert f"200 of 211 file(s) already in {out}: continuing with 11" in said.out + said.err
    table = _table(out)
    assert len(table) == 211 and table["file"].is_unique
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("part-*.parquet") if p.name in first} == first


@pytest.mark.slow
@pytest.mark.xdist_group("ray")
def test_ray_data_path_on_a_ray_cluster_equals_predict_row_for_row(run_and_files, tmp_path, ray_head):
    pytest.importorskip("ray.data", reason="Ray is not installed (pip install 'gridlab[ray]')")
    import subprocess
    import sys

    run, folder = run_and_files
    # its own process, as a user runs it, on the tests' `ray start` cluster (a local Ray of gridlab's own is started
    # by the same code, which the local sweep test runs); the ONNX export is made first. Its environment is that of
    # every Ray process the tests start (RAY_ENV: no usage report, whose collecting actor Ray Data starts otherwise)
    out = subprocess.run([sys.executable, "-m", "gridlab", "predict", str(run), str(folder), "--out", "r.parquet",
                          "--chunk", "64", "--address", ray_head], cwd=tmp_path, env=RAY_ENV, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 3, out.stderr[-3000:]           # done, with the one bad file as a row
    assert "ONNX Runtime actor(s)" in out.stdout             # how many follows the cluster's CPUs
    assert "211 file(s) in r.parquet" in out.stdout and "1 failed" in out.stdout
    table = _table(tmp_path / "r.parquet")
    assert len(table) == 211 and table["file"].is_unique
    good = table[table["error"].isna()]
    assert len(good) == 210
    expected = Predictor(run).predict_files(good["file"].tolist())        # Keras; the actors run ONNX Runtime
    assert good["class"].tolist() == [r["class"] for r in expected]
    assert np.allclose(good["probability"], [r["probability"] for r in expected], atol=1e-5)
