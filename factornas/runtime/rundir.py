"""The run directory: where a search or retraining writes, and how it resumes.

Running the same command on the same directory resumes from its checkpoint. A directory that
holds a *finished* run is never overwritten silently, and a checkpoint made with a different
configuration is never resumed silently: both are user errors with a one-line message.

Four rules keep a directory readable, and the user's files safe, whatever happens:

* only a directory of ours is used: new, empty, or holding our ``.factornas`` marker
  (:mod:`factornas.runtime.owned`), which records every file a run writes before it is written;
* one process at a time: the run holds ``RUN_DIR/.lock`` (:mod:`factornas.runtime.lock`);
* ``overwrite`` deletes the recorded files, the finished marker first, *before* the new run
  writes anything, so files of two runs never sit side by side (and the user's own stay);
* every file is written through :mod:`factornas.files` (a temporary, then a rename; never
  through a symbolic link), and the results (``genotype.json``, ``arch_weights.json``) by
  :meth:`RunDir.finish` only, ``summary.json`` last. Temporaries of a killed process are
  removed by the next run that holds the directory.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from factornas.errors import FactorNASError
from factornas.files import read_text_no_follow, refuse_link, remove_stale_temporaries, write_atomic
from factornas.runtime.lock import LOCK, RunLock
from factornas.runtime.owned import MARKER, Adopter, OwnedDir, claim

CONFIG = "config.json"
CHECKPOINT = "checkpoint.pt"
METRICS = "metrics.jsonl"
SUMMARY = "summary.json"
GENOTYPE = "genotype.json"
ARCH_WEIGHTS = "arch_weights.json"
FIGURES = "figures"
#: What a run of a factornas older than the marker wrote: the record of an adopted run.
LEGACY_OUTPUTS = (SUMMARY, GENOTYPE, ARCH_WEIGHTS, METRICS, CHECKPOINT, CONFIG)
#: Recorded as the run's when it starts: the loops write them by path.
_WRITTEN_BY_EVERY_RUN = (CONFIG, METRICS, CHECKPOINT)
#: Names that are never a symbolic link in a run directory of ours.
_OWN_NAMES = (MARKER, LOCK, *LEGACY_OUTPUTS)


class RunDirError(FactorNASError):
    """The output directory cannot be used as asked."""


@dataclass(frozen=True)
class RunDir:
    """Paths of one run and whether it resumes."""

    root: Path
    resuming: bool
    #: Held by the process that prepared the directory (rank 0 under torchrun), else None.
    lock: RunLock | None = field(default=None, compare=False, repr=False)
    #: The directory's ownership record, on the process that prepared it, else None.
    owned: OwnedDir | None = field(default=None, compare=False, repr=False)

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

    def file(self, name: str) -> Path:
        """The path of ``name`` in the run, recorded as the run's before it is written."""
        if self.owned is None:
            raise RunDirError(f"only the process that prepared {self.root} writes into it")
        return self.owned.file(name)

    def finish(self, summary: dict[str, Any], results: dict[str, str] | None = None) -> None:
        """Write ``results`` (file name → text), then mark the run finished; a later run on
        this directory is refused. Every file goes to a temporary name first and is renamed,
        ``summary.json`` last, so a reader never sees a half-written result, and results
        without a summary only ever come from this run (a killed finish is redone on resume).
        """
        files = {**(results or {}), SUMMARY: json.dumps({"finished": True, **summary}, indent=2)}
        for name, text in files.items():
            write_atomic(self.file(name), text + "\n")

    def release(self) -> None:
        """Free the directory for the next run (idempotent)."""
        if self.lock is not None:
            self.lock.release()

    def abandon(self) -> None:
        """Undo a fresh run that failed before its first checkpoint (bad data, a diverged
        first epoch): remove what it wrote, the marker too when nothing else is left, and
        ``root`` itself if preparing it created it. A run with a checkpoint is kept."""
        owned = self.owned
        if self.resuming or owned is None or self.checkpoint_path.exists():
            self.release()
            return
        owned.clear()
        self.release()
        owned.discard()


def _read_object(path: Path) -> dict[str, Any]:
    """A JSON object file of a run directory, or a one-line error saying how to get past it."""
    try:
        value = json.loads(read_text_no_follow(path))
    except (ValueError, RecursionError) as error:  # not JSON, not UTF-8, or hostile
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


def legacy_adopter(is_our_checkpoint: Callable[[Path], bool]) -> Adopter:
    """Recognise a run of a factornas older than the marker by its checkpoint
    (``is_our_checkpoint``), and record the files such a run wrote."""

    def adopt(root: Path) -> list[str] | None:
        checkpoint = root / CHECKPOINT
        if not checkpoint.is_file() or checkpoint.is_symlink() or not is_our_checkpoint(checkpoint):
            return None
        names = [name for name in LEGACY_OUTPUTS if (root / name).exists()]
        for folder in (FIGURES, "tensorboard"):
            if (root / folder).is_dir():
                names.append(f"{folder}/")
        return names

    return adopt


def prepare_run_dir(
    root: str | Path,
    config: dict[str, Any],
    *,
    kind: str,
    overwrite: bool = False,
    normalize: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    adopt: Adopter | None = None,
) -> RunDir:
    """Create or reopen ``root`` for a run of ``config`` (``kind``: ``search`` or ``train``).

    * new or empty directory → a fresh run: the marker, then ``config.json``, are written;
    * a non-empty directory without our marker → refused, whatever ``overwrite`` says (unless
      ``adopt`` recognises a run of an older factornas);
    * a checkpoint with the same config → resume;
    * a finished run, or a checkpoint of another config → error, unless ``overwrite``.

    In a distributed run only rank 0 calls this and tells the others whether the run resumes:
    a rank inspecting the directory while rank 0 clears it (``overwrite``) or writes to it would
    race with it.
    """
    root = Path(root)
    locks: list[RunLock] = []

    def hold(folder: Path) -> None:
        for name in _OWN_NAMES:
            refuse_link(folder / name)
        locks.append(RunLock(folder))

    try:
        owned = claim(root, kind, adopt=adopt, hold=hold)
    except OSError as error:
        for held in locks:
            held.release()
        raise RunDirError(
            f"cannot use {root} as a run directory ({error.strerror}): choose another --out"
        ) from None
    except BaseException:
        for held in locks:
            held.release()
        raise
    lock = locks[0]
    try:
        remove_stale_temporaries(root, {*owned.recorded(), *_OWN_NAMES})
        resuming = _inspect(owned, config, overwrite, normalize)
    except BaseException:
        lock.release()
        owned.discard()
        raise
    run = RunDir(root, resuming, lock, owned)
    try:
        owned.record(_WRITTEN_BY_EVERY_RUN)
        write_atomic(run.config_path, json.dumps(config, indent=2) + "\n")
    except BaseException:
        run.abandon()
        raise
    return run


def _inspect(
    owned: OwnedDir,
    config: dict[str, Any],
    overwrite: bool,
    normalize: Callable[[dict[str, Any]], dict[str, Any]] | None,
) -> bool:
    """Whether the run in ``owned`` resumes; clears it first for ``overwrite``. ``normalize``
    brings a saved config up to date before the comparison (a setting added since it was
    written takes its default), so a run of an earlier version still resumes."""
    root = owned.root
    if not overwrite:
        if is_finished(root):
            raise RunDirError(
                f"{root} holds a finished run: choose another --out, or pass --overwrite to "
                "replace it"
            )
        if (root / CHECKPOINT).exists():
            _check_same_config(root, config, normalize)
            return True
    # A fresh run: what an earlier run recorded here is replaced (with no checkpoint, that run
    # never got past its first epoch), the finished marker first.
    owned.clear(first=(SUMMARY,))
    return False


def _check_same_config(
    root: Path,
    config: dict[str, Any],
    normalize: Callable[[dict[str, Any]], dict[str, Any]] | None,
) -> None:
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
