"""The run directory: where a search or retraining writes, and how it resumes.

Running the same command on the same directory resumes from its checkpoint. A directory that
holds a *finished* run is never overwritten silently, and a checkpoint made with a different
configuration is never resumed silently: both are user errors with a one-line message.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from factornas.errors import FactorNASError

CONFIG = "config.json"
CHECKPOINT = "checkpoint.pt"
METRICS = "metrics.jsonl"
SUMMARY = "summary.json"


class RunDirError(FactorNASError):
    """The output directory cannot be used as asked."""


@dataclass(frozen=True)
class RunDir:
    """Paths of one run and whether it resumes."""

    root: Path
    resuming: bool

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

    def finish(self, summary: dict[str, Any]) -> None:
        """Mark the run finished (atomically); a later run on this directory is refused."""
        tmp = self.summary_path.with_name(SUMMARY + ".tmp")
        tmp.write_text(json.dumps({"finished": True, **summary}, indent=2) + "\n")
        tmp.replace(self.summary_path)


def is_finished(root: str | Path) -> bool:
    path = Path(root) / SUMMARY
    if not path.exists():
        return False
    try:
        return bool(json.loads(path.read_text()).get("finished"))
    except json.JSONDecodeError:
        return False


def prepare_run_dir(root: str | Path, config: dict[str, Any], *, overwrite: bool = False) -> RunDir:
    """Create or reopen ``root`` for a run of ``config``.

    * empty or new directory → a fresh run; ``config.json`` is written;
    * a checkpoint with the same config → resume;
    * a finished run, or a checkpoint of another config → error, unless ``overwrite``.

    In a distributed run only rank 0 calls this and tells the others whether the run resumes:
    a rank inspecting the directory while rank 0 clears it (``overwrite``) or writes to it would
    race with it.
    """
    root = Path(root)
    run = RunDir(root, resuming=False)
    if overwrite:
        for name in (CHECKPOINT, METRICS, SUMMARY, CONFIG):
            (root / name).unlink(missing_ok=True)
    elif is_finished(root):
        raise RunDirError(
            f"{root} holds a finished run: choose another --out, or pass --overwrite to replace it"
        )
    elif run.checkpoint_path.exists():
        saved = json.loads(run.config_path.read_text()) if run.config_path.exists() else None
        if saved != json.loads(json.dumps(config)):
            raise RunDirError(
                f"{root} holds a checkpoint of a different configuration: use the same flags "
                "to resume it, another --out, or --overwrite"
            )
        run = RunDir(root, resuming=True)
    root.mkdir(parents=True, exist_ok=True)
    run.config_path.write_text(json.dumps(config, indent=2) + "\n")
    return run
