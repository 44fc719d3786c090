import numpy as np
import pytest

from gridlab.config import load_config
from gridlab.errors import ConfigError
from gridlab.sources import read_source
from gridlab.sources.thermal_synth import make_thermal


def test_layout_rules_and_determinism(tmp_path):
    a = make_thermal(tmp_path / "a", faces=6, not_faces=3, seed=5, progress=False)
    b = make_thermal(tmp_path / "b", faces=6, not_faces=3, seed=5, progress=False)
    files = sorted(p.relative_to(a) for p in a.rglob("*.txt"))
    assert len(files) == 9 and str(files[0]).startswith("face/202012")
    assert all((a / f).read_bytes() == (b / f).read_bytes() for f in files)
    lines = (a / files[0]).read_text().splitlines()
    assert lines[0].startswith("# gridlab synthetic thermal frame") and len(lines) == 3 + 8 + 110 + 1
    assert len(lines[3].split()) == 124 and len(lines[-1].split()) == 1


def test_data_card_makes_train_need_no_keys(tmp_path):
    out = make_thermal(tmp_path / "t", faces=8, not_faces=4, progress=False)
    config = load_config({"data": str(out)})
    assert config.grid_skip_rows == 11 and config.grid_cols == [0, 120] and config.source == "sensor_grid"
    src = read_source(config, progress=False)
    assert src.x_train.shape == (12, 110, 120, 1) and src.x_train.dtype == np.float32
    assert 15.0 < float(src.x_train.min()) and float(src.x_train.max()) < 65.0       # degrees C, not 0..1
    assert load_config({"data": str(out), "grid_skip_rows": 3}).grid_skip_rows == 3  # the user still wins


def test_data_card_only_sets_reading_keys(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "gridlab-data.yaml").write_text("epochs: 5\n")
    with pytest.raises(ConfigError, match="'epochs' cannot be set by a data folder"):
        load_config({"data": str(tmp_path / "d")})


def test_refuses_a_non_empty_folder(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "keep.txt").write_text("mine")
    with pytest.raises(ConfigError, match="exists and is not empty"):
        make_thermal(tmp_path / "x", faces=1, not_faces=1, progress=False)
    with pytest.raises(ConfigError, match="x/keep.txt: a file is there; make-thermal writes a folder"):
        make_thermal(tmp_path / "x" / "keep.txt", faces=1, not_faces=1, progress=False)
    assert (tmp_path / "x" / "keep.txt").read_text() == "mine"
