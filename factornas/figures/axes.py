"""Axes shared by the figures of a run: epochs and steps are counted, so ticks are whole.

matplotlib's own locators, even ``MaxNLocator(integer=True)``, fall back to fractional ticks
when the data span less than one unit: a one-epoch run was drawn with ticks -0.06, -0.04, …, as
if the epoch were continuous. Short spans therefore get a tick at every whole number.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

#: Up to this span every whole number gets a tick; beyond, matplotlib picks whole numbers.
EVERY_TICK_UP_TO = 12


def whole_number_axis(ax: Any, values: Sequence[int]) -> None:
    """Ticks at whole numbers only along x, and room on both sides of the data (half a unit, or
    3 % of a long span), so a one-epoch run shows one tick (its epoch) and every point, the
    first and last included, sits whole inside the panel."""
    from matplotlib.ticker import FixedLocator, MaxNLocator

    if not values:
        return
    first, last = min(values), max(values)
    if last - first < EVERY_TICK_UP_TO:
        ax.xaxis.set_major_locator(FixedLocator(list(range(first, last + 1))))
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    room = max(0.5, 0.03 * (last - first))
    ax.set_xlim(first - room, last + room)
