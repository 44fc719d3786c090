"""A cache of parsed sensor-grid arrays, so a second load of the same frames takes a fraction of a second.

The key is a SHA-256 of the reading options and of every frame file's path, size and modification time (ns), so
changing, adding or removing any file makes a new key. An entry is two files in the user cache folder: ``.x.npy``
(the training frames, read back without pickle at disk speed) and ``.meta.npz`` (labels, test split, skipped files),
each written atomically, the meta file last, so an entry without its meta file is ignored. Stale entries for the same
data folder are removed.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from ..files import atomic_path


def fingerprint(paths, options: dict) -> str:
    digest = hashlib.sha256(json.dumps(options, sort_keys=True).encode())
    for p in paths:
        st = os.stat(p)
        digest.update(f"{os.path.abspath(p)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:32]


def cache_folder() -> Path:
    from ..files import cache_dir

    return cache_dir() / "grids"


def cached(root, paths, options: dict, parse):
    """Return ``parse()``'s dict of arrays, from the cache when the files are unchanged."""
    folder = cache_folder()
    stem = hashlib.sha256(str(Path(root).resolve()).encode()).hexdigest()[:16]
    key = fingerprint(paths, options)
    x_path, meta_path = folder / f"{stem}-{key}.x.npy", folder / f"{stem}-{key}.meta.npz"
    if meta_path.is_file() and x_path.is_file():
        try:
            with np.load(meta_path, allow_pickle=False) as meta:
                out = {k: meta[k] for k in meta.files}
            mapped = np.load(x_path, mmap_mode="r", allow_pickle=False)
            out["x_train"] = np.array(mapped)   # materialized in memory; about 2x np.load's buffered read
            del mapped
            return _unpack(out)
        except (OSError, ValueError):
            pass   # unreadable entry: parse again and replace it
    arrays = parse()
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob(f"{stem}-*"):
        old.unlink(missing_ok=True)
    with atomic_path(x_path, suffix=".npy") as tmp:
        np.save(tmp, arrays["x_train"], allow_pickle=False)
    with atomic_path(meta_path) as tmp:
        np.savez(tmp, **_pack(arrays))
    return arrays


def _pack(arrays: dict) -> dict:
    out = {k: v for k, v in arrays.items() if k not in ("skipped", "x_train") and v is not None}
    out["skipped"] = np.array([list(s) for s in arrays["skipped"]], dtype=str).reshape(-1, 2)
    return out


def _unpack(data: dict) -> dict:
    out = {"x_test": None, "y_test": None, **data}
    out["skipped"] = [tuple(row) for row in data["skipped"].tolist()]
    return out
