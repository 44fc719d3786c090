"""Where the examples of a folder data set are: one sub-folder per class (files at any depth below it, such as
per-day folders), optionally a ``test/`` folder with the same class sub-folders, or ``train/`` + ``test/``; or a CSV
manifest of ``path,label`` lines (paths relative to the manifest)."""
from __future__ import annotations

import csv
import dataclasses
from pathlib import Path

import numpy as np

from ..errors import DataFormatError
from .skips import Skipped


@dataclasses.dataclass
class FolderData:
    """What a folder reader returns: the arrays, the class names, and every file left out with its reason
    (``skipped``: unreadable, under on_bad_file=skip; ``ignored``: not data, such as a notes.txt among images)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray | None
    y_test: np.ndarray | None
    class_names: list
    skipped: list
    ignored: list = dataclasses.field(default_factory=list)
    files: list | None = None        # the path of every training example, in order (the audit names them)


def kept_files(items, skipped: list) -> list[str]:
    """The paths of ``items`` ((path, label) pairs, in reading order) that were not left out: the files behind the
    examples a reader returned, in the same order."""
    bad = {str(path) for path, _ in skipped}
    return [str(p) for p, _ in items if str(p) not in bad]


def _visible(p: Path) -> bool:
    return not any(part.startswith(".") for part in p.parts)


def visible_files(folder: Path):
    """Every file at any depth below ``folder``, hidden files and folders left out, folder by folder in name order
    (a generator: a caller that samples stops the walk early)."""
    import os

    for top, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        yield from (Path(top) / f for f in sorted(files) if not f.startswith("."))


def _class_files(folder: Path, pattern: str) -> list[Path]:
    """Files matching ``pattern`` at any depth below ``folder``, hidden files and folders left out, sorted."""
    import fnmatch

    return sorted(p for p in visible_files(folder) if fnmatch.fnmatch(p.name, pattern))


def discover(root: str | Path, pattern: str = "*", skipped: Skipped | None = None):
    """Return ``(train, test, class_names)``; train and test are lists of ``(path, label)`` (test may be empty).

    A class folder with no matching files is an error, or a listed skip under ``on_bad_file=skip``.
    """
    root = Path(root)
    skipped = skipped or Skipped()
    if root.is_file() and root.suffix.lower() == ".csv":
        return _from_manifest(root, skipped)
    if not root.is_dir():
        raise DataFormatError(root, "expected a folder with one sub-folder per class, received a path that does "
                                    "not exist", "Check the data= path.")
    train_root, test_root = root, None
    if (root / "train").is_dir() and (root / "test").is_dir():
        train_root, test_root = root / "train", root / "test"
    elif (root / "test").is_dir():
        test_root = root / "test"
    class_names = sorted(p.name for p in train_root.iterdir()
                         if p.is_dir() and _visible(Path(p.name)) and not (train_root == root and p.name == "test"))
    if len(class_names) < 2:
        raise DataFormatError(root, f"expected at least 2 class sub-folders, received {len(class_names)}",
                              "Put each class's files in a sub-folder named after the class.")

    def collect(base: Path):
        out = []
        for label, name in enumerate(class_names):
            files = _class_files(base / name, pattern) if (base / name).is_dir() else []
            if not files:
                skipped.handle(DataFormatError(base / name, f"expected files matching {pattern!r} in this class "
                                                            "folder, received none", "Add files or remove the folder."))
            out += [(f, label) for f in files]
        return out

    train = collect(train_root)
    test = collect(test_root) if test_root is not None else []
    return train, test, class_names


HEADERS = [[name, label] for name in ("path", "file", "filename", "image") for label in ("label", "class")]


def _from_manifest(path: Path, skipped: Skipped):
    rows = []
    with open(path, newline="", encoding="utf-8") as fh:
        for number, row in enumerate(csv.reader(fh), start=1):
            if not row or (number == 1 and [c.strip().lower() for c in row[:2]] in HEADERS):
                continue
            if len(row) < 2 or not row[0].strip() or not row[1].strip():
                raise DataFormatError(path, f"expected 'path,label', received {','.join(row)!r}",
                                      "Give every line a file path and a label.", line=number)
            split = row[2].strip() if len(row) > 2 else "train"
            file = path.parent / row[0].strip()
            if not file.is_file():     # an error, or a listed skip under on_bad_file=skip
                skipped.handle(DataFormatError(path, f"expected a file, received {row[0].strip()!r}, which is not "
                                               f"one (looked for {file.absolute()})",
                                               "Paths are relative to the manifest's folder.", line=number))
                continue
            rows.append((file, row[1].strip(), split))
    class_names = sorted({label for _, label, _ in rows})
    if len(class_names) < 2:
        raise DataFormatError(path, f"expected at least 2 labels, received {len(class_names)}",
                              "List files of at least two classes.")
    index = {name: i for i, name in enumerate(class_names)}
    train = [(p, index[label]) for p, label, split in rows if split != "test"]
    test = [(p, index[label]) for p, label, split in rows if split == "test"]
    return train, test, class_names
