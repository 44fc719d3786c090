"""Downloads that are checked before they count: written to a temporary file beside the target, verified by
SHA-256, and renamed to the final name only when the checksum matches."""
from __future__ import annotations

import hashlib
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

from ..errors import DataFormatError, DataNotFoundError
from ..files import atomic_path


def sha256_of(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def download(url: str, dest: str | os.PathLike, sha256: str, timeout: float = 30.0, progress: bool = True) -> Path:
    """Fetch ``url`` into ``dest``, verifying ``sha256``. Nothing appears under ``dest`` unless it verified.

    Raises:
        DataNotFoundError: the server could not be reached.
        DataFormatError: the content's checksum does not match (for example an HTML error page).
    """
    dest = Path(dest)
    try:
        with atomic_path(dest) as tmp:
            digest = hashlib.sha256()
            with urllib.request.urlopen(url, timeout=timeout) as response, open(tmp, "wb") as out:
                total = int(response.headers.get("Content-Length") or 0)
                done = 0
                for block in iter(lambda: response.read(1 << 16), b""):
                    out.write(block)
                    digest.update(block)
                    done += len(block)
                    if progress and total:
                        print(f"\r  {dest.name}: {done / total:6.1%} of {total:,} bytes", end="", file=sys.stderr)
            if progress and total:
                print(file=sys.stderr)
            if digest.hexdigest() != sha256:
                raise DataFormatError(url, f"checksum mismatch: expected SHA-256 {sha256}, "
                                           f"received {digest.hexdigest()}",
                                      "The server sent something else (an error page?); nothing was kept. Try again "
                                      "later or place the file by hand.")
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        if isinstance(exc, DataFormatError):
            raise
        reason = getattr(exc, "reason", exc)
        raise DataNotFoundError(f"{url}: download failed ({reason}).") from None
    return dest


def verify_or_remove(path: Path, sha256: str) -> bool:
    """True when ``path`` has the expected checksum; a cached file that does not is removed so the next run
    downloads it again."""
    if sha256_of(path) == sha256:
        return True
    path.unlink(missing_ok=True)
    return False
