"""Running sums that stay on the device, so that the training loops never wait for it per step.

Reading a loss or a count on the host (``float(loss)``, ``.item()``) blocks until the device
has finished everything queued before it; done every step, it keeps the host from queueing the
next step while the device works on this one. The loops add each step's statistics here, on the
device, and :meth:`DeviceSums.read` them at a progress refresh or at the end of an epoch: the
only places a loop waits for the device.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


class DeviceSums:
    """``size`` float64 sums on ``device`` (float64: an epoch's sum of losses keeps its digits)."""

    def __init__(self, size: int, device: torch.device, start: torch.Tensor | None = None) -> None:
        """Zeros, or the ``start`` values (sums a checkpoint kept, resumed exactly: float64
        holds what :meth:`read` returned bit for bit)."""
        self.sums = torch.zeros(size, dtype=torch.float64, device=device)
        if start is not None:
            self.sums.copy_(start)

    def add(self, values: Sequence[torch.Tensor]) -> None:
        """Add one value per sum (0-d tensors of any dtype), without reading them."""
        self.sums += torch.stack([v.detach().to(torch.float64) for v in values])

    def read(self) -> list[float]:
        """The sums as numbers: waits for the device."""
        return self.sums.tolist()
