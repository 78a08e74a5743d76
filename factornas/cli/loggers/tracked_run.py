"""The tracker run (W&B, MLflow) a run directory logs to, kept beside ``metrics.jsonl`` so that
a resumed search or retraining continues that run instead of starting another.

Neither tracker can take back a value: W&B drops a row whose step is behind the run's, MLflow
keeps every value logged at a step, duplicates included. A resumed run re-does the epochs (and
progress windows) between its checkpoint and the kill, so the file also says how far the
tracker got, and the loggers skip what it already has. Those values are the killed run's: the
same as the resumed one's on a run that resumes exactly, and ``metrics.jsonl`` is the record
either way.

The file is rewritten after every logged record. It is renamed into place (a killed process
never leaves half a file) but not synced to disk, which would cost a disk flush every progress
window: after a power cut it may lag, and the tracker then gets the lagging records twice.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from factornas.errors import FactorNASError
from factornas.files import atomic_path, read_text_no_follow

FORMAT = "factornas-tracked-run/1"


class TrackedRunFileError(FactorNASError):
    """A tracked-run file that is not one of ours (edited, truncated, another tool's)."""


@dataclass(frozen=True)
class TrackedRun:
    """A tracker's run: its ``id``, ``where`` it lives (W&B project, MLflow tracking URI),
    the last epoch and global step logged to it, and how many rows were logged in all."""

    id: str
    where: str
    epoch: int = -1
    step: int = -1
    rows: int = 0

    def takes_epoch(self, epoch: int) -> bool:
        return epoch > self.epoch

    def takes_step(self, step: int) -> bool:
        return step > self.step

    def after_epoch(self, epoch: int) -> TrackedRun:
        return replace(self, epoch=epoch, rows=self.rows + 1)

    def after_step(self, step: int) -> TrackedRun:
        return replace(self, step=step, rows=self.rows + 1)


def read_tracked_run(path: Path) -> TrackedRun | None:
    """The run recorded at ``path``; None when there is none yet (a fresh run)."""
    if not path.exists():
        return None
    try:
        value = json.loads(read_text_no_follow(path))
        if not isinstance(value, dict) or value.pop("format", None) != FORMAT:
            raise ValueError(path)
        run = TrackedRun(**value)
        if not all(isinstance(getattr(run, n), t) for n, t in _TYPES.items()):
            raise ValueError(path)
    except (ValueError, TypeError, RecursionError):
        raise TrackedRunFileError(
            f"{path} is damaged: delete it to log the rest of this run to a new tracker run"
        ) from None
    return run


def write_tracked_run(path: Path, run: TrackedRun) -> None:
    with atomic_path(path) as temporary:
        temporary.write_text(json.dumps({"format": FORMAT, **asdict(run)}, indent=2) + "\n")


_TYPES = {"id": str, "where": str, "epoch": int, "step": int, "rows": int}
