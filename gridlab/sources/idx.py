"""Strict reader and writer of IDX files (the MNIST format), raw or gzip-compressed.

Layout: two zero bytes, a type code, the number of dimensions, then each dimension as a big-endian uint32, then the
values in big-endian order. Every field is checked and the byte count must match the header exactly.
"""
from __future__ import annotations

import gzip
import os
import struct
import zlib
from pathlib import Path

import numpy as np

from ..errors import DataFormatError

TYPE_CODES = {0x08: np.dtype(">u1"), 0x09: np.dtype(">i1"), 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
              0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
MAX_DIMS = 4


def _decompress(path: Path, raw: bytes, limit: int) -> bytes:
    """Gunzip ``raw`` but never beyond ``limit`` bytes (the size the header declares), so a gzip bomb cannot
    exhaust memory."""
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    out = bytearray()
    pending = raw
    try:
        while pending and not d.eof:
            out += d.decompress(pending, limit + 1 - len(out))  # max_length >= 1 here: 0 would mean unlimited
            if len(out) > limit:
                raise DataFormatError(path, f"decompresses to more than the {limit:,} bytes its header declares",
                                      "The file is corrupt or not an IDX file; download it again.")
            pending = d.unconsumed_tail
    except zlib.error as exc:
        raise DataFormatError(path, f"not a valid gzip file ({exc})", "Delete it and download it again.") from None
    if not d.eof:
        raise DataFormatError(path, f"gzip data is truncated: expected {limit:,} bytes after decompression, "
                                    f"received {len(out):,}",
                              "The download was cut short; delete it and download it again.")
    return bytes(out)


def _header(path: Path, head: bytes) -> tuple[np.dtype, tuple[int, ...], int]:
    if len(head) < 4:
        raise DataFormatError(path, f"expected an IDX header of at least 4 bytes, received {len(head)} bytes",
                              "The file is empty or truncated; download it again.")
    if head[0] != 0 or head[1] != 0:
        raise DataFormatError(path, f"magic number: expected the first two bytes to be 0x00 0x00, "
                                    f"received 0x{head[0]:02x} 0x{head[1]:02x}",
                              "This is not an IDX file (or a failed download); download it again.")
    code, ndim = head[2], head[3]
    if code not in TYPE_CODES:
        raise DataFormatError(path, f"type code: expected one of {', '.join(f'0x{c:02X}' for c in TYPE_CODES)}, "
                                    f"received 0x{code:02X}", "The file is corrupt; download it again.")
    if not 1 <= ndim <= MAX_DIMS:
        raise DataFormatError(path, f"dimensions: expected 1 to {MAX_DIMS}, received {ndim}",
                              "The file is corrupt; download it again.")
    header_len = 4 + 4 * ndim
    if len(head) < header_len:
        raise DataFormatError(path, f"header: expected {header_len} bytes for {ndim} dimensions, "
                                    f"received {len(head)}", "The file is truncated; download it again.")
    shape = struct.unpack(f">{ndim}I", head[4:header_len])
    return TYPE_CODES[code], shape, header_len


def read_idx(path: str | os.PathLike, ndim: int | None = None) -> np.ndarray:
    """Read an IDX file (``.gz`` recognised by content) into a native-endian numpy array.

    Args:
        path: the file.
        ndim: the number of dimensions the caller needs (3 for images, 1 for labels), checked when given.

    Raises:
        DataFormatError: on a bad magic number, type code, dimension count, or a byte count that does not match.

    >>> read_idx("t10k-labels-idx1-ubyte.gz", ndim=1)   # doctest: +SKIP
    array([7, 2, 1, ...], dtype=uint8)
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataFormatError(path, f"cannot be read ({exc.strerror})", "Check the path and permissions.") from None
    if raw[:2] == b"\x1f\x8b":
        # The header is at most 20 bytes; read it first to learn the size the whole file must have.
        try:
            head = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(raw[:4096], 4 + 4 * MAX_DIMS)
        except zlib.error as exc:
            raise DataFormatError(path, f"not a valid gzip file ({exc})", "Delete it and download it again.") from None
        dtype, shape, header_len = _header(path, head)
        expected = header_len + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        raw = _decompress(path, raw, expected)
    else:
        if raw[:1] == b"<" or raw[:5].lower() == b"<!doc":
            raise DataFormatError(path, "expected an IDX file, received text that looks like an HTML page",
                                  "A download failed; delete the file and download it again.")
        dtype, shape, header_len = _header(path, raw[:4 + 4 * MAX_DIMS])
        expected = header_len + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) != expected:
        raise DataFormatError(path, f"byte count: the header declares shape {tuple(shape)} "
                                    f"({expected:,} bytes), the file has {len(raw):,} bytes",
                              "The file is truncated or corrupt; download it again.")
    if ndim is not None and len(shape) != ndim:
        raise DataFormatError(path, f"expected {ndim} dimension(s), received {len(shape)} {tuple(shape)}",
                              "Check that images and labels files are not swapped.")
    array = np.frombuffer(raw, dtype=dtype, offset=header_len).reshape(shape)
    return array.astype(dtype.newbyteorder("="), copy=True)


def write_idx(path: str | os.PathLike, array: np.ndarray, compress: bool | None = None) -> None:
    """Write ``array`` as an IDX file (gzip when ``compress`` or the name ends in ``.gz``), atomically."""
    from ..files import write_bytes

    path = Path(path)
    array = np.asarray(array)
    code = next((c for c, dt in TYPE_CODES.items() if dt.newbyteorder("=") == array.dtype.newbyteorder("=")), None)
    if code is None:
        raise ValueError(f"IDX cannot store dtype {array.dtype}")
    if not 1 <= array.ndim <= MAX_DIMS:
        raise ValueError(f"IDX stores 1 to {MAX_DIMS} dimensions, received {array.ndim}")
    data = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    data += array.astype(TYPE_CODES[code], copy=False).tobytes()
    if compress if compress is not None else path.suffix == ".gz":
        data = gzip.compress(data, mtime=0)
    write_bytes(path, data)
