import re

import pytest

from gridlab.config import SPECS, load_config, parse_duration, parse_overrides
from gridlab.config.presets import PRESETS
from gridlab.errors import ConfigError


def test_defaults_are_typed_and_documented():
    c = load_config()
    assert c.epochs == 20 and c.val_split == 0.2 and c.model == "seed001_cnn"
    assert all(spec.help for spec in SPECS.values())


def test_overrides_and_types():
    c = load_config(parse_overrides(["epochs=3", "lr=1", "grid_cols=[0,120]", "name=x"]))
    assert c.epochs == 3 and c.lr == 1.0 and isinstance(c.lr, float) and c.grid_cols == [0, 120]


def test_config_is_frozen():
    import dataclasses

    config = load_config()
    with pytest.raises(dataclasses.FrozenInstanceError, match="cannot assign to field 'epochs'"):
        config.epochs = 3
    assert config.epochs == 20


def test_unknown_key_suggests():
    with pytest.raises(ConfigError, match=r"unknown key 'epoch'. Did you mean \"epochs\"\?"):
        load_config({"epoch": 3})


def test_wrong_type():
    with pytest.raises(ConfigError, match=r"epochs expects int, received 'many' \(str\). Example: epochs=20"):
        load_config({"epochs": "many"})


def test_paths_from_python_are_taken_as_their_text(tmp_path):
    c = load_config({"project": tmp_path / "runs", "data_dir": tmp_path})
    assert c.project == str(tmp_path / "runs") and c.data_dir == str(tmp_path)
    with pytest.raises(ConfigError, match="epochs expects int"):        # a path where no text is expected
        load_config({"epochs": tmp_path})


def test_bad_choice_suggests():
    with pytest.raises(ConfigError, match=r"optimizer='adamm' is not one of .* Did you mean \"adam\"\?"):
        load_config({"optimizer": "adamm"})


def test_yaml_file_then_overrides(tmp_path):
    (tmp_path / "c.yaml").write_text("epochs: 4\nbatch: 16\n")
    c = load_config({"batch": 8}, str(tmp_path / "c.yaml"))
    assert (c.epochs, c.batch) == (4, 8)


def test_bad_yaml_file(tmp_path):
    (tmp_path / "c.yaml").write_text("epochs: [\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(cfg_file=str(tmp_path / "c.yaml"))


@pytest.mark.parametrize("name", list(PRESETS))
def test_presets_resolve_to_valid_configs(name):
    c = load_config({"preset": name})
    for key, value in PRESETS[name].items():
        assert getattr(c, key) == value


def test_explicit_value_beats_preset():
    assert load_config({"preset": "fast", "epochs": 2}).epochs == 2


def test_durations_and_thresholds():
    assert parse_duration("90") == 90 and parse_duration("2m") == 120
    with pytest.raises(ConfigError, match="max_time expects a duration"):
        load_config({"max_time": "soon"})
    with pytest.raises(ConfigError, match="threshold expects f1, recall:R"):
        load_config({"threshold": "recall:2"})


def test_yaml_reads_only_true_and_false_as_booleans(tmp_path):
    from gridlab.config import load_yaml

    assert load_yaml("a: off\nb: yes\nc: True\nd: 1e-3\ne: 2\nf: 0.5") == {
        "a": "off", "b": "yes", "c": True, "d": 0.001, "e": 2, "f": 0.5}
    assert parse_overrides(["name=off", "name=no"]) == {"name": "no"}
    assert parse_overrides(["name=2024", "threshold=0.5", "lr=1e-3", "epochs=3"]) == {
        "name": "2024", "threshold": "0.5", "lr": 0.001, "epochs": 3}
    (tmp_path / "c.yaml").write_text("name: off\nverbose: false\n")
    c = load_config(cfg_file=str(tmp_path / "c.yaml"))
    assert c.name == "off" and c.verbose is False


def test_choices_come_from_default_yaml_once():
    from gridlab.config import SPECS

    assert SPECS["optimizer"].choices == ("adam", "adamw", "rmsprop", "sgd", "adagrad")
    assert SPECS["serve_runtime"].choices == ("onnx", "keras") and SPECS["threshold"].choices == ()
    with pytest.raises(ConfigError, match=r"serve_runtime='tflite' is not one of onnx, keras."):
        load_config({"serve_runtime": "tflite"})


def test_typed_view_is_current():
    """config/typed.py is generated from default.yaml; regenerate it with `python -m gridlab.config`."""
    from pathlib import Path

    import gridlab.config as config

    assert Path(config.__file__).with_name("typed.py").read_text() == config.typed_view_source()
    from gridlab.config.typed import ConfigView

    assert list(ConfigView.__annotations__) == list(config.SPECS)


def test_every_range_holds_its_default_and_presets_match_the_choices():
    ranged = {k: s for k, s in SPECS.items() if s.range}
    assert {"batch", "epochs", "val_split", "augment_shift", "sweep_concurrent"} <= set(ranged)
    assert all(s.out_of_range(s.default) is None for s in ranged.values())
    assert tuple(PRESETS) == SPECS["preset"].choices


@pytest.mark.parametrize("key, value, says", [
    ("batch", 0, "batch must be at least 1, received 0."),
    ("val_split", 1.0, "val_split must be between 0 and 1 (exclusive), received 1.0."),
    ("augment_shift", 0.5, "augment_shift must be between 0 and 0.5 (0.5 excluded), received 0.5."),
    ("lr", 0.0, "lr must be over 0, received 0.0."),
])
def test_out_of_range_values_are_refused_before_anything_is_written(key, value, says, tmp_path):
    import gridlab
    from gridlab.sweep import plan

    with pytest.raises(ConfigError, match=re.escape(says)):
        gridlab.train(data="digits", verbose=False, **{key: value})
    with pytest.raises(ConfigError, match=re.escape(says)):
        plan([f"{key}=[{value},{SPECS[key].default}]"])          # a sweep choice out of range
    assert not (tmp_path / "runs").exists()


def test_counts_outside_default_yaml_are_checked_in_one_place():
    from gridlab.config import check_count

    assert check_count("chunk", 3) == 3 and check_count("seed", 0, least=0) == 0
    for bad in (0, -1, 2.5, "3", True, None):
        with pytest.raises(ConfigError, match=rf"^chunk expects a whole number of at least 1, received {bad!r}\.$"):
            check_count("chunk", bad)


@pytest.mark.parametrize("name", ["../outside", "a/b", "a\\b", ".."])
def test_a_run_name_is_one_folder_inside_the_project(name, tmp_path):
    import gridlab

    with pytest.raises(ConfigError, match=re.escape(f"name={name!r}: expected one folder name")):
        gridlab.train(data="digits", name=name, verbose=False)
    assert not (tmp_path / "runs").exists() and not (tmp_path / "outside").exists()
