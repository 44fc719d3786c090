"""Sensor grids: one text file per frame, rows of numbers (a thermal camera's per-pixel temperatures, say).

Reading rules, in order, all from ``default.yaml``'s ``grid_*`` keys: skip ``grid_skip_rows`` lines at the top;
a line with fewer than ``grid_min_values`` values is not part of the frame (blank lines never are); keep the
``grid_rows`` window of the remaining rows and the ``grid_cols`` window of each row's values. Values stay float32 at
full precision. Anything else is an error naming ``path:line``: a ragged row, a token that is not a number, NaN or
Inf, an empty file, a frame of the wrong shape.
"""
from __future__ import annotations

import dataclasses
import itertools
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


def _regular_rows(data: bytes, fmt: GridFormat) -> list[bytes] | None:
    """The frame's rows as byte lines when every kept row has the same number of spaces, else None (strict path).

    Values are counted as spaces + 1. Irregular spacing (double, leading or trailing blanks) can only over-count,
    and then pandas meets an empty field and the batch goes to the strict parser, so no value is misread. Tabs
    would under-count (a frame row could be dropped), so a file with a tab always takes the strict path.
    """
    if fmt.delimiter != "whitespace" or b"\t" in data:
        return None
    lines = data.split(b"\n")[fmt.skip_rows:]
    spaces = list(map(bytes.count, lines, itertools.repeat(b" ", len(lines))))   # values - 1, counted in C
    floor = max(fmt.min_values, 1) - 1
    keep = [i for i, n in enumerate(spaces) if n >= floor and lines[i]]
    if fmt.rows is not None:
        keep = keep[fmt.rows[0]:fmt.rows[1]]
    if not keep:
        return None
    width = spaces[keep[0]]
    if any(spaces[i] != width for i in keep) or (fmt.cols is not None and width + 1 < fmt.cols[1]):
        return None
    return [lines[i] for i in keep]


def _parse_batch(rows_per_file: list[list[bytes]], fmt: GridFormat) -> np.ndarray | None:
    """Parse many regular frames of one width in a single pandas call; None if any value is not a finite number."""
    import io

    import pandas as pd

    width = rows_per_file[0][0].count(b" ") + 1
    cols = range(*fmt.cols) if fmt.cols is not None else range(width)
    try:
        block = b"\n".join(itertools.chain.from_iterable(rows_per_file))
        table = pd.read_csv(io.BytesIO(block), sep=" ", header=None,
                            usecols=cols, dtype=np.float32, engine="c", na_filter=False).to_numpy()
    except (ValueError, pd.errors.ParserError):
        return None
    if not np.isfinite(table).all():
        return None
    return table.reshape(len(rows_per_file), len(rows_per_file[0]), len(cols))


def parse_frames(items, fmt: GridFormat, skipped, batch: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Parse ``[(path, label), …]`` into ``(x float32 (N, rows, cols), y int64)``; bad files go to ``skipped``.

    Regular files are parsed in batches by pandas' C parser (about 4x numpy's loadtxt); the rest, and any batch
    pandas rejects, go through the strict ``parse_frame``, which names the bad line.
    """
    shape = tuple(fmt.shape) if fmt.shape else None
    frames: dict[int, np.ndarray] = {}
    labels = {i: label for i, (_, label) in enumerate(items)}
    strict: list[int] = []
    for lo in range(0, len(items), batch):
        groups: dict[int, list[tuple[int, list[bytes]]]] = {}
        for i in range(lo, min(lo + batch, len(items))):
            path = items[i][0]
            try:
                rows = _regular_rows(Path(path).read_bytes(), fmt)
            except OSError:
                rows = None
            if rows is None:
                strict.append(i)
            else:
                groups.setdefault(rows[0].count(b" "), []).append((i, rows))
        for members in groups.values():
            lengths = {len(rows) for _, rows in members}
            parsed = _parse_batch([rows for _, rows in members], fmt) if len(lengths) == 1 else None
            if parsed is None:
                strict += [i for i, _ in members]
                continue
            for (i, _), frame in zip(members, parsed):
                frames[i] = frame
    for i in sorted(strict):
        try:
            frames[i] = parse_frame(items[i][0], fmt=fmt)
        except DataFormatError as exc:
            skipped.handle(exc)
    order = sorted(frames)
    if shape is None and order:
        shape = frames[order[0]].shape
    good = []
    for i in order:
        if frames[i].shape != shape:
            skipped.handle(DataFormatError(items[i][0], f"expected a frame of shape {shape} like the first frame, "
                                                        f"received {frames[i].shape}", _SKIP_HINT))
        else:
            good.append(i)
    if not good:
        return np.zeros((0, *(shape or (0, 0))), np.float32), np.zeros(0, np.int64)
    return np.stack([frames[i] for i in good]), np.asarray([labels[i] for i in good], dtype=np.int64)


def _parse_part(args):
    """Worker: parse a slice of the items and write the good frames into the shared block at their own rows."""
    from multiprocessing import shared_memory

    from .skips import Skipped

    offset, items, fmt, policy, shm_name, total = args
    skipped = Skipped(policy)
    labels = [label for _, label in items]
    indexed = [(path, i) for i, (path, _) in enumerate(items)]   # label slot carries the local index
    x, local = parse_frames(indexed, fmt, skipped)
    shm = shared_memory.SharedMemory(name=shm_name)
    try:
        out = np.ndarray((total, *fmt.shape), dtype=np.float32, buffer=shm.buf)
        rows = offset + local
        out[rows] = x
        del out
    finally:
        shm.close()
    return rows.tolist(), [labels[i] for i in local.tolist()], skipped.files


def parse_frames_parallel(items, fmt: GridFormat, skipped, workers: int | None = None, min_items: int = 1000):
    """``parse_frames`` split over processes (one per core) for large sets; the same result in the same order.
    Workers write frames into one shared-memory block, so no array is pickled between processes."""
    import os

    workers = workers or min(os.cpu_count() or 1, 8)
    if workers < 2 or len(items) < min_items:
        return parse_frames(items, fmt, skipped)
    from multiprocessing import shared_memory

    from ..pools import process_pool

    if fmt.shape is None:   # fix the shape from the first good frame so every part checks against the same one
        probe = parse_frames(items[:50], fmt, type(skipped)("skip"))[0]
        if not len(probe):
            return parse_frames(items, fmt, skipped)
        fmt = dataclasses.replace(fmt, shape=probe.shape[1:])
    total = len(items)
    shm = shared_memory.SharedMemory(create=True, size=max(1, total * int(np.prod(fmt.shape)) * 4))
    try:
        size = -(-total // workers)
        parts = [(i, items[i:i + size], fmt, skipped.policy, shm.name, total) for i in range(0, total, size)]
        with process_pool(len(parts), f"reading {total:,} frames in {len(parts)} processes") as pool:
            results = list(pool.map(_parse_part, parts))
        good = [i for g, _, _ in results for i in g]
        labels = [y for _, ys, _ in results for y in ys]
        for _, _, files in results:
            skipped.files += files
        block = np.ndarray((total, *fmt.shape), dtype=np.float32, buffer=shm.buf)
        x = block.copy() if len(good) == total else block[np.asarray(good, dtype=np.int64)]
        del block
    finally:
        shm.close()
        shm.unlink()
    return x, np.asarray(labels, dtype=np.int64)


def read_sensor_folder(root: str | Path, fmt: GridFormat = GridFormat(), pattern: str = "*.txt",
                       on_bad_file: str = "error", cache: bool = True):
    """Read a folder (or CSV manifest) of frame files into a ``FolderData`` with x as float32 (N, rows, cols).
    With ``cache`` the parsed arrays are kept in the user cache and reused until a frame file changes.
    """
    from .grid_cache import cached
    from .layout import FolderData, discover, kept_files
    from .skips import Skipped

    skipped = Skipped(on_bad_file)
    train, test, class_names = discover(root, pattern, skipped)

    def parse():
        x_train, y_train = parse_frames_parallel(train, fmt, skipped)
        if len(x_train) == 0:
            raise DataFormatError(root, "expected at least one readable frame, received none", _SKIP_HINT)
        fmt_fixed = dataclasses.replace(fmt, shape=x_train.shape[1:])
        x_test, y_test = parse_frames_parallel(test, fmt_fixed, skipped) if test else (None, None)
        return {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test,
                "skipped": skipped.files}

    arrays = cached(root, [p for p, _ in train + test], {"fmt": fmt.to_dict(), "policy": on_bad_file}, parse) \
        if cache else parse()
    skipped_files = [tuple(f) for f in arrays["skipped"]]
    return FolderData(arrays["x_train"], arrays["y_train"], arrays["x_test"], arrays["y_test"], class_names,
                      skipped_files, files=kept_files(train, skipped_files))
