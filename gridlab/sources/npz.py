"""``.npz`` archives with arrays ``x`` and ``y`` (optional ``x_test``/``y_test``, ``class_names``), read without
pickle and with every member's size checked before it is decompressed."""
from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from ..errors import DataFormatError

MAX_MEMBER_BYTES = 4 << 30   # 4 GiB decompressed per array
MAX_RATIO = 1000             # decompressed / compressed; a higher ratio is a zip bomb


def read_npz(path: str | Path) -> dict:
    """Read a gridlab ``.npz``. Returns a dict with ``x``, ``y`` and, when present, ``x_test``, ``y_test``,
    ``class_names`` (list of str)."""
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                if info.file_size > MAX_MEMBER_BYTES or (
                        info.compress_size and info.file_size / info.compress_size > MAX_RATIO):
                    raise DataFormatError(path, f"member {info.filename} would decompress to {info.file_size:,} "
                                                f"bytes from {info.compress_size:,}; at most {MAX_MEMBER_BYTES:,} "
                                                f"bytes and a ratio of {MAX_RATIO} are allowed",
                                          "The archive looks like a zip bomb; it was not opened.")
    except zipfile.BadZipFile:
        raise DataFormatError(path, "expected an .npz (zip) archive, received something else",
                              "Save the arrays with numpy.savez(path, x=..., y=...).") from None
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except ValueError as exc:
        raise DataFormatError(path, f"cannot be read without pickle ({exc})",
                              "Store plain numeric arrays (and class_names as a string array); pickled objects "
                              "are refused because loading them can run code.") from None
    for key in ("x", "y"):
        if key not in arrays:
            raise DataFormatError(path, f"expected arrays 'x' and 'y', received {sorted(arrays)}",
                                  "Save with numpy.savez(path, x=images, y=labels).")
    for xk, yk in (("x", "y"), ("x_test", "y_test")):
        if xk in arrays and yk in arrays and len(arrays[xk]) != len(arrays[yk]):
            raise DataFormatError(path, f"'{xk}' has {len(arrays[xk]):,} examples but '{yk}' has "
                                        f"{len(arrays[yk]):,}", "Give every example exactly one label.")
    if "class_names" in arrays:
        arrays["class_names"] = [str(c) for c in arrays["class_names"].tolist()]
    return arrays
