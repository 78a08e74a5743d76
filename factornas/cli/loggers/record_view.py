"""What an epoch or window record means to a tracker: the shared reading of ``metrics.jsonl``.

TensorBoard, Weights & Biases and MLflow show the same run, so the naming and the arithmetic
live here once: which numbers of a record become curves and under which tag
(``train_loss`` → ``train/loss``), each searched group's mean softmax per candidate and cell
type (``arch/normal/activation/selu``), the derived genotype as text and its cells as images.
A logger only decides how its library stores each of these.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from factornas.space.config import SearchSpace
from factornas.space.genotype import Genotype, node_name

#: The cell types a genotype holds, in the order their images are logged.
CELL_TYPES = ("normal", "reduce")
#: The numbers of a window's record that become scalars, and their tags.
STEP_TAGS = {"loss": "train_steps/loss", "acc": "train_steps/acc", "lr": "train_steps/lr"}
#: The first component of every per-epoch tag (trackers that group charts by it need them all).
EPOCH_SECTIONS = ("train", "val", "test", "run", "arch", "cells", "genotype")


def scalar_tag(key: str) -> str:
    """``train_loss`` → ``train/loss``: one section per split, the rest under ``run/``."""
    split, sep, name = key.partition("_")
    return f"{split}/{name}" if sep and split in ("train", "val", "test") else f"run/{key}"


def epoch_scalars(record: Mapping[str, Any]) -> dict[str, float]:
    """Every number of an epoch record by its tag; booleans are flags, not curves."""
    return {
        scalar_tag(key): float(value)
        for key, value in record.items()
        if key != "epoch" and isinstance(value, int | float) and not isinstance(value, bool)
    }


def window_scalars(record: Mapping[str, Any]) -> dict[str, float]:
    """A progress window's mean loss, accuracy and learning rate by their tags."""
    return {tag: float(record[key]) for key, tag in STEP_TAGS.items()}


@dataclass(frozen=True)
class GroupWeights:
    """One searched group's softmax in one cell type: a row per edge, a column per candidate."""

    tag: str
    weights: np.ndarray
    labels: tuple[str, ...]

    def means(self) -> dict[str, float]:
        """The mean weight of each candidate over the edges, tagged ``tag/candidate``."""
        column_means = self.weights.mean(axis=0)
        return {
            f"{self.tag}/{label}": float(m)
            for label, m in zip(self.labels, column_means, strict=True)
        }


class RecordView:
    """Reads the ``arch`` part of epoch records with the candidate names of ``space`` (columns
    are numbered when the space is unknown, as for a retraining run)."""

    def __init__(self, space: SearchSpace | None = None) -> None:
        self.space = space

    def groups(self, record: Mapping[str, Any]) -> list[GroupWeights]:
        arch = record.get("arch")
        if not isinstance(arch, Mapping):
            return []
        found = []
        for cell_type, groups in arch.items():
            names = self._candidate_names(cell_type)
            for group, rows in groups.items():
                weights = np.asarray(rows, dtype=np.float64)
                labels = names.get(group) or tuple(str(i) for i in range(weights.shape[1]))
                found.append(GroupWeights(f"arch/{cell_type}/{group}", weights, labels))
        return found

    def arch_means(self, record: Mapping[str, Any]) -> dict[str, float]:
        """Every group's mean softmax per candidate and cell type, by tag."""
        return {tag: mean for group in self.groups(record) for tag, mean in group.means().items()}

    def _candidate_names(self, cell_type: str) -> dict[str, tuple[str, ...]]:
        if self.space is None or cell_type not in self.space.cell_types:
            return {}
        return {g.name: g.names for g in self.space.cell(cell_type).groups()}


def record_genotype(record: Mapping[str, Any]) -> Genotype | None:
    """The genotype derived at this epoch (searches have one, retrainings do not)."""
    value = record.get("genotype")
    return Genotype.model_validate(value) if isinstance(value, Mapping) else None


def genotype_text(genotype: Genotype) -> str:
    """The genotype as ``factornas search`` prints it: DARTS's string, then one line per edge."""
    lines = [genotype.to_darts_string()]
    for cell_type in CELL_TYPES:
        for target, edge in genotype.cell(cell_type).edges():
            lines.append(
                f"  {cell_type:6s} {node_name(edge.source)} → {node_name(target)}: {edge.label()}"
            )
    return "\n".join(lines) + "\n"


def cell_image(genotype: Genotype, cell_type: str) -> np.ndarray:
    """One cell diagram rendered to an RGB array (H, W, 3), without pyplot."""
    return _cell_image(genotype.to_json(), cell_type)


@functools.lru_cache(maxsize=4)
def _cell_image(genotype_json: str, cell_type: str) -> np.ndarray:
    """Cached by the genotype's JSON: several loggers draw the same cells each epoch, and a
    genotype that stopped changing need not be laid out again."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from factornas.figures.cells import cell_figure

    genotype = Genotype.from_json(genotype_json)
    canvas = FigureCanvasAgg(cell_figure(genotype, cell_type))
    canvas.draw()
    image = np.asarray(canvas.buffer_rgba())[..., :3].copy()
    image.flags.writeable = False  # shared between the loggers
    return image


@functools.cache
def can_draw() -> bool:
    """Whether matplotlib is there to draw cells; says once per process when it is not."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        print(
            "note: matplotlib is not installed: no cell diagrams in the --log trackers "
            "(pip install 'factornas[plot]')",
            file=sys.stderr,
        )
        return False
    return True
