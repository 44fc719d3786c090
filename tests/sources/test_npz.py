import zipfile

import numpy as np
import pytest

from gridlab.errors import DataFormatError
from gridlab.sources.npz import read_npz


def test_round_trip(tmp_path):
    x = np.arange(24, dtype=np.uint8).reshape(3, 2, 4)
    np.savez(tmp_path / "d.npz", x=x, y=np.array([0, 1, 1]), class_names=np.array(["a", "b"]))
    d = read_npz(tmp_path / "d.npz")
    assert np.array_equal(d["x"], x) and d["class_names"] == ["a", "b"]


def test_pickle_is_refused(tmp_path):
    np.savez(tmp_path / "p.npz", x=np.array([{"a": 1}], dtype=object), y=np.array([0]))
    with pytest.raises(DataFormatError, match="cannot be read without pickle"):
        read_npz(tmp_path / "p.npz")


def test_zip_bomb_is_refused_before_decompression(tmp_path):
    path = tmp_path / "bomb.npz"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("x.npy", b"\x00" * 50_000_000)
    with pytest.raises(DataFormatError, match="looks like a zip bomb"):
        read_npz(path)


def test_missing_arrays_and_mismatch(tmp_path):
    np.savez(tmp_path / "a.npz", images=np.zeros(2))
    with pytest.raises(DataFormatError, match=r"expected arrays 'x' and 'y', received \['images'\]"):
        read_npz(tmp_path / "a.npz")
    np.savez(tmp_path / "b.npz", x=np.zeros((3, 2, 2)), y=np.zeros(2))
    with pytest.raises(DataFormatError, match="'x' has 3 examples but 'y' has 2"):
        read_npz(tmp_path / "b.npz")


def test_not_a_zip(tmp_path):
    (tmp_path / "c.npz").write_bytes(b"hello")
    with pytest.raises(DataFormatError, match="expected an .npz"):
        read_npz(tmp_path / "c.npz")
