"""A rich progress bar with loss, accuracy and ETA, silent when output is not a terminal."""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

#: Steps between refreshes of a loop's loss and accuracy. A refresh reads the loop's running
#: sums on the host, the one point inside an epoch where the loop waits for the device.
REFRESH_EVERY = 10


def make_progress(enabled: bool = True, console: Console | None = None) -> Progress:
    """Columns: description, bar, step count, elapsed, ETA, then free-form stats."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[stats]}"),
        console=console,
        disable=not enabled,
        transient=False,
    )
