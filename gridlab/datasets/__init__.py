"""Datasets: arrays from a source -> train / validation / test splits, a scaling rule and class names.

Splits are stratified and seeded. Scaling is decided here from the data and the config, and is later built into
the model as its first layer, so prediction and exports apply exactly the same transform:

- ``divide255``: x / 255 (8-bit images; the default for uint8 data);
- ``standardize``: (x - mean) / std with one mean and std learned from the training split (sensor grids: the
  values keep their units on disk, e.g. degrees C);
- ``per_frame``: every example shifted and scaled to mean 0, std 1 on its own (removes a sensor's drift between
  frames; a parameter-free LayerNormalization over height, width and channels);
- ``none``: values used as they are.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from ..config import SPECS
from ..errors import ConfigError


@dataclasses.dataclass
class Dataset:
    name: str
    kind: str                       # "image" or "grid"
    class_names: list
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    scaling: dict                   # {"kind": ..., "scale": s, "offset": o}: model input = x * scale + offset
    origin: str = ""
    test_origin: str = "held out"   # "given" when the data came with a test split
    skipped: list = dataclasses.field(default_factory=list)
    reader: dict = dataclasses.field(default_factory=dict)
    notices: list = dataclasses.field(default_factory=list)
    ignored: list = dataclasses.field(default_factory=list)   # (path, reason): files in the folders that are not data
    # where each training / validation example came from: its position in the source's training arrays, and the
    # source's file per position (folder sources; else None)
    train_index: np.ndarray | None = None
    val_index: np.ndarray | None = None
    files: list | None = None

    @property
    def input_shape(self) -> tuple:
        return tuple(self.x_train.shape[1:])

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def counts(self) -> dict:
        """Examples per class and split: {"train": [...], "val": [...], "test": [...]}."""
        return {split: np.bincount(y, minlength=self.num_classes).tolist()
                for split, y in (("train", self.y_train), ("val", self.y_val), ("test", self.y_test))}


def stratified_split(y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (keep, held_out) with ``fraction`` of every class held out (at least one per class with 2+ examples).

    >>> keep, out = stratified_split(np.array([0] * 8 + [1] * 2), 0.5, seed=0)
    >>> sorted(np.bincount(np.array([0] * 8 + [1] * 2)[out]).tolist())
    [1, 4]
    """
    rng = np.random.default_rng(seed)
    keep, held = [], []
    for label in np.unique(y):
        idx = np.flatnonzero(y == label)
        rng.shuffle(idx)
        n_out = int(round(len(idx) * fraction))
        n_out = min(max(n_out, 1 if len(idx) >= 2 else 0), len(idx) - 1) if len(idx) > 1 else 0
        held.append(idx[:n_out])
        keep.append(idx[n_out:])
    keep, held = np.concatenate(keep), np.concatenate(held)
    return rng.permutation(keep), rng.permutation(held)


def choose_scaling(kind: str, x_train: np.ndarray) -> dict:
    """The scaling rule for ``kind`` (auto, divide255, standardize, none) computed from the training split."""
    if kind == "auto":
        kind = "divide255" if x_train.dtype == np.uint8 else "standardize"
    if kind == "divide255":
        return {"kind": "divide255", "scale": 1.0 / 255.0, "offset": 0.0}
    if kind == "standardize":
        mean = float(x_train.mean(dtype=np.float64))
        std = float(x_train.std(dtype=np.float64)) or 1.0
        return {"kind": "standardize", "scale": 1.0 / std, "offset": -mean / std, "mean": mean, "std": std}
    if kind == "per_frame":
        return {"kind": "per_frame", "scale": 1.0, "offset": 0.0}
    if kind == "none":
        return {"kind": "none", "scale": 1.0, "offset": 0.0}
    raise ConfigError(f"scaling={kind!r} is not one of {', '.join(SPECS['scaling'].choices)}.")


def build_dataset(source, config) -> Dataset:
    """Split a ``SourceData`` into train / validation / test and choose its scaling (see the module docstring)."""
    x, y = source.x_train, source.y_train
    at = np.arange(len(y))             # positions in the source's training arrays, carried through every split
    notices = list(source.notices)
    if source.x_test is not None and len(source.x_test):
        x_test, y_test, test_origin = source.x_test, source.y_test, "given"
    else:
        keep, held = stratified_split(y, config.test_split, config.seed)
        x_test, y_test, test_origin = x[held], y[held], f"held out ({config.test_split:.0%}, stratified)"
        x, y, at = x[keep], y[keep], at[keep]
    if config.limit is not None and config.limit < len(y):
        keep, _ = stratified_split(y, 1.0 - config.limit / len(y), config.seed + 1)
        x, y, at = x[keep], y[keep], at[keep]
        notices.append(f"limit={config.limit}: training on {len(y):,} examples.")
    keep, held = stratified_split(y, config.val_split, config.seed + 2)
    if len(held) == 0:
        raise ConfigError(f"val_split={config.val_split} leaves no validation examples out of {len(y)}; "
                          "use more data or a larger val_split.")
    return Dataset(source.name, source.kind, list(source.class_names), x[keep], y[keep], x[held], y[held],
                   x_test, y_test, choose_scaling(config.scaling, x[keep]), source.origin, test_origin,
                   list(source.skipped), dict(source.reader), notices, list(source.ignored),
                   at[keep], at[held], source.files)


def load_dataset(config=None, **overrides) -> Dataset:
    """Read and split the data set a config names.

    >>> ds = load_dataset(data="digits")     # doctest: +SKIP
    >>> ds.input_shape, ds.num_classes
    ((8, 8, 1), 10)
    """
    from ..config import load_config
    from ..sources import read_source

    config = config if config is not None else load_config(overrides)
    return build_dataset(read_source(config, progress=config.verbose), config)
