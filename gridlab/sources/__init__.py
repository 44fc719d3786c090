"""Sources: files -> numpy arrays plus class names. One reader per format; ``read_source`` picks the reader.

Every reader's output becomes a ``SourceData``: images as uint8 (N, H, W, C), sensor grids as float32
(N, rows, cols, 1), integer labels, the class names, where the data came from, and the files left out.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from ..errors import ConfigError, DataFormatError, DataNotFoundError
from .catalog import CATALOG


@dataclasses.dataclass
class SourceData:
    name: str
    kind: str                      # "image" or "grid"
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray | None
    y_test: np.ndarray | None
    class_names: list
    origin: str
    skipped: list = dataclasses.field(default_factory=list)
    reader: dict = dataclasses.field(default_factory=dict)   # how to read one more example the same way
    notices: list = dataclasses.field(default_factory=list)
    ignored: list = dataclasses.field(default_factory=list)   # (path, reason): files that are not data
    files: list | None = None       # each training example's file (folder sources), in order; None for arrays


def _channels(x: np.ndarray) -> np.ndarray:
    return x[..., None] if x is not None and x.ndim == 3 else x


def detect_source(data: str) -> str:
    """The reader for a ``data`` value: idx, digits, npz, image_folder or sensor_grid."""
    if data in CATALOG:
        return "idx"
    if data == "digits":
        return "digits"
    path = Path(data)
    if path.suffix.lower() == ".npz":
        return "npz"
    if not path.exists():
        raise DataNotFoundError(f"{data}: no such data set or path. Use fashion-mnist, mnist, digits, a folder of "
                                "class sub-folders, a CSV manifest or an .npz file (`gridlab datasets` lists them).")
    if path.suffix.lower() == ".csv":
        return "sensor_grid"
    return "sensor_grid" if _mostly_text(path) else "image_folder"


def _mostly_text(folder: Path, sample: int = 400) -> bool:
    """True when a folder's files are mostly text frames (.txt/.csv/.dat that are not images) rather than
    images; a stray notes.txt in an image folder does not make it a sensor-grid set."""
    import itertools

    from .image_folder import looks_like_image
    from .layout import visible_files

    text = images = 0
    for p in itertools.islice(visible_files(folder), sample):
        if looks_like_image(p):
            images += 1
        elif p.suffix.lower() in (".txt", ".csv", ".dat"):
            text += 1
    return text > images


def _read_idx(data: str, config, progress: bool) -> SourceData:
    from .catalog import load_idx_set

    if data not in CATALOG:
        raise ConfigError(f"source=idx needs data=mnist or data=fashion-mnist, received {data!r}.")
    xtr, ytr, xte, yte, names, folder = load_idx_set(data, config.data_dir, config.download, progress)
    return SourceData(data, "image", xtr, ytr, xte, yte, list(names), str(folder))


def _read_digits(data: str, config, progress: bool) -> SourceData:
    from .digits import load_digits_arrays

    x, y, names = load_digits_arrays()
    return SourceData("digits", "image", x, y, None, None, names, "scikit-learn (bundled)")


def _read_npz(data: str, config, progress: bool) -> SourceData:
    from .npz import read_npz

    arrays = read_npz(data)
    kind = "image" if arrays["x"].dtype == np.uint8 else "grid"
    return SourceData(Path(data).stem, kind, arrays["x"], arrays["y"], arrays.get("x_test"), arrays.get("y_test"),
                      arrays["class_names"], str(Path(data).resolve()))


def _read_image_folder(data: str, config, progress: bool) -> SourceData:
    from .image_folder import read_image_folder

    f = read_image_folder(data, config.color, config.image_size, config.on_bad_file)
    return SourceData(Path(data).name, "image", f.x_train, f.y_train, f.x_test, f.y_test, f.class_names,
                      str(Path(data).resolve()), f.skipped, reader={"color": config.color,
                                                                    "size": list(f.x_train.shape[1:3])},
                      ignored=f.ignored, files=f.files)


def _read_sensor_grid(data: str, config, progress: bool) -> SourceData:
    from .sensor_grid import GridFormat, read_sensor_folder

    fmt = GridFormat.from_config(config)
    f = read_sensor_folder(data, fmt, config.grid_glob, config.on_bad_file, cache=config.grid_cache)
    fixed = dataclasses.replace(fmt, shape=tuple(f.x_train.shape[1:3]))
    return SourceData(Path(data).name, "grid", f.x_train, f.y_train, f.x_test, f.y_test, f.class_names,
                      str(Path(data).resolve()), f.skipped, reader={"grid": fixed.to_dict()}, files=f.files)


READERS = {"idx": _read_idx, "digits": _read_digits, "npz": _read_npz, "image_folder": _read_image_folder,
           "sensor_grid": _read_sensor_grid}


def read_source(config, progress: bool = True) -> SourceData:
    """Read the data set named by ``config.data`` with the reader ``config.source`` (or the detected one), then
    check what every classifier needs: one label per example, labels that name a class, two or more classes with
    enough examples for the splits, and finite values."""
    from .catalog import locate

    data, notices = config.data, []
    if data == "auto":
        if locate("fashion-mnist", config.data_dir):
            data = "fashion-mnist"
        else:
            data = "digits"
            notices.append("Fashion-MNIST was not found (apt-get install dataset-fashion-mnist, or data_dir=...); "
                           "using scikit-learn's bundled 8x8 digits instead.")
    source = config.source if config.source != "auto" else detect_source(data)
    out = READERS[source](data, config, progress)
    out.x_train, out.x_test = _channels(out.x_train), _channels(out.x_test)
    if len(out.x_train) != len(out.y_train):
        raise DataFormatError(out.origin, f"expected one label per example, received {len(out.x_train):,} "
                                          f"examples and {len(out.y_train):,} labels", "Fix the data set.")
    for labels in (out.y_train, out.y_test):
        if labels is not None and len(labels) and (labels.min() < 0 or labels.max() >= len(out.class_names)):
            raise DataFormatError(out.origin, f"expected labels 0 to {len(out.class_names) - 1} for "
                                              f"{len(out.class_names)} classes, received {labels.min()} to "
                                              f"{labels.max()}", "Give every label a class name.")
    if out.files is not None and len(out.files) != len(out.x_train):   # a reader's bug: never name wrong files
        raise AssertionError(f"{out.origin}: {len(out.files)} file names for {len(out.x_train)} examples")
    _check_classes(out)
    for name, x in (("x", out.x_train), ("x_test", out.x_test)):
        check_finite(x, out.origin, name)
    if skipped_count := len(out.skipped):
        notices.append(f"{skipped_count} file(s) were left out (on_bad_file=skip); see data_report.csv.")
    if out.ignored:
        notices.append(f"{len(out.ignored)} file(s) that are not images were ignored (first: "
                       f"{out.ignored[0][0]}); see data_report.csv.")
    out.notices = notices + out.notices
    return out


def _check_classes(out: SourceData) -> None:
    """A classifier needs two or more classes, each with an example for every split the training data will be cut
    into. A class with no examples at all is allowed (a named set such as mnist used with a few of its classes)."""
    counts = np.bincount(out.y_train, minlength=len(out.class_names))
    if out.y_test is not None and len(out.y_test):
        needed, splits = 2, "training and validation splits"
    else:
        needed, splits = 3, "training, validation and test splits"
    present = np.flatnonzero(counts)
    if len(present) < 2:
        only = (f" (class {out.class_names[present[0]]!r}, {counts[present[0]]:,} examples)" if len(present) else "")
        raise DataFormatError(out.origin, f"expected examples of at least 2 classes, received {len(present)}{only}",
                              "A classifier needs two or more classes: add examples of another class.")
    few = [i for i in present if counts[i] < needed]
    if few:
        i = few[0]
        raise DataFormatError(out.origin, f"expected at least {needed} examples of every class (one for each of "
                                          f"the {splits}), received {counts[i]} of class {out.class_names[i]!r}"
                                          + (f" and too few of {len(few) - 1} more" if len(few) > 1 else ""),
                              "Add examples of that class, or remove it.")


def check_finite(x: np.ndarray | None, origin: str, name: str = "x", chunk: int = 4096) -> None:
    """Raise a DataFormatError naming the first example of ``x`` that holds NaN or inf (checked in chunks, so a
    large array needs no second copy in memory)."""
    if x is None or x.dtype.kind != "f" or not len(x):
        return
    bad, first = 0, None
    for start in range(0, len(x), chunk):
        part = x[start:start + chunk]
        rows = ~np.isfinite(part).reshape(len(part), -1).all(axis=1)
        if rows.any():
            bad += int(rows.sum())
            first = start + int(np.argmax(rows)) if first is None else first
    if first is not None:
        value = x[first][~np.isfinite(x[first])].flat[0]
        raise DataFormatError(origin, f"expected finite numbers, received {value} in {name}[{first}] ({bad:,} of "
                                      f"{len(x):,} examples hold NaN or inf)",
                              "Repair or drop those examples before training.")
