"""Writing files without ever touching one factornas did not create.

Every file factornas writes goes through this module, for three guarantees:

* **atomic**: content goes to a temporary file beside the destination, is flushed to disk, and
  is renamed over the destination; a process killed at any moment leaves the old file or the
  new one, never a torn one;
* **no write through a link**: temporary files are created with ``O_CREAT | O_EXCL |
  O_NOFOLLOW`` under a unique name (:func:`tempfile.mkstemp`), so a symbolic link planted at a
  predictable name is never followed; files opened in place (appending a metrics log, a lock)
  are opened with ``O_NOFOLLOW``, and a link there is refused in one line;
* **no litter**: temporary names have one recognisable shape (``.NAME.XXXXXXXX.tmp``), so the
  temporaries of a process killed mid-write (SIGKILL runs no clean-up) are found and removed by
  the next run that holds the directory (:func:`remove_stale_temporaries`).

The rename replaces a symbolic link at the destination rather than writing through it, so the
link's target is never modified either.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any, Literal, overload

from factornas.errors import FactorNASError

TEMP_SUFFIX = ".tmp"


class UnsafePathError(FactorNASError):
    """A path factornas would write through is a symbolic link or otherwise not its own."""


def _link_refusal(path: Path) -> UnsafePathError:
    return UnsafePathError(
        f"{path} is a symbolic link: factornas writes only files it creates itself; remove the "
        "link, or choose another path"
    )


def refuse_link(path: str | Path) -> None:
    """Raise :class:`UnsafePathError` when ``path`` is a symbolic link (dangling ones too)."""
    path = Path(path)
    if path.is_symlink():
        raise _link_refusal(path)


def temporary_name_pattern(name: str) -> re.Pattern[str]:
    """The names :func:`atomic_writer` gives the temporaries of destination ``name``, and
    those of factornas 0.1 (``.NAME.tmp``, ``.NAME.tmp-PID``), which a killed run of that
    version may have left."""
    return re.compile(
        rf"^\.{re.escape(name)}\.(?:[A-Za-z0-9_]+{re.escape(TEMP_SUFFIX)}|tmp|tmp-[0-9]+)$"
    )


def remove_stale_temporaries(folder: Path, names: Iterable[str]) -> list[Path]:
    """Delete leftover temporaries of the destinations ``names`` in ``folder``.

    Call it only while holding the folder (its run lock): a live writer's temporary has the
    same shape. Links with a temporary's name are removed too, never followed.
    """
    patterns = [temporary_name_pattern(name) for name in names]
    removed: list[Path] = []
    try:
        entries = list(folder.iterdir())
    except FileNotFoundError:
        return removed
    for entry in entries:
        if any(p.match(entry.name) for p in patterns) and (entry.is_symlink() or entry.is_file()):
            entry.unlink(missing_ok=True)
            removed.append(entry)
    return removed


@overload
@contextlib.contextmanager
def atomic_writer(path: str | Path, mode: Literal["w"]) -> Iterator[IO[str]]: ...


@overload
@contextlib.contextmanager
def atomic_writer(path: str | Path, mode: Literal["wb"] = "wb") -> Iterator[IO[bytes]]: ...


@contextlib.contextmanager
def atomic_writer(path: str | Path, mode: str = "wb") -> Iterator[IO[Any]]:
    """A file handle whose content replaces ``path`` when the block ends without error.

    On any exception (and on KeyboardInterrupt) the temporary is deleted and ``path`` is left
    as it was. The parent directory must exist: creating directories is the caller's decision.
    """
    path = Path(path)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, mode) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A fresh temporary path beside ``path`` for a writer that takes a file name (ONNX,
    TorchScript, matplotlib); renamed over ``path`` when the block ends without error."""
    path = Path(path)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_atomic(path: str | Path, data: str | bytes) -> Path:
    """Replace ``path`` with ``data`` atomically (see :func:`atomic_writer`)."""
    path = Path(path)
    if isinstance(data, str):
        with atomic_writer(path, "w") as text_handle:
            text_handle.write(data)
    else:
        with atomic_writer(path, "wb") as binary_handle:
            binary_handle.write(data)
    return path


def open_no_follow(path: str | Path, flags: int, mode: int = 0o644) -> int:
    """``os.open`` that refuses a symbolic link at ``path`` in one line instead of following
    it (``O_NOFOLLOW`` makes the refusal race-free: the check is the open itself)."""
    path = Path(path)
    try:
        return os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise _link_refusal(path) from None
        raise


def open_append(path: str | Path) -> IO[str]:
    """``path`` opened for appending text, created if missing, never through a link."""
    fd = open_no_follow(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    return os.fdopen(fd, "a")


def read_text_no_follow(path: str | Path) -> str:
    """The text of ``path``, refusing a symbolic link there (a run's own file is never one)."""
    fd = open_no_follow(path, os.O_RDONLY)
    with os.fdopen(fd, "r") as handle:
        return handle.read()
