"""Hostile model files are refused before Keras deserializes anything, and no code from them runs."""
import json
import zipfile

import keras
import pytest

from gridlab.errors import UnsafeModelError
from gridlab.models import build_model
from gridlab.models.io import load_model


def test_gridlab_model_round_trip(tmp_path):
    model = build_model("seed001_cnn", (8, 8, 1), 3, {"kind": "divide255", "scale": 1 / 255, "offset": 0.0}, "uint8")
    model.save(tmp_path / "m.keras")
    assert load_model(tmp_path / "m.keras").count_params() == model.count_params()


def test_lambda_with_bytecode_never_runs(tmp_path):
    marker = tmp_path / "marker.txt"
    code = f"open({str(marker)!r}, 'w').write('ran')"

    # a lambda is stored as marshalled bytecode; loading it unsafely would run the exec
    evil = lambda x: (exec(code), x)[1]  # noqa: E731,S102
    model = keras.Sequential([keras.Input((2,)), keras.layers.Lambda(evil), keras.layers.Dense(1)])
    model.save(tmp_path / "evil.keras")
    assert "__lambda__" in zipfile.ZipFile(tmp_path / "evil.keras").read("config.json").decode()
    marker.unlink(missing_ok=True)  # saving may trace the function once; only loading matters
    with pytest.raises(UnsafeModelError, match="'Lambda' is not one gridlab builds"):
        load_model(tmp_path / "evil.keras")
    assert not marker.exists()
    with pytest.raises((ValueError, TypeError)):  # Keras' own safe mode is still on afterwards
        keras.saving.load_model(tmp_path / "evil.keras")
    assert not marker.exists()


def _archive(path, config: dict, extra=None):
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("config.json", json.dumps(config))
        zf.writestr("metadata.json", "{}")
        for name, data in (extra or {}).items():
            zf.writestr(name, data)
    return path


def test_config_naming_os_system(tmp_path):
    path = _archive(tmp_path / "sys.keras", {"class_name": "system", "module": "os", "config": {"command": "id"}})
    with pytest.raises(UnsafeModelError, match="'system' is not one gridlab builds"):
        load_model(path)


def test_allowed_class_from_a_foreign_module(tmp_path):
    path = _archive(tmp_path / "m.keras", {"class_name": "Dense", "module": "evil.layers", "config": {}})
    with pytest.raises(UnsafeModelError, match="names module 'evil.layers'"):
        load_model(path)


def test_oversized_member(tmp_path):
    path = _archive(tmp_path / "bomb.keras", {"class_name": "Sequential", "config": {}},
                    {"model.weights.h5": b"\x00" * 30_000_000})
    with pytest.raises(UnsafeModelError, match="refused as a possible zip bomb"):
        load_model(path)


def test_h5_is_refused(tmp_path):
    (tmp_path / "m.h5").write_bytes(b"\x89HDF\r\n\x1a\n")
    with pytest.raises(UnsafeModelError, match=r"\.h5 model files are refused"):
        load_model(tmp_path / "m.h5")


def test_not_an_archive(tmp_path):
    (tmp_path / "m.keras").write_text("hello")
    with pytest.raises(UnsafeModelError, match="expected a .keras archive"):
        load_model(tmp_path / "m.keras")
