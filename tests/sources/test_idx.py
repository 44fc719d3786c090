import gzip
import subprocess
import sys

import numpy as np
import pytest

from gridlab.errors import DataFormatError
from gridlab.sources.idx import read_idx, write_idx


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("name", ["a.idx", "a.idx.gz"])
def test_round_trip(tmp_path, dtype, name):
    x = (np.arange(2 * 3 * 4) - 5).astype(dtype).reshape(2, 3, 4)
    write_idx(tmp_path / name, x)
    back = read_idx(tmp_path / name)
    assert back.dtype == np.dtype(dtype) and np.array_equal(back, x)


def _raw(path, data: bytes):
    path.write_bytes(data)
    return path


def test_wrong_magic(tmp_path):
    with pytest.raises(DataFormatError, match=r"magic number: expected .*0x00 0x00, received 0x12 0x34"):
        read_idx(_raw(tmp_path / "f", b"\x12\x34\x08\x01\x00\x00\x00\x01\x00"))


def test_unknown_type_code(tmp_path):
    with pytest.raises(DataFormatError, match=r"type code: expected one of .* received 0x07"):
        read_idx(_raw(tmp_path / "f", b"\x00\x00\x07\x01\x00\x00\x00\x01\x00"))


def test_too_many_dimensions(tmp_path):
    with pytest.raises(DataFormatError, match=r"dimensions: expected 1 to 4, received 9"):
        read_idx(_raw(tmp_path / "f", b"\x00\x00\x08\x09" + b"\x00\x00\x00\x01" * 9 + b"\x00"))


def test_byte_count_mismatch(tmp_path):
    with pytest.raises(DataFormatError, match=r"declares shape \(3,\) \(11 bytes\), the file has 10 bytes"):
        read_idx(_raw(tmp_path / "f", b"\x00\x00\x08\x01\x00\x00\x00\x03\x01\x02"))


def test_truncated_gzip_reports_bytes(tmp_path):
    x = np.random.default_rng(0).integers(0, 255, (50, 28, 28), dtype=np.uint8)
    write_idx(tmp_path / "full.gz", x)
    data = (tmp_path / "full.gz").read_bytes()
    _raw(tmp_path / "cut.gz", data[: len(data) // 2])
    with pytest.raises(DataFormatError, match=r"cut.gz: gzip data is truncated: expected 39,216 bytes after "
                                              r"decompression, received [\d,]+"):
        read_idx(tmp_path / "cut.gz")


def test_html_page_saved_as_gz(tmp_path):
    with pytest.raises(DataFormatError, match="HTML page"):
        read_idx(_raw(tmp_path / "train-images-idx3-ubyte.gz", b"<!DOCTYPE html><html>Not found</html>"))


def test_gzip_bomb_is_stopped_at_declared_size(tmp_path):
    header = b"\x00\x00\x08\x01\x00\x00\x00\x04"
    _raw(tmp_path / "bomb.gz", gzip.compress(header + b"\x00" * 10_000_000))
    with pytest.raises(DataFormatError, match="decompresses to more than the 12 bytes its header declares"):
        read_idx(tmp_path / "bomb.gz")


def test_expected_ndim(tmp_path):
    write_idx(tmp_path / "labels.gz", np.zeros(3, np.uint8))
    with pytest.raises(DataFormatError, match=r"expected 3 dimension\(s\), received 1"):
        read_idx(tmp_path / "labels.gz", ndim=3)


def test_errors_survive_python_O(tmp_path):
    """Checks are real code, not asserts: they still fire under ``python -O``."""
    bad = _raw(tmp_path / "f", b"\x12\x34\x08\x01\x00\x00\x00\x01\x00")
    code = ("import sys; from gridlab.sources.idx import read_idx\n"
            "from gridlab.errors import DataFormatError\n"
            f"try:\n    read_idx({str(bad)!r})\nexcept DataFormatError as e:\n    print('raised', e)\n")
    out = subprocess.run([sys.executable, "-O", "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("raised") and "magic number" in out.stdout
