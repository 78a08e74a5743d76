"""Refusing a network that cannot fit before building it.

``--channels 100000`` used to build its supernet until the kernel's out-of-memory killer ended
the process without a word. A network far beyond the published sizes is first built on the
``meta`` device (shapes only, no memory), its parameters counted, and the memory its weights,
gradients and optimizer state need at the least compared with what the device has free: a
network that cannot fit is one line saying how large it is, before anything is allocated.
Networks of the published sizes skip the check (it costs a second of module construction).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from factornas.errors import FactorNASError

#: C² × cells of the largest published network (DARTS's ImageNet evaluation, C=48, 14 cells,
#: rounded up to 20): a network within it fits wherever its paper ran, so it is not checked.
CHECKED_ABOVE = 48 * 48 * 20
_MEMINFO = Path("/proc/meminfo")
#: Bounds every config puts on C and the cell count: far past any published network (C=48,
#: 20 cells), and low enough that building the modules ends in seconds (a 10^22-cell request
#: used to build cells until memory ran out) and no size overflows torch's 64-bit shapes.
MAX_CHANNELS = 4096
MAX_CELLS = 200
#: ImageNet-21k's classes, rounded up: the classifier of any real dataset.
MAX_CLASSES = 100_000


class DoesNotFitError(FactorNASError):
    """A network's parameters alone exceed the free memory of its device."""


def available_bytes(device: torch.device) -> int | None:
    """Free memory of ``device``: the GPU's, or the machine's ``MemAvailable``; None when it
    cannot be told (then nothing is refused)."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    if device.type != "cpu":
        return None
    try:
        for line in _MEMINFO.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _size(count: float, unit: str) -> str:
    """``25.7 G parameters``, ``308.6 GB``: three significant digits and an SI prefix."""
    for prefix, scale in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if count >= scale:
            return f"{count / scale:.1f} {prefix}{unit}"
    return f"{count:.0f} {unit}"


def check_fits(
    build: Callable[[], nn.Module],
    *,
    channels: int,
    layers: int,
    device: torch.device,
    bytes_per_parameter: int,
    what: str,
) -> None:
    """Refuse, in one line, a network (``build`` makes it) whose parameters times
    ``bytes_per_parameter`` (weights, gradients, optimizer state) exceed ``device``'s free
    memory; a network within :data:`CHECKED_ABOVE` is not built for this."""
    if channels * channels * layers <= CHECKED_ABOVE:
        return
    free = available_bytes(device)
    if free is None:
        return
    with torch.device("meta"):
        network = build()
    parameters = sum(p.numel() for p in network.parameters())
    needed = parameters * bytes_per_parameter
    if needed > free:
        raise DoesNotFitError(
            f"{what} with C={channels} and {layers} cells has {_size(parameters, ' parameters')}"
            f", which need at least {_size(needed, 'B')} with their gradients and optimizer "
            f"state; {device} has {_size(free, 'B')} free: lower --channels or --layers"
        )
