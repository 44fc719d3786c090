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


def test_string_labels_become_sorted_class_names(tmp_path):
    x = np.zeros((4, 2, 2), np.uint8)
    np.savez(tmp_path / "s.npz", x=x, y=np.array(["b", "a", "b", "c"]), x_test=x[:2], y_test=np.array(["c", "a"]))
    d = read_npz(tmp_path / "s.npz")
    assert d["class_names"] == ["a", "b", "c"] and d["y"].tolist() == [1, 0, 1, 2] and d["y_test"].tolist() == [2, 0]
    np.savez(tmp_path / "n.npz", x=x, y=np.array(["b", "a", "b", "z"]), class_names=np.array(["b", "a"]))
    with pytest.raises(DataFormatError, match=r"expected every label in 'y' to be one of class_names \['b', 'a'\], "
                                              r"received 'z'. Add it to class_names."):
        read_npz(tmp_path / "n.npz")
    np.savez(tmp_path / "o.npz", x=x, y=np.array(["b", "a", "b", "a"]), class_names=np.array(["b", "a"]))
    assert read_npz(tmp_path / "o.npz")["y"].tolist() == [0, 1, 0, 1]      # the given order wins


def test_whole_float_labels_are_accepted_and_text_examples_refused(tmp_path):
    np.savez(tmp_path / "f.npz", x=np.zeros((3, 2, 2)), y=np.array([0.0, 1.0, 2.0]))
    d = read_npz(tmp_path / "f.npz")
    assert d["y"].dtype == np.int64 and d["class_names"] == ["0", "1", "2"]
    np.savez(tmp_path / "t.npz", x=np.array([["a"]] * 3), y=np.array([0, 1, 1]))
    with pytest.raises(DataFormatError, match=r"expected numbers in 'x', received an array of dtype <U1"):
        read_npz(tmp_path / "t.npz")
