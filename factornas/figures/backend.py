"""Access to matplotlib, an optional extra: one place decides how its absence reads.

Every figure is drawn on a bare :class:`matplotlib.figure.Figure` (no ``pyplot``), so drawing
never touches a GUI backend or global figure state, works headless and in threads.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from factornas.errors import FactorNASError
from factornas.files import atomic_path
from factornas.runtime.owned import owner

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: The one line that tells a user how to get the pictures.
INSTALL_HINT = "pip install 'factornas[plot]'"

#: Formats a figure can be written in.
FORMATS = ("png", "svg")


class PlottingUnavailable(FactorNASError):
    """matplotlib is not installed."""


def require_matplotlib() -> ModuleType:
    """The ``matplotlib.figure`` module, or a one-line error saying how to install it."""
    try:
        return importlib.import_module("matplotlib.figure")
    except ImportError:
        raise PlottingUnavailable(
            f"pictures need matplotlib, which is not installed: {INSTALL_HINT}"
        ) from None


def save(figure: Figure, stem: Path, formats: Iterable[str], *, tight: bool = True) -> list[Path]:
    """Write ``figure`` as ``stem.<format>`` for each format, cropped to its content when
    ``tight`` (an extra layout pass: figures laid out to the inch pass ``tight=False``).

    SVG keeps its text as ``<text>`` elements (``svg.fonttype: none``) instead of outlines:
    labels stay searchable, selectable and small. Each file is written to a temporary and
    renamed; in a folder of ours (``show``'s, a comparison's) its name is recorded first.
    """
    import matplotlib

    folder = owner(stem.parent)
    written = []
    for fmt in formats:
        if fmt not in FORMATS:
            raise FactorNASError(f"unknown figure format {fmt!r}; use {' or '.join(FORMATS)}")
        path = stem.with_suffix(f".{fmt}")
        if folder is not None:
            folder.record([path.name])
        # No date and a fixed id salt: the same figure always gives the same bytes.
        metadata = {"Date": None} if fmt == "svg" else {}
        with (
            matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "factornas"}),
            atomic_path(path) as tmp,
        ):
            figure.savefig(
                tmp,
                format=fmt,
                dpi=150,
                bbox_inches="tight" if tight else None,
                metadata=metadata,
            )
        written.append(path)
    return written
