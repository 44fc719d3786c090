"""The two IDX data sets gridlab knows by name, and where it looks for them.

Search order for a named set: ``data_dir`` (``--data-dir``), ``$GRIDLAB_DATA``, the user cache folder, the system
folders Debian uses, then a checksummed download into the user cache.
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from ..errors import DataNotFoundError
from ..files import cache_dir
from .download import download, verify_or_remove
from .idx import read_idx

FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
         "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")


@dataclasses.dataclass(frozen=True)
class IdxSet:
    name: str
    urls: tuple[str, ...]          # base URLs, tried in order
    sha256: dict                   # file name -> SHA-256 of the canonical .gz
    class_names: tuple[str, ...]
    system_dirs: tuple[str, ...]
    apt_package: str | None = None


CATALOG = {
    "mnist": IdxSet(
        "mnist",
        ("https://storage.googleapis.com/cvdf-datasets/mnist/", "https://ossci-datasets.s3.amazonaws.com/mnist/"),
        {"train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
         "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
         "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
         "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"},
        tuple(str(d) for d in range(10)),
        ("/usr/share/datasets/mnist",),
    ),
    "fashion-mnist": IdxSet(
        "fashion-mnist",
        ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
        {"train-images-idx3-ubyte.gz": "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
         "train-labels-idx1-ubyte.gz": "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
         "t10k-images-idx3-ubyte.gz": "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
         "t10k-labels-idx1-ubyte.gz": "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5"},
        ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
        ("/usr/share/datasets/fashion-mnist",),
        apt_package="dataset-fashion-mnist",
    ),
}


def _has_files(folder: Path) -> bool:
    return all((folder / f).is_file() or (folder / f.removesuffix(".gz")).is_file() for f in FILES)


def candidate_dirs(name: str, data_dir: str | None = None) -> list[tuple[str, Path]]:
    """Every folder searched for ``name``, as (why, folder), in order."""
    entry = CATALOG[name]
    out = []
    if data_dir:
        out.append(("data_dir", Path(data_dir)))
    if os.environ.get("GRIDLAB_DATA"):
        out.append(("$GRIDLAB_DATA", Path(os.environ["GRIDLAB_DATA"]) / name))
    out.append(("user cache", cache_dir() / name))
    out += [("system", Path(d)) for d in entry.system_dirs]
    return out


def locate(name: str, data_dir: str | None = None) -> Path | None:
    """The first folder that holds all four files of ``name``, or None. Cached downloads with a wrong checksum are
    removed (so the next run downloads them again)."""
    for why, folder in candidate_dirs(name, data_dir):
        if why == "user cache" and folder.is_dir():
            for f in FILES:
                if (folder / f).is_file():
                    verify_or_remove(folder / f, CATALOG[name].sha256[f])
        if _has_files(folder):
            return folder
    return None


def fetch(name: str, progress: bool = True) -> Path:
    """Download the four files of ``name`` into the user cache, each verified before it gets its final name."""
    entry = CATALOG[name]
    folder = cache_dir() / name
    errors = []
    for f in FILES:
        if (folder / f).is_file():
            continue
        for base in entry.urls:
            try:
                download(base + f, folder / f, entry.sha256[f], progress=progress)
                break
            except DataNotFoundError as exc:
                errors.append(str(exc))
        else:
            raise DataNotFoundError(not_found_message(name, "; ".join(errors[-1:])))
    return folder


def not_found_message(name: str, why: str = "") -> str:
    entry = CATALOG[name]
    places = ", ".join(str(p) for _, p in candidate_dirs(name))
    hint = f" or `apt-get install {entry.apt_package}`" if entry.apt_package else ""
    return (f"{name}: the files were not found (looked in {places})"
            + (f" and the download failed: {why}" if why else "")
            + f". Pass data_dir=FOLDER with the four IDX files, set $GRIDLAB_DATA{hint}, "
              "or connect to the internet so gridlab can download them.")


def load_idx_set(name: str, data_dir: str | None = None, allow_download: bool = True, progress: bool = True):
    """Return ``(x_train, y_train, x_test, y_test, class_names, folder)`` for a named IDX set."""
    from ..errors import DataFormatError

    folder = locate(name, data_dir)
    if folder is None:
        if not allow_download:
            raise DataNotFoundError(not_found_message(name, "downloads are off (download=false)"))
        folder = fetch(name, progress=progress)

    def path(f: str) -> Path:
        return folder / f if (folder / f).is_file() else folder / f.removesuffix(".gz")

    x_train, y_train = read_idx(path(FILES[0]), ndim=3), read_idx(path(FILES[1]), ndim=1)
    x_test, y_test = read_idx(path(FILES[2]), ndim=3), read_idx(path(FILES[3]), ndim=1)
    for images, labels, f in ((x_train, y_train, FILES[1]), (x_test, y_test, FILES[3])):
        if len(images) != len(labels):
            raise DataFormatError(path(f), f"expected {len(images):,} labels to match the images file, "
                                           f"received {len(labels):,}",
                                  "Images and labels come from different data sets; replace both files.")
    return x_train, y_train, x_test, y_test, CATALOG[name].class_names, folder
