"""``.npz`` archives with arrays ``x`` and ``y`` (optional ``x_test``/``y_test``, ``class_names``), read without
pickle and with every member's size checked before it is decompressed."""
from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from ..errors import DataFormatError
from ..files import zip_bomb


def read_npz(path: str | Path) -> dict:
    """Read a gridlab ``.npz``. Returns a dict with ``x``, ``y`` (int64 class indices), ``class_names`` (list of
    str) and, when present, ``x_test``, ``y_test``.

    Labels are whole numbers (class indices; ``class_names`` optional) or strings (class names: the classes are
    ``class_names`` in its order when given, else the labels' distinct values sorted).
    """
    path = Path(path)
    arrays = _open(path)
    _check_arrays(path, arrays)
    given = [str(c) for c in arrays["class_names"].tolist()] if "class_names" in arrays else None
    arrays["class_names"] = _labels_to_indices(path, arrays, given)
    return arrays


def _open(path: Path) -> dict:
    """Every array of the archive, after the zip-bomb check and without pickle."""
    try:
        with zipfile.ZipFile(path) as zf:
            bomb = zip_bomb(zf)
    except zipfile.BadZipFile:
        raise DataFormatError(path, "expected an .npz (zip) archive, received something else",
                              "Save the arrays with numpy.savez(path, x=..., y=...).") from None
    if bomb:
        raise DataFormatError(path, bomb, "The archive looks like a zip bomb; it was not opened.")
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except ValueError as exc:
        raise DataFormatError(path, f"cannot be read without pickle ({exc})",
                              "Store plain numeric arrays (and class_names as a string array); pickled objects "
                              "are refused because loading them can run code.") from None


def _check_arrays(path: Path, arrays: dict) -> None:
    """``x`` and ``y`` present, as many labels as examples, and numeric examples."""
    for key in ("x", "y"):
        if key not in arrays:
            raise DataFormatError(path, f"expected arrays 'x' and 'y', received {sorted(arrays)}",
                                  "Save with numpy.savez(path, x=images, y=labels).")
    for xk, yk in (("x", "y"), ("x_test", "y_test")):
        if xk in arrays and yk in arrays and len(arrays[xk]) != len(arrays[yk]):
            raise DataFormatError(path, f"'{xk}' has {len(arrays[xk]):,} examples but '{yk}' has "
                                        f"{len(arrays[yk]):,}", "Give every example exactly one label.")
    for key in ("x", "x_test"):
        if key in arrays and arrays[key].dtype.kind not in "biuf":
            raise DataFormatError(path, f"expected numbers in '{key}', received an array of dtype "
                                        f"{arrays[key].dtype}", "Store the examples as a numeric array.")


def _labels_to_indices(path: Path, arrays: dict, given: list[str] | None) -> list[str]:
    """Turn ``y`` (and ``y_test``) into int64 class indices in place; returns the class names."""
    keys = [k for k in ("y", "y_test") if k in arrays]
    if any(arrays[k].dtype.kind in "US" for k in keys):      # class names as labels
        names = given or sorted({str(v) for k in keys for v in arrays[k].tolist()})
        index = {name: i for i, name in enumerate(names)}
        for key in keys:
            values = [str(v) for v in arrays[key].tolist()]
            unknown = next((v for v in values if v not in index), None)
            if unknown is not None:
                raise DataFormatError(path, f"expected every label in '{key}' to be one of class_names "
                                            f"{names}, received {unknown!r}", "Add it to class_names.")
            arrays[key] = np.asarray([index[v] for v in values], dtype=np.int64)
        return names
    for key in keys:
        arrays[key] = _class_indices(path, key, arrays[key])
    top = max((int(arrays[k].max()) for k in keys if len(arrays[k])), default=-1)
    return given or [str(i) for i in range(top + 1)]


def _class_indices(path: Path, key: str, y: np.ndarray) -> np.ndarray:
    """Whole-number labels as int64, or a DataFormatError naming the first label that is not one."""
    if y.dtype.kind in "biu":
        return y.astype(np.int64)
    if y.dtype.kind == "f":
        bad = np.flatnonzero(~np.isfinite(y) | (y != np.round(y)))
        if not len(bad):
            return y.astype(np.int64)
        value = y[bad[0]].item()
    else:
        value, bad = (y.flat[0].item() if y.size else None), [0]
    raise DataFormatError(path, f"expected whole-number class labels or class names in '{key}', received "
                                f"{value!r} at index {int(bad[0])} (dtype {y.dtype})",
                          "Store labels as integers 0..K-1 or as strings.")
