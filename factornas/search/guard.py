"""The finite-loss guard: a search whose losses or weights stop being finite stops, loudly.

A diverging search (a learning rate far too high, a resumed checkpoint gone bad) used to run on
with NaN losses and derive a meaningless genotype from NaN weights. The guard watches every
step *on the device*: each step adds a few elementwise ops and never reads a value back, so the
search step stays free of host synchronizations. The host looks only where the loop reads values
anyway: before each checkpoint is written and before a genotype is derived or written. So the
stop comes at the first checkpoint or epoch end after the divergence, it names the *first*
non-finite step (kept on the device with ``torch.where``), and the checkpoint left on disk is
the last one saved before that step.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence

import torch

from factornas.errors import FactorNASError

#: What each watched quantity is, and the flags of the learning rates that drive it: the
#: validation loss is computed with the freshly stepped weights, so a weight step that blew up
#: shows there first as often as an architecture step does.
WATCHED: tuple[tuple[str, str], ...] = (
    ("training loss", "--lr"),
    ("weights' gradient", "--lr"),
    ("validation (architecture) loss", "--lr or --arch-lr"),
    ("batch-norm statistics", "--lr"),
)
_UNSET = -1


class SearchDivergedError(FactorNASError):
    """A loss, gradient, parameter or statistic of the search became NaN or infinite."""


class FiniteGuard:
    """Remembers, on the device, the first step whose losses, weight gradients or batch-norm
    statistics were not finite; :meth:`check` reads that memory on the host and raises."""

    def __init__(
        self,
        device: torch.device,
        weights: Sequence[torch.nn.Parameter] = (),
        buffers: Sequence[torch.Tensor] | Callable[[], Iterable[torch.Tensor]] = (),
    ) -> None:
        """Watch the gradients of ``weights`` and the floating ``buffers`` (batch-norm running
        statistics overflow while the training-mode losses, which use batch statistics, stay
        finite). ``buffers`` may be a function returning them, read at every step: a module
        may replace its buffers (grouped cells rebind BN statistics as views of one tensor)."""
        self.weights = list(weights)
        self._buffers = buffers
        # (epoch, step, index into WATCHED) of the first non-finite step, -1 while none.
        self.first = torch.full((3,), _UNSET, dtype=torch.long, device=device)

    def buffers(self) -> Iterable[torch.Tensor]:
        """The watched buffers as they are now."""
        return self._buffers() if callable(self._buffers) else self._buffers

    def observe(
        self,
        epoch: int,
        step: int,
        train_loss: torch.Tensor | float,
        val_loss: torch.Tensor | float | None,
    ) -> None:
        """Record step ``step`` of ``epoch``: its losses, the weights' current gradients and the
        buffers' current values."""
        device = self.first.device
        grads = [p.grad for p in self.weights if p.grad is not None]
        values = [
            train_loss,
            _largest(grads, device),
            0.0 if val_loss is None else val_loss,
            _largest([b for b in self.buffers() if b.is_floating_point()], device),
        ]
        bad = ~torch.isfinite(torch.stack([_scalar(v, device) for v in values]))
        here = torch.stack(
            [_index(epoch, device), _index(step, device), bad.to(torch.long).argmax()]
        )
        self.first = torch.where((self.first[0] == _UNSET) & bad.any(), here, self.first)

    def check(self, tensors: Sequence[torch.Tensor] = (), *, where: str = "") -> None:
        """Raise :class:`SearchDivergedError` if a watched step or ``tensors`` (parameters and
        buffers: batch-norm statistics can overflow while every loss is still finite) is not
        finite.

        ``where`` (e.g. "the last good checkpoint is kept in DIR") ends the message.
        """
        epoch, step, index = self.first.tolist()
        suffix = f"; {where}" if where else ""
        if epoch != _UNSET:
            what, flag = WATCHED[index]
            raise SearchDivergedError(
                f"the search diverged: the {what} became non-finite at epoch {epoch}, step "
                f"{step} (counted from 0; the first such step): lower {flag}{suffix}"
            )
        finite = [torch.isfinite(t).all() for t in tensors if t.is_floating_point()]
        if finite and not bool(torch.stack(finite).all()):
            raise SearchDivergedError(
                "the search diverged: its weights or batch-norm statistics are non-finite "
                f"although every loss was finite: lower --lr{suffix}"
            )


def _largest(tensors: list[torch.Tensor], device: torch.device) -> torch.Tensor:
    """The largest magnitude in ``tensors``, in one fused pass: non-finite iff an element is
    (a max-norm, unlike a 2-norm, cannot overflow on large finite values)."""
    if not tensors:
        return torch.zeros((), device=device)
    return torch.stack(torch._foreach_norm(tensors, math.inf)).amax()


def _scalar(value: torch.Tensor | float, device: torch.device) -> torch.Tensor:
    """A float32 device scalar; a Python float is filled in by a kernel, not copied over."""
    if isinstance(value, torch.Tensor):
        return value.detach().reshape(()).float()
    return torch.full((), value, dtype=torch.float32, device=device)


def _index(value: int, device: torch.device) -> torch.Tensor:
    return torch.full((), value, dtype=torch.long, device=device)
