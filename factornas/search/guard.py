"""The finite-loss guard: a search whose losses or weights stop being finite stops, loudly.

A diverging search (a learning rate far too high, a resumed checkpoint gone bad) used to run on
with NaN losses and derive a meaningless genotype from NaN weights. The guard watches every
step *on the device* and never reads a value back, so the search step stays free of host
synchronizations; the host looks only where the loop reads values anyway: before each
checkpoint is written and before a genotype is derived or written. So the stop comes at the
first checkpoint or epoch end after the divergence, it names the *first* non-finite step, and
the checkpoint left on disk is the last one saved before that step.

What a step costs the guard is kept small (docs/design-decisions.md, "A lean finite guard"):

* the weights' gradient is not read at all: its total 2-norm comes with the step, from the
  clipping that computes it anyway (:attr:`StepStats.grad_norm`), and is non-finite when any
  gradient is;
* the batch-norm statistics are one concatenation and one max-norm per step, over a list of
  buffers read from the network once and again at every check (walking the supernet's
  thousands of modules costs tens of milliseconds of host time, far more than the step's own
  launches; a module that rebinds its buffers between checks is caught by the check itself);
* each step only writes its four magnitudes into a device window of :data:`REFRESH_EVERY`
  rows; the finiteness test and the fold into the first non-finite step run once per window
  and at each check.

A non-finite running statistic stays non-finite (the update ``(1 - m)·r + m·b`` keeps a NaN or
an infinity), so the per-step record is what lets the guard name the step at which it first
appeared rather than the window it appeared in.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence

import torch

from factornas.errors import FactorNASError
from factornas.runtime.progress import REFRESH_EVERY

#: What each watched quantity is, and the flags of the learning rates that drive it: the
#: validation loss is computed with the freshly stepped weights, so a weight step that blew up
#: shows there first as often as an architecture step does. A step's columns in the window.
WATCHED: tuple[tuple[str, str], ...] = (
    ("training loss", "--lr"),
    ("weights' gradient", "--lr"),
    ("validation (architecture) loss", "--lr or --arch-lr"),
    ("batch-norm statistics", "--lr"),
)
_UNSET = -1

Buffers = Sequence[torch.Tensor] | Callable[[], Iterable[torch.Tensor]]


class SearchDivergedError(FactorNASError):
    """A loss, gradient, parameter or statistic of the search became NaN or infinite."""


class FiniteGuard:
    """Remembers, on the device, the first step whose losses, weight gradient or batch-norm
    statistics were not finite; :meth:`check` reads that memory on the host and raises."""

    def __init__(
        self, device: torch.device, buffers: Buffers = (), window: int = REFRESH_EVERY
    ) -> None:
        """Watch the floating ``buffers`` (batch-norm running statistics overflow while the
        training-mode losses, which use batch statistics, stay finite). ``buffers`` may be a
        function returning them (``network.buffers``), read at the first step and at every
        check: a module may replace its buffers (grouped cells rebind BN statistics as views
        of one tensor at their first forward). ``window`` steps are recorded before each fold.
        """
        self._source = buffers
        self._watched: list[torch.Tensor] | None = None
        self._zero = torch.zeros((), device=device)
        #: Each recorded step's magnitudes, one row per step, in :data:`WATCHED` order.
        self._window = torch.zeros((window, len(WATCHED)), device=device)
        #: The (epoch, first step) of the rows recorded since the last fold, and their count.
        self._start: tuple[int, int] | None = None
        self._rows = 0
        # (epoch, step, index into WATCHED) of the first non-finite step, -1 while none.
        self.first = torch.full((3,), _UNSET, dtype=torch.long, device=device)

    def rebind(self, buffers: Buffers) -> None:
        """Watch other buffers from now on (a new supernet); what was recorded is kept."""
        self._fold()
        self._source, self._watched = buffers, None

    def _buffers(self) -> list[torch.Tensor]:
        source = self._source() if callable(self._source) else self._source
        return [b for b in source if b.is_floating_point()]

    def observe(
        self,
        epoch: int,
        step: int,
        train_loss: torch.Tensor | float,
        val_loss: torch.Tensor | float | None,
        grad_norm: torch.Tensor | None = None,
    ) -> None:
        """Record step ``step`` of ``epoch``: its losses, the weights' gradient's total norm
        (None: no gradient watched) and the buffers' current values."""
        if self._rows and (
            self._start is None
            or self._start[0] != epoch
            or self._start[1] + self._rows != step
            or self._rows == len(self._window)
        ):
            self._fold()  # a full window, or a step that does not follow: fold first
        if self._watched is None:
            self._watched = self._buffers()
        if self._rows == 0:
            self._start = (epoch, step)
        with torch.no_grad():
            values = [
                self._scalar(train_loss),
                self._zero if grad_norm is None else self._scalar(grad_norm),
                self._zero if val_loss is None else self._scalar(val_loss),
                _largest(self._watched, self._zero),
            ]
            torch.stack(values, out=self._window[self._rows])
        self._rows += 1

    def _fold(self) -> None:
        """Fold the recorded rows into :attr:`first` (on the device, no host read): the first
        row with a non-finite value, and in it the first such column."""
        if not self._rows:
            return
        assert self._start is not None
        epoch, start = self._start
        bad = ~torch.isfinite(self._window[: self._rows]).flatten()
        index = bad.to(torch.long).argmax()  # the first True (0 when there is none)
        columns = len(WATCHED)
        here = torch.stack(
            [torch.full_like(index, epoch), index.div(columns, rounding_mode="floor") + start,
             index.remainder(columns)]
        )  # fmt: skip
        self.first = torch.where((self.first[0] == _UNSET) & bad.any(), here, self.first)
        self._rows, self._start = 0, None

    def check(self, tensors: Sequence[torch.Tensor] = (), *, where: str = "") -> None:
        """Raise :class:`SearchDivergedError` if a watched step or ``tensors`` (parameters and
        buffers: batch-norm statistics can overflow while every loss is still finite) is not
        finite. The watched buffers are read from their source again afterwards.

        ``where`` (e.g. "the last good checkpoint is kept in DIR") ends the message.
        """
        self._fold()
        self._watched = None
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

    def _scalar(self, value: torch.Tensor | float) -> torch.Tensor:
        """A float32 device scalar (a step's own are already: no op); a Python float is filled
        in by a kernel, not copied over."""
        if not isinstance(value, torch.Tensor):
            return torch.full_like(self._zero, value)
        if value.dim() == 0 and value.dtype == torch.float32:
            return value
        return value.reshape(()).float()


def _largest(tensors: list[torch.Tensor], zero: torch.Tensor) -> torch.Tensor:
    """The largest magnitude in ``tensors`` (float32), from one concatenation and one norm:
    non-finite iff an element is (a max-norm, unlike a 2-norm, cannot overflow on large
    finite values). Batch-norm statistics are 1-D; any other buffer is flattened first."""
    if not tensors:
        return zero
    flat = torch.cat([t if t.dim() == 1 else t.reshape(-1) for t in tensors])
    largest = torch.linalg.vector_norm(flat, math.inf)
    return largest if largest.dtype == torch.float32 else largest.float()
