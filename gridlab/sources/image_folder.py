"""Image folders: one sub-folder per class (``root/<class>/*.png``), optionally with ``root/test/<class>/…`` (or
``root/train`` + ``root/test``) as a test split. PNG, JPEG and BMP are recognised by their first bytes, not by name."""
from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np

from ..errors import DataFormatError
from .layout import FolderData, discover, kept_files
from .skips import Skipped


class ImageTooLargeError(DataFormatError):
    """An image over the pixel limit, or a decompression bomb."""


MAGIC = {b"\x89PNG\r\n\x1a\n": "PNG", b"\xff\xd8\xff": "JPEG", b"BM": "BMP"}
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}
MAX_PIXELS = 50_000_000


def sniff_format(head: bytes) -> str | None:
    """'PNG', 'JPEG' or 'BMP' from a file's first bytes, else None."""
    return next((fmt for magic, fmt in MAGIC.items() if head.startswith(magic)), None)


def head_of(path: Path, size: int = 8) -> bytes:
    """The first bytes of a file (b"" when it cannot be read)."""
    try:
        with open(path, "rb") as fh:
            return fh.read(size)
    except OSError:
        return b""


def looks_like_image(path: Path) -> bool:
    """Named as an image or holding PNG/JPEG/BMP content. Such a file is read (and refused when it does not
    decode); anything else in an image folder, such as notes.txt, is ignored and listed."""
    return Path(path).suffix.lower() in IMAGE_SUFFIXES or sniff_format(head_of(path)) is not None


def _decoder_said(exc: BaseException, fmt: str) -> str:
    """What the decoder found wrong, without the Python object reprs Pillow puts in its messages
    (``cannot identify image file <_io.BytesIO object at 0x...>``)."""
    from PIL import UnidentifiedImageError

    if isinstance(exc, UnidentifiedImageError):
        return f"the {fmt} signature is followed by no image Pillow can identify"
    text = re.sub(r"\s*<[^<>]* at 0x[0-9a-fA-F]+>", "", str(exc)).strip().rstrip(".")
    return text or type(exc).__name__


def decode_image(path: Path | str, data: bytes | None = None, color: str = "grayscale",
                 size: tuple[int, int] | None = None, max_pixels: int = MAX_PIXELS,
                 formats=("PNG", "JPEG", "BMP")) -> np.ndarray:
    """Decode one image into uint8 (H, W, C) with C = 1 (grayscale) or 3 (rgb), resized to ``size`` = (H, W).

    Raises:
        DataFormatError: empty file, unknown format, corrupt data, or more than ``max_pixels`` pixels.
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if data is None:
        data = path.read_bytes()
    if not data:
        raise DataFormatError(path, "expected an image, received an empty file (0 bytes)", "Remove the file.")
    fmt = sniff_format(data[:8])
    if fmt is None or fmt not in formats:
        allowed = " or ".join([", ".join(formats[:-1]), formats[-1]] if len(formats) > 1 else formats)
        raise DataFormatError(path, f"expected {allowed} content, received bytes {data[:4]!r}",
                              "Convert the file to PNG, or remove it.")
    import io

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=[fmt]) as img:   # reads the header only
                w, h = img.size                # checked before any pixel is decoded
                if w == 0 or h == 0:
                    raise DataFormatError(path, f"expected an image at least 1x1, received {w}x{h}",
                                          "Send a real image.")
                if w * h > max_pixels:
                    raise ImageTooLargeError(path, f"expected at most {max_pixels:,} pixels, received {w}x{h}",
                                             "Use a smaller image.")
                img = img.convert("L" if color == "grayscale" else "RGB")
                if size is not None and (h, w) != tuple(size):
                    img = img.resize((size[1], size[0]), Image.Resampling.BILINEAR)
                array = np.asarray(img, dtype=np.uint8)
    except DataFormatError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageTooLargeError(path, f"expected at most {max_pixels:,} pixels, received a decompression bomb "
                                       f"({exc})", "Use a smaller image.") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise DataFormatError(path, f"expected a valid {fmt} image, received {len(data):,} bytes that the {fmt} "
                                    f"decoder cannot read ({_decoder_said(exc, fmt)})",
                              "Re-export the image, or remove it.") from None
    return array[..., None] if array.ndim == 2 else array


def read_image_folder(root: str | Path, color: str = "grayscale", size=None,
                      on_bad_file: str = "error") -> FolderData:
    """Read an image folder into uint8 arrays (N, H, W, C).

    Files that are neither named as images nor hold image content (notes, CSVs) are left out whatever
    ``on_bad_file`` says, and listed in ``ignored`` as ``(path, reason)``.
    """
    skipped = Skipped(on_bad_file)
    train, test, class_names = discover(root, "*", skipped)
    ignored = []
    for items in (train, test):
        images = [looks_like_image(p) for p, _ in items]
        ignored += [(str(p), f"{p}: not an image (no image name or PNG/JPEG/BMP content); ignored")
                    for (p, _), image in zip(items, images) if not image]
        items[:] = [item for item, image in zip(items, images) if image]
    size = tuple(size) if size else None
    x_train, y_train, size = _decode_all(root, train, color, size, skipped)
    x_test = y_test = None
    if test:
        x_test, y_test, _ = _decode_all(root, test, color, size, skipped)
    return FolderData(x_train, y_train, x_test, y_test, class_names, skipped.files, ignored,
                      kept_files(train, skipped.files))


def _decode_all(root, items, color, size, skipped: Skipped):
    xs, ys = [], []
    for path, label in items:
        try:
            image = decode_image(path, color=color, size=size)
        except DataFormatError as exc:
            skipped.handle(exc)
            continue
        size = size or image.shape[:2]
        xs.append(image)
        ys.append(label)
    if not xs:
        raise DataFormatError(root, "expected at least one readable image, received none",
                              "Check the layout: one sub-folder per class holding PNG/JPEG/BMP files.")
    return np.stack(xs), np.asarray(ys, dtype=np.int64), size
