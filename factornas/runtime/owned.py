"""Directories factornas owns: the ``.factornas`` marker and the names of the files written.

git refuses to clone into a non-empty directory; factornas refuses to write into one it did not
make. A directory is *ours* when it holds a ``.factornas`` marker, which the first command to
use an empty (or new) directory writes before anything else. The marker says what kind of
directory it is (a search run, a retraining run, a comparison, figures), which command made it,
and — written ahead of each file — the name of every file a command of ours put there. So:

* a non-empty directory without a marker is refused in one line, whatever the flags;
* ``--overwrite`` deletes exactly the recorded files, never a file the user added;
* abandoning a run that never got going deletes exactly what it wrote, the marker last, and
  the directory itself when the run created it.

Runs written before the marker existed are *adopted*: the caller recognises them (a checkpoint
in factornas's own format), and the names of their files become the first record.

Names are recorded relative to the directory, ``/``-separated; a name ending in ``/`` is a whole
folder the command created (TensorBoard names its event files itself).
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime
import fcntl
import json
import os
import shlex
import shutil
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from factornas.errors import FactorNASError
from factornas.files import read_text_no_follow, refuse_link, write_atomic

MARKER = ".factornas"
MARKER_FORMAT = "factornas-dir/1"
#: Left by a run of an older factornas that was killed: it is no file of the user's.
_IGNORED_WHEN_EMPTY = frozenset({".lock"})

#: Recognises a directory written by a factornas older than the marker; returns the names of
#: its files, or None when the directory is not one.
Adopter = Callable[[Path], "list[str] | None"]


class NotOursError(FactorNASError):
    """A directory factornas was asked to write into holds files it did not create."""


def _version() -> str:
    try:
        return metadata.version("factornas")
    except metadata.PackageNotFoundError:
        return "unknown"


@contextlib.contextmanager
def _marker_lock(root: Path) -> Iterator[None]:
    """Serialise read-modify-write of the marker (a search recording its checkpoint while
    ``show`` records figures): an ``flock`` on the directory itself, held for a few
    microseconds."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def read_marker(root: Path) -> dict[str, Any]:
    """The marker of ``root``; a damaged one is a one-line error (it is never guessed at)."""
    path = root / MARKER
    try:
        value = json.loads(read_text_no_follow(path))
    except (ValueError, RecursionError):  # not JSON, not UTF-8, or hostile
        value = None
    if (
        not isinstance(value, dict)
        or value.get("format") != MARKER_FORMAT
        or not isinstance(value.get("kind"), str)
        or not isinstance(value.get("files"), list)
        or not all(isinstance(name, str) for name in value["files"])
    ):
        raise NotOursError(
            f"{path} is damaged (not a factornas marker): delete {root} by hand if nothing in it "
            "is yours, or choose another --out"
        )
    return value


def _safe_name(root: Path, name: str) -> Path:
    """``root/name`` for a recorded name, refusing any that leaves ``root`` (an edited marker
    must not turn ``--overwrite`` into a delete of the user's files elsewhere)."""
    parts = name.rstrip("/").split("/")
    if name.startswith("/") or not parts[0] or any(p in ("", ".", "..") for p in parts):
        raise NotOursError(
            f"{root / MARKER} records {name!r}, which is not a file inside {root}: the marker "
            "was edited; delete the directory by hand, or choose another --out"
        )
    return root.joinpath(*parts)


@dataclass(frozen=True)
class OwnedDir:
    """A directory holding our marker; every write into it is recorded first."""

    root: Path
    kind: str
    #: The outermost directory that claiming ``root`` created (``root`` or one of its parents),
    #: removed again, when empty, by :meth:`discard`; None when ``root`` already existed.
    created: Path | None = None

    def recorded(self) -> list[str]:
        return list(read_marker(self.root)["files"])

    def record(self, names: Iterable[str]) -> None:
        """Add ``names`` to the marker before they are written (write-ahead: a process killed
        between the two leaves a recorded name without a file, which deletes as nothing)."""
        names = list(names)
        for name in names:
            _safe_name(self.root, name)
        with _marker_lock(self.root):
            marker = read_marker(self.root)
            new = [n for n in names if n not in marker["files"]]
            if new:
                marker["files"] = [*marker["files"], *new]
                write_atomic(self.root / MARKER, json.dumps(marker, indent=2) + "\n")

    def file(self, name: str) -> Path:
        """The path of ``name``, recorded as ours (call it right before writing the file)."""
        self.record([name])
        path = _safe_name(self.root, name)
        refuse_link(path)
        return path

    def clear(self, first: Sequence[str] = ()) -> None:
        """Delete every recorded file (those in ``first`` before the others, so a directory
        interrupted mid-clear never reads as finished), then the record of them; folders
        emptied this way go too. Files the user added stay. Every recorded name is checked
        before the first deletion, so an edited marker is refused with nothing deleted."""
        names = self.recorded()
        ordered = [n for n in first if n in names] + [n for n in names if n not in first]
        paths = {name: _safe_name(self.root, name) for name in ordered}
        for name in ordered:
            path = paths[name]
            if name.endswith("/"):
                _clear_folder(path)
            else:
                path.unlink(missing_ok=True)
                _prune_empty(path.parent, self.root)
        with _marker_lock(self.root):
            marker = read_marker(self.root)
            marker["files"] = []
            write_atomic(self.root / MARKER, json.dumps(marker, indent=2) + "\n")

    def discard(self) -> None:
        """Give the directory back when nothing of ours is recorded in it and nothing else is
        there: the marker goes, and so do the folders claiming it created. A directory holding
        anything else keeps its marker (it stays ours, with an empty record)."""
        with _marker_lock(self.root):
            if self.recorded() or {e.name for e in self.root.iterdir()} - {MARKER}:
                return
            (self.root / MARKER).unlink()
        if self.created is not None:
            _prune_empty(self.root, self.created.parent)


def _clear_folder(path: Path) -> None:
    """Delete a recorded folder: one with a marker of its own (figures) by its record, keeping
    what the user added; one without (a TensorBoard log) whole."""
    if path.is_symlink():
        path.unlink()
    elif (path / MARKER).is_file():
        inner = OwnedDir(path, read_marker(path)["kind"])
        inner.clear()
        with _marker_lock(path):
            if {e.name for e in path.iterdir()} == {MARKER}:
                (path / MARKER).unlink()
        _prune_empty(path, path.parent)
    elif path.is_dir():
        shutil.rmtree(path)


def _prune_empty(folder: Path, stop: Path) -> None:
    """Remove ``folder`` and its parents while empty, up to (not including) ``stop``."""
    while folder != stop and stop in folder.parents:
        try:
            folder.rmdir()
        except OSError:  # not empty, or gone
            return
        folder = folder.parent


def _mkdir(root: Path) -> Path | None:
    """Create ``root`` and missing parents; the outermost one created, or None."""
    missing = [p for p in (root, *root.parents) if not p.exists()]
    root.mkdir(parents=True, exist_ok=True)
    return missing[-1] if missing else None


#: The command being run, as the CLI was given it; unset, the process's own argv is recorded.
COMMAND: contextvars.ContextVar[tuple[str, ...] | None] = contextvars.ContextVar(
    "factornas_command", default=None
)


def _command() -> str:
    """The command line that made a directory, for the marker (a reader's "what made this?")."""
    given = COMMAND.get()
    argv = list(given) if given is not None else list(sys.argv)
    if argv and argv[0].endswith("__main__.py"):
        argv[0] = "python -m factornas"
    return shlex.join(argv) if argv else "python"


def claim(
    root: str | Path,
    kind: str,
    *,
    adopt: Adopter | None = None,
    flag: str = "--out",
    hold: Callable[[Path], object] | None = None,
) -> OwnedDir:
    """Create or reopen ``root`` as a directory of ``kind``, refusing one that is not ours.

    A new or empty directory gets a marker, written before any other file. One with a marker of
    another kind, or a non-empty one without a marker that ``adopt`` does not recognise, is
    refused with one line naming ``flag``. ``hold`` (taking the run lock) is called once the
    directory is known to be ours and before the marker is written, so a refusal of either
    kind writes nothing; the ownership is checked again after it.
    """
    root = Path(root)
    if root.exists() and not root.is_dir():
        raise NotOursError(f"{root} is a file, not a directory: choose another {flag}")
    created = _mkdir(root)
    try:
        _ownership(root, kind, adopt, flag)
        if hold is not None:
            hold(root)
        with _marker_lock(root):
            files = _ownership(root, kind, adopt, flag)
            if files is not None:
                _write_marker(root, kind, files)
    except BaseException:
        if created is not None:
            _prune_empty(root, created.parent)
        raise
    return OwnedDir(root, kind, created)


def _ownership(root: Path, kind: str, adopt: Adopter | None, flag: str) -> list[str] | None:
    """None when ``root`` holds our marker of ``kind``; the first record of a directory to be
    marked (empty, or a recognised older run); else a one-line refusal."""
    if (root / MARKER).exists() or (root / MARKER).is_symlink():
        marker = read_marker(root)
        if marker["kind"] != kind:
            raise NotOursError(
                f"{root} holds a factornas {marker['kind']} directory, not a {kind} one: "
                f"choose another {flag}"
            )
        return None
    entries = {entry.name for entry in root.iterdir()} - _IGNORED_WHEN_EMPTY
    files = [] if not entries else adopt(root) if adopt is not None else None
    if files is None:
        raise NotOursError(
            f"{root} is not empty and is not a factornas {kind} directory: choose an empty "
            f"or new {flag}"
        )
    return files


def _write_marker(root: Path, kind: str, files: list[str]) -> None:
    marker = {
        "format": MARKER_FORMAT,
        "kind": kind,
        "command": _command(),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "factornas": _version(),
        "files": files,
    }
    write_atomic(root / MARKER, json.dumps(marker, indent=2) + "\n")


def owner(root: Path) -> OwnedDir | None:
    """The owned directory at ``root`` when it holds a readable marker, else None."""
    if not (root / MARKER).is_file() or (root / MARKER).is_symlink():
        return None
    return OwnedDir(root, read_marker(root)["kind"])
