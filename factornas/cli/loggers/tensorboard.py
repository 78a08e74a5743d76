"""A TensorBoard view of a run, written from the records that ``metrics.jsonl`` gets.

``metrics.jsonl`` stays the source of truth; this logger only re-plots what the loops already
computed, so it adds no device synchronization to the step loop (the per-step values live on
the device until the loop reads them, every progress window). Per epoch it writes every number
of the record as a scalar (``train_loss`` → ``train/loss``), the mean softmax of each searched
group's candidates per cell type (``arch/normal/activation/selu``) with the full per-edge
weights as a histogram, and the derived cells as images when matplotlib is installed
(:mod:`factornas.cli.loggers.record_view` names and computes all of these). Per progress window
(:mod:`factornas.runtime.step_windows`) it writes the window's mean training loss, accuracy and
learning rate against the global step (``train_steps/loss``, …) into ``tensorboard/steps``: a
run of its own, so that each axis (epochs, steps) is purged on resume by its own position.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from factornas.cli.loggers import record_view
from factornas.cli.loggers.claim import claim
from factornas.cli.loggers.record_view import STEP_TAGS, scalar_tag
from factornas.errors import FactorNASError
from factornas.space.config import SearchSpace

__all__ = [
    "LOG_DIR",
    "STEPS_DIR",
    "STEP_TAGS",
    "TensorBoardLogger",
    "TensorBoardUnavailable",
    "scalar_tag",
]

#: Sub-directory of the run directory that holds the event files.
LOG_DIR = "tensorboard"
#: Sub-directory of :data:`LOG_DIR` that holds the per-window scalars, indexed by global step.
STEPS_DIR = "steps"
INSTALL_HINT = "pip install 'factornas[tensorboard]'"


class TensorBoardUnavailable(FactorNASError):
    """The tensorboard package is not installed."""


class TensorBoardLogger:
    """Writes epoch records into ``run_dir/tensorboard``; call it with each record, and
    :meth:`window` with each progress window's.

    Each writer opens at its first record with ``purge_step`` at that record's epoch (or
    global step): a resumed run hides whatever the killed one logged after its last
    checkpoint, as ``metrics.jsonl`` drops those records (a resumed run's first window is the
    first one after its checkpoint, the windows being fixed by the step count).
    """

    def __init__(self, run_dir: str | Path, space: SearchSpace | None = None) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise TensorBoardUnavailable(
                f"--log tensorboard needs the tensorboard package: {INSTALL_HINT}"
            ) from None
        self._writer_class = SummaryWriter
        self.run_dir = Path(run_dir)
        self.log_dir = self.run_dir / LOG_DIR
        self.view = record_view.RecordView(space)
        self._writer: Any = None
        self._steps_writer: Any = None

    def __call__(self, record: Mapping[str, Any]) -> None:
        epoch = int(record["epoch"])
        if self._writer is None:
            claim(self.run_dir, f"{LOG_DIR}/")
            self._writer = self._writer_class(str(self.log_dir), purge_step=epoch)
        for tag, value in record_view.epoch_scalars(record).items():
            self._writer.add_scalar(tag, value, epoch)
        for group in self.view.groups(record):
            self._writer.add_histogram(group.tag, group.weights, epoch)
            for tag, mean in group.means().items():
                self._writer.add_scalar(tag, mean, epoch)
        genotype = record_view.record_genotype(record)
        if genotype is not None and record_view.can_draw():
            for cell_type in record_view.CELL_TYPES:
                image = record_view.cell_image(genotype, cell_type)
                self._writer.add_image(f"cells/{cell_type}", image, epoch, dataformats="HWC")
        self._writer.flush()

    def window(self, record: Mapping[str, Any]) -> None:
        """One progress window's mean loss, accuracy and learning rate at its global step."""
        step = int(record["step"])
        if self._steps_writer is None:
            claim(self.run_dir, f"{LOG_DIR}/")
            self._steps_writer = self._writer_class(str(self.log_dir / STEPS_DIR), purge_step=step)
        for tag, value in record_view.window_scalars(record).items():
            self._steps_writer.add_scalar(tag, value, step)
        self._steps_writer.flush()

    def close(self, failed: bool = False) -> None:
        """Flush and close the writers (``failed`` is for the trackers that keep a run status;
        an event file has none)."""
        for writer in (self._writer, self._steps_writer):
            if writer is not None:
                writer.close()
