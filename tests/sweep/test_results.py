"""A sweep's outputs from Ray Tune's results (stand-ins with the same attributes) and trial folders written by hand:
rows ranked by the metric, statuses, trials.csv and best.yaml."""
import csv
import types

from gridlab import runs
from gridlab.config import load_config, save_config
from gridlab.sweep.results import collect, write_best, write_trials_csv
from tests.test_runs import write_run


def _result(folder, trial, lr, error=None):
    return types.SimpleNamespace(path=str(folder / "ray" / trial), config={"lr": lr}, metrics={"trial_id": trial},
                                 error=error)


def test_rows_rank_by_the_metric_and_say_what_happened(tmp_path):
    trials = tmp_path / "trials"
    write_run(trials / "t1", "t1", accuracy=0.8, epochs=2)                 # val_loss 1.0, 0.5
    write_run(trials / "t2", "t2", accuracy=0.9, epochs=4)                 # best val_loss 0.25
    runs.write_history(trials / "t3", [{"epoch": 1, "val_loss": 0.9}])     # stopped after one epoch
    save_config(load_config({"data": "digits", "lr": 0.01, "name": "t2", "project": str(trials)}),
                trials / "t2" / runs.CONFIG)
    grid = [_result(tmp_path, t, lr) for t, lr in (("t1", 0.1), ("t2", 0.01), ("t3", 0.001))]
    grid.append(_result(tmp_path, "t4", 0.5, error=RuntimeError("out of memory\nmore")))
    rows = collect(tmp_path, grid, {"lr": None}, "val_loss", "min")
    assert [(r["trial"], r["val_loss"], r["status"]) for r in rows] == [
        ("t2", 0.25, "finished"), ("t1", 0.5, "finished"), ("t3", 0.9, "stopped after epoch 1"),
        ("t4", None, "error")]
    assert rows[0]["test_accuracy"] == 0.9 and rows[0]["seconds"] == 2.5 and rows[3]["error"] == "out of memory"
    table = list(csv.DictReader(open(write_trials_csv(tmp_path, rows, {"lr": None}, "val_loss"))))
    assert [(r["trial"], r["lr"], r["status"]) for r in table][:2] == [("t2", "0.01", "finished"),
                                                                       ("t1", "0.1", "finished")]
    best = write_best(tmp_path, rows[0]).read_text()
    assert "lr: 0.01" in best and "name:" not in best and f"gridlab train --cfg {tmp_path / 'best.yaml'}" in best
