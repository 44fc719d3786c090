"""Atomic file writes: every file gridlab writes goes to a temporary file in the same folder, is flushed to disk
and renamed into place, so a crash leaves either the old file or the new one, never half of one."""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path

TMP_PREFIX = ".tmp-"


def cache_dir() -> Path:
    """gridlab's user cache folder (``$XDG_CACHE_HOME/gridlab`` or the platform's equivalent): downloads, parsed
    sensor grids, JAX's compiled programs."""
    import platformdirs

    return Path(platformdirs.user_cache_dir("gridlab"))


def check_output_file(path: str | os.PathLike, example: str = "out.csv") -> Path:
    """``path`` as a file gridlab may write (its folders are made when needed), refused in one line when a folder is
    there (``example``: a file name the message suggests inside it). Commands call it before their work, so that a
    typo in ``--out`` never costs the work at the last step; ``atomic_path`` calls it again for every write."""
    from .errors import ConfigError

    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{path}: expected a file name to write, and a folder is there. Give a file path, for "
                          f"example {path / example}.")
    return path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None):
    """Yield a temporary path beside ``path``; on success it is fsynced and renamed onto ``path``.

    The temporary name keeps ``path``'s suffix (Keras insists on ``.keras``), starts with ``.tmp-`` and is removed
    when the block raises.

    >>> with atomic_path("out.txt") as tmp:          # doctest: +SKIP
    ...     Path(tmp).write_text("hello")
    """
    path = check_output_file(path, "out" + Path(path).suffix)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=TMP_PREFIX, suffix=suffix if suffix is not None else path.suffix,
                               dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def remove_stale_temporaries(folder: str | os.PathLike) -> int:
    """Delete ``.tmp-*`` files a killed writer left in ``folder``; returns how many. Final names are never touched."""
    count = 0
    for tmp in Path(folder).glob(TMP_PREFIX + "*"):
        with contextlib.suppress(OSError):
            tmp.unlink()
            count += 1
    return count


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def shown(path: str | os.PathLike) -> str:
    """``path`` as text that any UTF-8 writer takes: bytes of a file name that are not UTF-8 (which Python carries
    as surrogates) become ``\\udcff``-style escapes. How predictions name their files in every output."""
    return os.fspath(path).encode("utf-8", errors="backslashreplace").decode("utf-8")


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically. A file name that is not valid UTF-8 (bytes a file system
    allows, which Python carries as surrogates) is written escaped (``\\udcff``), never a crash that loses the
    rest."""
    write_bytes(path, text.encode("utf-8", errors="backslashreplace"))


def write_json(path: str | os.PathLike, obj) -> None:
    """Write ``obj`` as indented JSON to ``path`` atomically."""
    write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n")


def _json_default(obj):
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot write {type(obj).__name__} as JSON")


MAX_ZIP_MEMBER_BYTES = 4 << 30   # every zip gridlab opens (.npz data, .keras models): at most 4 GiB per member...
MAX_ZIP_RATIO = 1000             # ...and at most 1000x its compressed size; beyond either it is a zip bomb


def zip_bomb(zf) -> str | None:
    """What makes the open ``zipfile.ZipFile`` a possible zip bomb, read from its directory before any member is
    decompressed: ``"member M would decompress to N bytes from C"`` for the first member over ``MAX_ZIP_MEMBER_BYTES``
    or ``MAX_ZIP_RATIO``; None when every member is within both. The one check for ``.npz`` data and ``.keras``
    models."""
    for info in zf.infolist():
        if info.file_size > MAX_ZIP_MEMBER_BYTES or (info.compress_size and
                                                     info.file_size / info.compress_size > MAX_ZIP_RATIO):
            return (f"member {info.filename} would decompress to {info.file_size:,} bytes from "
                    f"{info.compress_size:,}; at most {MAX_ZIP_MEMBER_BYTES:,} bytes and a ratio of {MAX_ZIP_RATIO} "
                    "are allowed")
    return None

