"""A TensorBoard view of a run, written from the records that ``metrics.jsonl`` gets.

``metrics.jsonl`` stays the source of truth; this logger only re-plots what the loops already
computed, so it adds no device synchronization to the step loop (the per-step values live on
the device until the loop reads them, every progress window). Per epoch it writes every number
of the record as a scalar (``train_loss`` → ``train/loss``), the mean softmax of each searched
group's candidates per cell type (``arch/normal/activation/selu``) with the full per-edge
weights as a histogram, and the derived cells as images when matplotlib is installed. Per
progress window (:mod:`factornas.runtime.step_windows`) it writes the window's mean training
loss, accuracy and learning rate against the global step (``train_steps/loss``, …) into
``tensorboard/steps``: a run of its own, so that each axis (epochs, steps) is purged on resume
by its own position.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from factornas.errors import FactorNASError
from factornas.runtime.owned import NotOursError, owner
from factornas.space.config import SearchSpace
from factornas.space.genotype import Genotype

#: Sub-directory of the run directory that holds the event files.
LOG_DIR = "tensorboard"
#: Sub-directory of :data:`LOG_DIR` that holds the per-window scalars, indexed by global step.
STEPS_DIR = "steps"
#: The numbers of a window's record that become scalars, and their tags.
STEP_TAGS = {"loss": "train_steps/loss", "acc": "train_steps/acc", "lr": "train_steps/lr"}
INSTALL_HINT = "pip install 'factornas[tensorboard]'"


class TensorBoardUnavailable(FactorNASError):
    """The tensorboard package is not installed."""


def scalar_tag(key: str) -> str:
    """``train_loss`` → ``train/loss``: one TensorBoard section per split."""
    split, sep, name = key.partition("_")
    return f"{split}/{name}" if sep and split in ("train", "val", "test") else f"run/{key}"


def cell_image(genotype: Genotype, cell_type: str) -> np.ndarray:
    """One cell diagram rendered to an RGB array (H, W, 3), without pyplot."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from factornas.figures.cells import cell_figure

    canvas = FigureCanvasAgg(cell_figure(genotype, cell_type))
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


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
        self.log_dir = Path(run_dir) / LOG_DIR
        self.space = space
        self._writer: Any = None
        self._steps_writer: Any = None
        self._draw = self._matplotlib_present()

    def _claim_log_dir(self) -> None:
        """Record the log folder as the run's (its ``--overwrite`` deletes it whole, so a
        folder of that name the run did not make is refused rather than written into)."""
        run = owner(self.log_dir.parent)
        if run is None:
            return
        name = f"{LOG_DIR}/"
        if self.log_dir.exists() and name not in run.recorded():
            raise NotOursError(
                f"{self.log_dir} exists but is not this run's: move it away, or choose "
                "another --out"
            )
        run.record([name])

    @staticmethod
    def _matplotlib_present() -> bool:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            print(
                "note: matplotlib is not installed: no cell diagrams in TensorBoard "
                "(pip install 'factornas[plot]')",
                file=sys.stderr,
            )
            return False
        return True

    def __call__(self, record: Mapping[str, Any]) -> None:
        epoch = int(record["epoch"])
        if self._writer is None:
            self._claim_log_dir()
            self._writer = self._writer_class(str(self.log_dir), purge_step=epoch)
        for key, value in record.items():
            if key != "epoch" and isinstance(value, int | float) and not isinstance(value, bool):
                self._writer.add_scalar(scalar_tag(key), value, epoch)
        if isinstance(record.get("arch"), Mapping):
            self._arch(record["arch"], epoch)
        if self._draw and isinstance(record.get("genotype"), Mapping):
            genotype = Genotype.model_validate(record["genotype"])
            for cell_type in ("normal", "reduce"):
                image = cell_image(genotype, cell_type)
                self._writer.add_image(f"cells/{cell_type}", image, epoch, dataformats="HWC")
        self._writer.flush()

    def window(self, record: Mapping[str, Any]) -> None:
        """One progress window's mean loss, accuracy and learning rate at its global step."""
        step = int(record["step"])
        if self._steps_writer is None:
            self._claim_log_dir()
            self._steps_writer = self._writer_class(str(self.log_dir / STEPS_DIR), purge_step=step)
        for key, tag in STEP_TAGS.items():
            self._steps_writer.add_scalar(tag, record[key], step)
        self._steps_writer.flush()

    def _arch(self, arch: Mapping[str, Mapping[str, list[list[float]]]], epoch: int) -> None:
        """Mean softmax per candidate over the edges, and every weight as a histogram."""
        for cell_type, groups in arch.items():
            names = self._candidate_names(cell_type)
            for group, rows in groups.items():
                weights = np.asarray(rows, dtype=np.float64)
                self._writer.add_histogram(f"arch/{cell_type}/{group}", weights, epoch)
                labels = names.get(group) or tuple(str(i) for i in range(weights.shape[1]))
                for label, mean in zip(labels, weights.mean(axis=0), strict=True):
                    self._writer.add_scalar(f"arch/{cell_type}/{group}/{label}", mean, epoch)

    def _candidate_names(self, cell_type: str) -> dict[str, tuple[str, ...]]:
        if self.space is None or cell_type not in self.space.cell_types:
            return {}
        return {g.name: g.names for g in self.space.cell(cell_type).groups()}

    def close(self) -> None:
        for writer in (self._writer, self._steps_writer):
            if writer is not None:
                writer.close()
