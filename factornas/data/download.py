"""Fetching dataset files: default location, checksums and atomic, verified downloads.

A download is written to a temporary file beside its destination and renamed only once its
MD5 matches, so an interrupted or corrupted transfer never leaves a file that a later run
would mistake for good data.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.request
from pathlib import Path

from factornas.data.errors import DataError

DATA_ENV = "FACTORNAS_DATA"
_CHUNK = 1 << 20


def default_data_root() -> Path:
    """``$FACTORNAS_DATA`` when set, else ``./data`` (ignored by the repository's git)."""
    return Path(os.environ.get(DATA_ENV, "data"))


def file_md5(path: Path) -> str:
    """Hex MD5 of a file, read in chunks so multi-GB archives need no memory."""
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check_md5(path: Path, md5: str) -> None:
    """Raise :class:`DataError` when ``path`` does not have the published checksum."""
    actual = file_md5(path)
    if actual != md5:
        raise DataError(
            f"{path} has MD5 {actual}, expected {md5}: the file is corrupt or incomplete, "
            "delete it and download it again"
        )


def download_file(
    url: str, dest: Path, md5: str, *, manual_hint: str, timeout: float = 60.0
) -> Path:
    """Download ``url`` to ``dest`` and verify its MD5 before the file appears at ``dest``.

    ``manual_hint`` finishes the error message when the network fails, telling the user where
    to put the file by hand (most clusters have no internet on compute nodes).
    """
    missing = [p for p in (dest.parent, *dest.parent.parents) if not p.exists()]
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DataError(f"cannot create {dest.parent} ({err}); {manual_hint}") from err
    try:
        return _download(url, dest, md5, manual_hint=manual_hint, timeout=timeout)
    except BaseException:
        for folder in missing:  # a failed download leaves no empty data folder behind
            try:
                folder.rmdir()
            except OSError:
                break
        raise


def _download(url: str, dest: Path, md5: str, *, manual_hint: str, timeout: float) -> Path:
    """The transfer itself, into a ``.part`` temporary renamed only once its MD5 matches."""
    digest = hashlib.md5(usedforsecurity=False)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
            for chunk in iter(lambda: resp.read(_CHUNK), b""):
                digest.update(chunk)
                out.write(chunk)
        if digest.hexdigest() != md5:
            raise DataError(
                f"download of {url} has MD5 {digest.hexdigest()}, expected {md5}: "
                f"retry later or {manual_hint}"
            )
        os.replace(tmp, dest)
    except (OSError, ValueError) as err:  # URLError, HTTPError and timeouts are OSErrors
        raise DataError(f"could not download {url} ({err}); {manual_hint}") from err
    finally:
        tmp.unlink(missing_ok=True)
    return dest
