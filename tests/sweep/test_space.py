"""A bad search space is a one-line error before Ray starts or any folder is written."""
from pathlib import Path

import pytest

from gridlab.cli import main
from gridlab.sweep.space import split_items


@pytest.mark.parametrize("items, message", [
    (["epoch=[1,2]"], 'command line: unknown key \'epoch\' in the search space. Did you mean "epochs"?'),
    (["model=[seed001_cnn,nope_cnn]"], "model='nope_cnn': not a zoo model or a .yaml layer list."),
    (["lr=[fast,0.01]"], "command line: lr: lr expects float, received 'fast' (str)."),
    (["batch=[]"], "command line: batch: an empty choice; list at least one value, e.g. batch: [32]."),
    (["batch=uniform(16,64)"], "command line: batch expects int, so uniform() does not fit it; list its values"),
    (["lr=loguniform(0,0.1)"], "command line: lr: loguniform needs bounds above 0, received 0."),
    (["lr=uniform(0.1,0.01)"], "command line: lr: uniform(0.1, 0.01) needs the first bound below the second."),
    (["lr=loguniform(1e-3)"], "command line: lr: expected a list of values or uniform(a, b), loguniform(a, b), "
                              "randint(a, b); received 'loguniform(1e-3)'."),
    (["optimizer=[adam,adamax]"], "command line: optimizer: 'adamax' is not one of"),
    (["epochs=2"], "the search space is empty: give swept keys such as lr=loguniform(1e-4,1e-2)"),
    (["lr=loguniform(1e-4,1e-2)", "sweep_search=grid"], "sweep_search=grid needs lists of values; lr is a range."),
    (["tta=[true,false]"], "tta=true averages predictions over mirror images"),
])
def test_bad_space_is_one_line_before_anything_starts(items, message, capsys):
    assert main(["sweep", "data=digits", *items]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("gridlab sweep: error: ") and message in err, err
    assert not Path("runs").exists()


def test_a_space_file_is_checked_the_same_way(tmp_path, capsys):
    (tmp_path / "space.yaml").write_text("lr: loguniform(1e-4, 1e-2)\nbatch: [64, many]\n")
    assert main(["sweep", "data=digits", "sweep_space=space.yaml"]) == 2
    assert capsys.readouterr().err.strip() == ("gridlab sweep: error: space.yaml: batch: batch expects int, received "
                                               "'many' (str). Example: batch=32")


def test_split_items_keeps_list_typed_keys_as_values():
    plain, space = split_items(["image_size=[32,32]", "batch=[64,128]", "lr=loguniform(1e-4,1e-2)", "epochs=3"])
    assert plain == ["image_size=[32,32]", "epochs=3"]
    assert space == {"batch": [64, 128], "lr": "loguniform(1e-4,1e-2)"}


def test_without_ray_a_sweep_is_one_line(monkeypatch, capsys):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "ray" else real(name, *a))
    assert main(["sweep", "data=digits", "batch=[16,32]"]) == 2
    assert capsys.readouterr().err.strip() == ("gridlab sweep: error: gridlab sweep runs on Ray Tune, which is not "
                                               "installed: pip install 'gridlab[ray]'.")
    assert not Path("runs").exists()
