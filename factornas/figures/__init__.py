"""Pictures of a search: cell diagrams of a genotype, and the architecture weights over time.

Everything here needs the optional matplotlib (``pip install 'factornas[plot]'``); importing
this package does not, so callers can catch :class:`PlottingUnavailable` and carry on.
"""

from factornas.figures.backend import INSTALL_HINT, PlottingUnavailable, require_matplotlib
from factornas.figures.cells import cell_figure, save_cell_diagrams
from factornas.figures.history import (
    ArchHistory,
    GroupSeries,
    candidate_names,
    history_from_records,
    read_history,
    save_history_figures,
)

__all__ = [
    "INSTALL_HINT",
    "ArchHistory",
    "GroupSeries",
    "PlottingUnavailable",
    "candidate_names",
    "cell_figure",
    "history_from_records",
    "read_history",
    "require_matplotlib",
    "save_cell_diagrams",
    "save_history_figures",
]
