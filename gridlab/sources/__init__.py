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
    files = [p for p in (path.rglob("*") if path.is_dir() else []) if p.is_file()][:50]
    if path.suffix.lower() == ".csv" or any(p.suffix.lower() in (".txt", ".csv", ".dat") for p in files):
        return "sensor_grid"
    return "image_folder"


def read_source(config, progress: bool = True) -> SourceData:
    """Read the data set named by ``config.data`` with the reader ``config.source`` (or the detected one)."""
    from .catalog import locate, load_idx_set

    data, notices = config.data, []
    if data == "auto":
        if locate("fashion-mnist", config.data_dir):
            data = "fashion-mnist"
        else:
            data = "digits"
            notices.append("Fashion-MNIST was not found (apt-get install dataset-fashion-mnist, or data_dir=...); "
                           "using scikit-learn's bundled 8x8 digits instead.")
    source = config.source if config.source != "auto" else detect_source(data)
    if source == "idx":
        if data not in CATALOG:
            raise ConfigError(f"source=idx needs data=mnist or data=fashion-mnist, received {data!r}.")
        xtr, ytr, xte, yte, names, folder = load_idx_set(data, config.data_dir, config.download, progress)
        out = SourceData(data, "image", xtr, ytr, xte, yte, list(names), str(folder))
    elif source == "digits":
        from .digits import load_digits_arrays

        x, y, names = load_digits_arrays()
        out = SourceData("digits", "image", x, y, None, None, names, "scikit-learn (bundled)")
    elif source == "npz":
        from .npz import read_npz

        arrays = read_npz(data)
        x = arrays["x"]
        kind = "image" if x.dtype == np.uint8 else "grid"
        n_classes = int(max(arrays["y"].max(), arrays.get("y_test", arrays["y"]).max())) + 1
        names = arrays.get("class_names") or [str(i) for i in range(n_classes)]
        out = SourceData(Path(data).stem, kind, x, arrays["y"].astype(np.int64), arrays.get("x_test"),
                         arrays.get("y_test"), names, str(Path(data).resolve()))
    elif source == "image_folder":
        from .image_folder import read_image_folder

        xtr, ytr, xte, yte, names, skipped = read_image_folder(data, config.color, config.image_size,
                                                               config.on_bad_file)
        out = SourceData(Path(data).name, "image", xtr, ytr, xte, yte, names, str(Path(data).resolve()), skipped,
                         reader={"color": config.color, "size": list(xtr.shape[1:3])})
    elif source == "sensor_grid":
        from .sensor_grid import GridFormat, read_sensor_folder

        fmt = GridFormat.from_config(config)
        xtr, ytr, xte, yte, names, skipped = read_sensor_folder(data, fmt, config.grid_glob, config.on_bad_file,
                                                                cache=config.grid_cache)
        fixed = dataclasses.replace(fmt, shape=tuple(xtr.shape[1:3]))
        out = SourceData(Path(data).name, "grid", xtr, ytr, xte, yte, names, str(Path(data).resolve()), skipped,
                         reader={"grid": fixed.to_dict()})
    else:  # pragma: no cover - config validation rejects other values
        raise ConfigError(f"unknown source {source!r}")
    out.x_train, out.x_test = _channels(out.x_train), _channels(out.x_test)
    if len(out.x_train) != len(out.y_train):
        raise DataFormatError(out.origin, f"expected one label per example, received {len(out.x_train):,} "
                                          f"examples and {len(out.y_train):,} labels", "Fix the data set.")
    for labels in (out.y_train, out.y_test):
        if labels is not None and len(labels) and (labels.min() < 0 or labels.max() >= len(out.class_names)):
            raise DataFormatError(out.origin, f"expected labels 0 to {len(out.class_names) - 1} for "
                                              f"{len(out.class_names)} classes, received {labels.min()} to "
                                              f"{labels.max()}", "Give every label a class name.")
    if skipped_count := len(out.skipped):
        notices.append(f"{skipped_count} file(s) were left out (on_bad_file=skip); see data_report.csv.")
    out.notices = notices + out.notices
    return out
