"""The run directory: where a search or retraining writes, and how it resumes.

Running the same command on the same directory resumes from its checkpoint. A directory that
holds a *finished* run is never overwritten silently, and a checkpoint made with a different
configuration is never resumed silently: both are user errors with a one-line message.

Three rules keep a directory readable whatever happens to the process:

* one process at a time: the run holds ``RUN_DIR/.lock`` (:mod:`factornas.runtime.lock`);
* ``overwrite`` deletes every file a run writes, the finished marker first, *before* the new
  run writes anything, so files of two runs never sit side by side;
* the results (``genotype.json``, ``arch_weights.json``) are written by :meth:`RunDir.finish`
  only, each to a temporary name then renamed, and ``summary.json`` last.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from factornas.errors import FactorNASError
from factornas.runtime.lock import RunLock

CONFIG = "config.json"
CHECKPOINT = "checkpoint.pt"
METRICS = "metrics.jsonl"
SUMMARY = "summary.json"
GENOTYPE = "genotype.json"
ARCH_WEIGHTS = "arch_weights.json"
FIGURES = "figures"
#: Everything a run (and ``factornas show``) writes, the finished marker first: deleting in this
#: order, an interrupted ``--overwrite`` never leaves a directory that reads as finished.
OUTPUTS = (SUMMARY, GENOTYPE, ARCH_WEIGHTS, METRICS, CHECKPOINT, CONFIG)


class RunDirError(FactorNASError):
    """The output directory cannot be used as asked."""


@dataclass(frozen=True)
class RunDir:
    """Paths of one run and whether it resumes."""

    root: Path
    resuming: bool
    #: Held by the process that prepared the directory (rank 0 under torchrun), else None.
    lock: RunLock | None = field(default=None, compare=False, repr=False)
    #: Whether preparing it created ``root`` (so abandoning the run removes it again).
    created: bool = False

    @property
    def config_path(self) -> Path:
        return self.root / CONFIG

    @property
    def checkpoint_path(self) -> Path:
        return self.root / CHECKPOINT

    @property
    def metrics_path(self) -> Path:
        return self.root / METRICS

    @property
    def summary_path(self) -> Path:
        return self.root / SUMMARY

    def finish(self, summary: dict[str, Any], results: dict[str, str] | None = None) -> None:
        """Write ``results`` (file name → text), then mark the run finished; a later run on
        this directory is refused. Every file goes to a temporary name first and is renamed,
        ``summary.json`` last, so a reader never sees a half-written result, and results
        without a summary only ever come from this run (a killed finish is redone on resume).
        """
        files = {**(results or {}), SUMMARY: json.dumps({"finished": True, **summary}, indent=2)}
        for name, text in files.items():
            tmp = self.root / f".{name}.tmp"
            try:
                tmp.write_text(text + "\n")
                tmp.replace(self.root / name)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise

    def release(self) -> None:
        """Free the directory for the next run (idempotent)."""
        if self.lock is not None:
            self.lock.release()

    def abandon(self) -> None:
        """Undo a fresh run that failed before its first checkpoint (bad data, a bad frozen
        level): remove what it wrote, and ``root`` itself if preparing it created it."""
        if not self.resuming and self.lock is not None and not self.checkpoint_path.exists():
            for name in (METRICS, CONFIG):
                (self.root / name).unlink(missing_ok=True)
        self._release_and_prune()

    def _release_and_prune(self) -> None:
        self.release()
        if self.created and self.lock is not None and not any(self.root.iterdir()):
            self.root.rmdir()


def _read_object(path: Path) -> dict[str, Any]:
    """A JSON object file of a run directory, or a one-line error saying how to get past it."""
    try:
        value = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        value = error
    if not isinstance(value, dict):
        raise RunDirError(
            f"{path} is damaged (not a JSON object): pass --overwrite to start over, or choose "
            "another --out"
        )
    return value


def is_finished(root: str | Path) -> bool:
    """Whether ``root`` holds a finished run (a damaged ``summary.json`` is an error)."""
    path = Path(root) / SUMMARY
    return path.exists() and bool(_read_object(path).get("finished"))


def prepare_run_dir(
    root: str | Path,
    config: dict[str, Any],
    *,
    overwrite: bool = False,
    normalize: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> RunDir:
    """Create or reopen ``root`` for a run of ``config``.

    * empty or new directory → a fresh run; ``config.json`` is written;
    * a checkpoint with the same config → resume;
    * a finished run, or a checkpoint of another config → error, unless ``overwrite``.

    In a distributed run only rank 0 calls this and tells the others whether the run resumes:
    a rank inspecting the directory while rank 0 clears it (``overwrite``) or writes to it would
    race with it.
    """
    root = Path(root)
    if root.exists() and not root.is_dir():
        raise RunDirError(f"{root} is a file, not a directory: choose another --out")
    created = not root.exists()
    try:
        root.mkdir(parents=True, exist_ok=True)
        lock = RunLock(root)
    except OSError as error:
        raise RunDirError(
            f"cannot use {root} as a run directory ({error.strerror}): choose another --out"
        ) from None
    try:
        resuming = _inspect(root, config, overwrite, normalize)
    except BaseException:
        RunDir(root, False, lock, created)._release_and_prune()
        raise
    run = RunDir(root, resuming, lock, created)
    try:
        tmp = root / f".{CONFIG}.tmp"
        tmp.write_text(json.dumps(config, indent=2) + "\n")
        tmp.replace(run.config_path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        run.abandon()
        raise
    return run


def _inspect(
    root: Path,
    config: dict[str, Any],
    overwrite: bool,
    normalize: Callable[[dict[str, Any]], dict[str, Any]] | None,
) -> bool:
    """Whether the run in ``root`` resumes; clears it first for ``overwrite``. ``normalize``
    brings a saved config up to date before the comparison (a setting added since it was
    written takes its default), so a run of an earlier version still resumes."""
    if overwrite:
        for name in OUTPUTS:
            (root / name).unlink(missing_ok=True)
        shutil.rmtree(root / FIGURES, ignore_errors=True)
        return False
    if is_finished(root):
        raise RunDirError(
            f"{root} holds a finished run: choose another --out, or pass --overwrite to replace it"
        )
    if not (root / CHECKPOINT).exists():
        return False
    saved = _read_object(root / CONFIG) if (root / CONFIG).exists() else None
    if saved is not None and normalize is not None:
        try:
            saved = normalize(saved)
        except Exception:  # a config this version cannot read is another config
            saved = None
    if saved != json.loads(json.dumps(config)):
        raise RunDirError(
            f"{root} holds a checkpoint of a different configuration: use the same flags "
            "to resume it, another --out, or --overwrite"
        )
    return True
