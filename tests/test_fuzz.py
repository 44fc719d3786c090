"""Random bytes into every parser: only gridlab's documented errors may come out. Round trips for images."""
import io

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from gridlab.errors import DataFormatError
from gridlab.sources.idx import read_idx
from gridlab.sources.image_folder import decode_image
from gridlab.sources.npz import read_npz
from gridlab.sources.sensor_grid import GridFormat, parse_frame

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
HEADERS = st.sampled_from([b"", b"\x00\x00\x08\x03", b"\x00\x00\x0d\x01", b"\x1f\x8b\x08\x00", b"PK\x03\x04",
                           b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"BM", b"1 2 3\n", b"\x93NUMPY"])


@FUZZ
@given(head=HEADERS, body=st.binary(max_size=300))
def test_random_bytes_into_every_parser(tmp_path, head, body):
    path = tmp_path / "f.bin"
    path.write_bytes(head + body)
    for parse in (lambda: read_idx(path), lambda: parse_frame(path), lambda: read_npz(path),
                  lambda: decode_image(path), lambda: parse_frame(path, fmt=GridFormat(delimiter="comma"))):
        try:
            parse()
        except DataFormatError:
            pass


@FUZZ
@given(st.integers(1, 12), st.integers(1, 12), st.sampled_from(["PNG", "BMP"]), st.integers(0, 2**32 - 1))
def test_lossless_image_round_trip(tmp_path, h, w, fmt, seed):
    pixels = np.random.default_rng(seed).integers(0, 256, (h, w), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format=fmt)
    assert np.array_equal(decode_image(tmp_path / "x", buf.getvalue())[..., 0], pixels)


@FUZZ
@given(st.integers(1, 5), st.integers(1, 5), st.integers(0, 2**32 - 1))
def test_npz_round_trip(tmp_path, n, k, seed):
    rng = np.random.default_rng(seed)
    x, y = rng.random((n, 3, 3)).astype(np.float32), rng.integers(0, k, n)
    np.savez(tmp_path / "d.npz", x=x, y=y)
    out = read_npz(tmp_path / "d.npz")
    assert np.array_equal(out["x"], x) and np.array_equal(out["y"], y)
