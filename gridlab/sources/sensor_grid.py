"""Sensor grids: one text file per frame, rows of numbers (a thermal camera's per-pixel temperatures, say).

Reading rules, in order, all from ``default.yaml``'s ``grid_*`` keys: skip ``grid_skip_rows`` lines at the top;
a line with fewer than ``grid_min_values`` values is not part of the frame (blank lines never are); keep the
``grid_rows`` window of the remaining rows and the ``grid_cols`` window of each row's values. Values stay float32 at
full precision. Anything else is an error naming ``path:line``: a ragged row, a token that is not a number, NaN or
Inf, an empty file, a frame of the wrong shape.
"""
from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np

from ..errors import DataFormatError


@dataclasses.dataclass(frozen=True)
class GridFormat:
    """How to cut a frame out of a text file (the ``grid_*`` config keys)."""

    skip_rows: int = 0
    min_values: int = 0
    rows: tuple | None = None
    cols: tuple | None = None
    delimiter: str = "whitespace"
    shape: tuple | None = None

    @classmethod
    def from_config(cls, c) -> "GridFormat":
        t = lambda v: tuple(v) if v is not None else None  # noqa: E731
        return cls(c.grid_skip_rows, c.grid_min_values, t(c.grid_rows), t(c.grid_cols), c.grid_delimiter,
                   t(c.grid_shape))

    def to_dict(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(self).items()}


_SKIP_HINT = "Fix the file, or pass on_bad_file=skip to leave such frames out (they are listed in data_report.csv)."


def _tokens(line: bytes, delimiter: str) -> list[bytes]:
    if delimiter == "comma":
        line = line.strip()
        return [t.strip() for t in line.split(b",")] if line else []
    return line.split()


def parse_frame(path: str | Path, data: bytes | None = None, fmt: GridFormat = GridFormat()) -> np.ndarray:
    """Parse one frame file into a float32 array of shape (rows, cols).

    >>> parse_frame("f.txt", b"1 2 3\\n4 5 6\\n")   # doctest: +NORMALIZE_WHITESPACE
    array([[1., 2., 3.], [4., 5., 6.]], dtype=float32)
    """
    path = Path(path)
    if data is None:
        data = path.read_bytes()
    if not data.strip():
        raise DataFormatError(path, "expected rows of numbers, received an empty file", _SKIP_HINT)
    kept: list[tuple[int, list[bytes]]] = []
    for number, line in enumerate(data.split(b"\n"), start=1):
        if number <= fmt.skip_rows:
            continue
        tokens = _tokens(line, fmt.delimiter)
        if not tokens or len(tokens) < fmt.min_values:
            continue
        kept.append((number, tokens))
    if fmt.rows is not None:
        kept = kept[fmt.rows[0]:fmt.rows[1]]
    if not kept:
        raise DataFormatError(path, f"expected rows with at least {max(fmt.min_values, 1)} values after "
                                    f"{fmt.skip_rows} skipped lines, received none", _SKIP_HINT)
    width = None
    rows = []
    for number, tokens in kept:
        if fmt.cols is not None:
            start, stop = fmt.cols
            if len(tokens) < stop:
                raise DataFormatError(path, f"expected at least {stop} values in a row, received {len(tokens)}",
                                      _SKIP_HINT, line=number)
            tokens = tokens[start:stop]
        elif width is None:
            width = len(tokens)
        elif len(tokens) != width:
            raise DataFormatError(path, f"ragged rows: expected {width} values like the first row, "
                                        f"received {len(tokens)}", _SKIP_HINT, line=number)
        rows.append(_numbers(path, number, tokens))
    frame = np.asarray(rows, dtype=np.float32)
    if fmt.shape is not None and frame.shape != tuple(fmt.shape):
        raise DataFormatError(path, f"expected a frame of shape {tuple(fmt.shape)}, received {frame.shape}",
                              _SKIP_HINT)
    return frame


def _numbers(path: Path, number: int, tokens: list[bytes]) -> list[float]:
    out = []
    for column, token in enumerate(tokens, start=1):
        try:
            value = float(token)
        except ValueError:
            shown = token[:20].decode("utf-8", "replace")
            what = "an empty value (a doubled or trailing delimiter?)" if not token else f"{shown!r}"
            raise DataFormatError(path, f"expected a number in column {column}, received {what}", _SKIP_HINT,
                                  line=number) from None
        if not math.isfinite(value):
            raise DataFormatError(path, f"expected a finite number in column {column}, received {token.decode()}",
                                  _SKIP_HINT, line=number)
        out.append(value)
    return out


def write_frame(path: str | Path, frame: np.ndarray, header: list[str] = (), decimals: int = 2) -> None:
    """Write a frame as text (header lines first), atomically. The inverse of ``parse_frame`` with
    ``skip_rows=len(header)``."""
    from ..files import write_text

    body = "\n".join(" ".join(f"{v:.{decimals}f}" for v in row) for row in np.asarray(frame))
    write_text(path, "".join(h + "\n" for h in header) + body + "\n")


def parse_frames(items, fmt: GridFormat, skipped) -> tuple[np.ndarray, np.ndarray]:
    """Parse ``[(path, label), …]`` into ``(x float32 (N, rows, cols), y int64)``; bad files go to ``skipped``."""
    frames, labels = [], []
    shape = tuple(fmt.shape) if fmt.shape else None
    for path, label in items:
        try:
            frame = parse_frame(path, fmt=fmt if shape is None else dataclasses.replace(fmt, shape=shape))
        except DataFormatError as exc:
            skipped.handle(exc)
            continue
        shape = shape or frame.shape
        frames.append(frame)
        labels.append(label)
    if not frames:
        return np.zeros((0, *(shape or (0, 0))), np.float32), np.zeros(0, np.int64)
    return np.stack(frames), np.asarray(labels, dtype=np.int64)


def read_sensor_folder(root: str | Path, fmt: GridFormat = GridFormat(), pattern: str = "*.txt",
                       on_bad_file: str = "error", cache: bool = True):
    """Read a folder (or CSV manifest) of frame files.

    Returns ``(x_train, y_train, x_test|None, y_test|None, class_names, skipped)`` with x as float32 (N, rows, cols).
    With ``cache`` the parsed arrays are kept in the user cache and reused until a frame file changes.
    """
    from .grid_cache import cached
    from .layout import discover
    from .skips import Skipped

    skipped = Skipped(on_bad_file)
    train, test, class_names = discover(root, pattern, skipped)

    def parse():
        x_train, y_train = parse_frames(train, fmt, skipped)
        if len(x_train) == 0:
            raise DataFormatError(root, "expected at least one readable frame, received none", _SKIP_HINT)
        fmt_fixed = dataclasses.replace(fmt, shape=x_train.shape[1:])
        x_test, y_test = parse_frames(test, fmt_fixed, skipped) if test else (None, None)
        return {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test,
                "skipped": skipped.files}

    arrays = cached(root, [p for p, _ in train + test], {"fmt": fmt.to_dict(), "policy": on_bad_file}, parse) \
        if cache else parse()
    return (arrays["x_train"], arrays["y_train"], arrays["x_test"], arrays["y_test"], class_names,
            [tuple(s) for s in arrays["skipped"]])
