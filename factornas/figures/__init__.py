"""Pictures of a run: cell diagrams of a genotype, its training curves, and the architecture
weights over time.

Everything here needs the optional matplotlib (``pip install 'factornas[plot]'``); importing
this package does not, so callers can catch :class:`PlottingUnavailable` and carry on.
"""

from factornas.figures.backend import INSTALL_HINT, PlottingUnavailable, require_matplotlib
from factornas.figures.cells import cell_figure, save_cell_diagrams
from factornas.figures.curves import TrainingCurves, curves_from_records, save_curve_figures
from factornas.figures.history import (
    ArchHistory,
    GroupSeries,
    candidate_names,
    history_from_records,
    read_history,
    read_records,
    save_history_figures,
    unnamed_groups,
)

__all__ = [
    "INSTALL_HINT",
    "ArchHistory",
    "GroupSeries",
    "PlottingUnavailable",
    "TrainingCurves",
    "candidate_names",
    "cell_figure",
    "curves_from_records",
    "history_from_records",
    "read_history",
    "read_records",
    "require_matplotlib",
    "save_cell_diagrams",
    "save_curve_figures",
    "save_history_figures",
    "unnamed_groups",
]
