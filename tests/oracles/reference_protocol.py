"""The search iteration of DARTS's and PC-DARTS's ``train_search.py``, re-stated as a test oracle.

Both scripts run the same loop (PC-DARTS only holds the architecture still for its first
epochs), written here plainly in modern torch, without any factornas code:

* at the top of every epoch the weights' ``CosineAnnealingLR`` steps, and the epoch trains
  at the rate it then reports;
* each iteration first steps the architecture on a validation batch with Adam (betas
  (0.5, 0.999)), then the weights on the training batch with SGD (momentum, weight decay),
  the gradient clipped to a total norm first;
* the architecture gradient is the plain ∇α L_val (first order) or DARTS's unrolled one:
  ∇α L_val(ω') − η·∇²αω L_train(ω)·∇ω' L_val(ω') at the look-ahead
  ``ω' = ω − η·(momentum·buffer + ∇ω L_train(ω) + weight_decay·ω)`` (no buffer before the
  weights' first step), the Hessian-vector product by central differences at
  ``ω ± R·∇ω' L_val(ω')`` with ``R = 0.01 / ‖∇ω' L_val(ω')‖``, evaluated on the training batch.

As in the scripts, the look-ahead runs in a copy of the network (its own α, its own batch-norm
statistics) and the finite differences perturb the network itself and add the step back.

A model passed in has ``weights()`` and ``arch_parameters()`` (``ReferenceDarts``,
``ReferencePcDarts``) and is in training mode throughout.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

Batch = tuple[torch.Tensor, torch.Tensor]


@dataclass(frozen=True)
class Protocol:
    """The constants of a reference search script."""

    epochs: int
    lr: float
    lr_min: float
    momentum: float
    weight_decay: float
    grad_clip: float
    arch_lr: float
    arch_betas: tuple[float, float]
    arch_weight_decay: float
    arch_from_epoch: int = 0  # PC-DARTS: ``if epoch >= 15: architect.step(...)``
    radius: float = 0.01  # the finite-difference step's numerator


def _flat(tensors: Sequence[torch.Tensor]) -> torch.Tensor:
    return torch.cat([t.reshape(-1) for t in tensors])


class ReferenceSearch:
    """One reference search: its optimizers, its schedule, its iteration."""

    def __init__(self, model: nn.Module, protocol: Protocol, *, unrolled: bool) -> None:
        self.model = model
        self.protocol = protocol
        self.unrolled = unrolled
        self.weights: list[nn.Parameter] = model.weights()  # type: ignore[operator]
        self.alphas: list[nn.Parameter] = model.arch_parameters()  # type: ignore[operator]
        self.optimizer = torch.optim.SGD(
            self.weights,
            lr=protocol.lr,
            momentum=protocol.momentum,
            weight_decay=protocol.weight_decay,
        )
        self.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
            self.optimizer, T_max=protocol.epochs, eta_min=protocol.lr_min
        )
        self.arch_optimizer = torch.optim.Adam(
            self.alphas,
            lr=protocol.arch_lr,
            betas=protocol.arch_betas,
            weight_decay=protocol.arch_weight_decay,
        )
        self.epoch = -1
        self.lr = protocol.lr
        #: What the last iteration measured: the weights' gradient norm before clipping, and
        #: (second order) the norms of ∇α L_val(ω') and of the η-scaled Hessian term.
        self.last_grad_norm = float("nan")
        self.last_direct_norm = float("nan")
        self.last_implicit_norm = float("nan")

    def loss(self, model: nn.Module, batch: Batch) -> torch.Tensor:
        x, y = batch
        return F.cross_entropy(model(x), y)

    # -- the epoch loop ---------------------------------------------------------------
    def start_epoch(self) -> None:
        """The top of the scripts' epoch loop: ``scheduler.step()``, then its rate."""
        with warnings.catch_warnings():
            # Skipped epochs step the schedule without a weight step in between.
            warnings.filterwarnings("ignore", message=".*lr_scheduler.step.*optimizer.step")
            self.scheduler.step()
        self.epoch += 1
        self.lr = self.scheduler.get_last_lr()[0]

    def iteration(self, train: Batch, val: Batch) -> None:
        if self.epoch >= self.protocol.arch_from_epoch:
            self.architecture_step(train, val)
        self.weight_step(train)

    # -- the two halves ---------------------------------------------------------------
    def architecture_step(self, train: Batch, val: Batch) -> None:
        self.arch_optimizer.zero_grad()
        if self.unrolled:
            grads = self.unrolled_gradients(train, val)
            for alpha, grad in zip(self.alphas, grads, strict=True):
                alpha.grad = grad
        else:
            self.loss(self.model, val).backward()
        self.arch_optimizer.step()

    def weight_step(self, train: Batch) -> None:
        self.optimizer.zero_grad()
        self.loss(self.model, train).backward()
        norm = nn.utils.clip_grad_norm_(self.weights, self.protocol.grad_clip)
        self.last_grad_norm = float(norm)
        self.optimizer.step()

    # -- second order -----------------------------------------------------------------
    def _momentum(self) -> list[torch.Tensor]:
        """momentum · the SGD buffers, or zeros when any is missing (before the first step)."""
        state = self.optimizer.state
        buffers = [state.get(p, {}).get("momentum_buffer") for p in self.weights]
        if any(b is None for b in buffers):
            return [torch.zeros_like(p) for p in self.weights]
        return [self.protocol.momentum * b for b in buffers]  # type: ignore[operator]

    def unrolled_gradients(self, train: Batch, val: Batch) -> list[torch.Tensor]:
        eta, decay = self.lr, self.protocol.weight_decay
        train_grads = torch.autograd.grad(self.loss(self.model, train), self.weights)
        ahead = copy.deepcopy(self.model)
        with torch.no_grad():
            for w, w_ahead, m, g in zip(
                self.weights, ahead.weights(), self._momentum(), train_grads, strict=True
            ):
                w_ahead.copy_(w - eta * (m + g + decay * w))
        ahead_alphas, ahead_weights = ahead.arch_parameters(), ahead.weights()
        grads = torch.autograd.grad(self.loss(ahead, val), [*ahead_alphas, *ahead_weights])
        direct, v = grads[: len(ahead_alphas)], grads[len(ahead_alphas) :]

        r = self.protocol.radius / _flat(v).norm()
        with torch.no_grad():
            for w, d in zip(self.weights, v, strict=True):
                w.add_(r * d)
        plus = torch.autograd.grad(self.loss(self.model, train), self.alphas)
        with torch.no_grad():
            for w, d in zip(self.weights, v, strict=True):
                w.sub_(2 * r * d)
        minus = torch.autograd.grad(self.loss(self.model, train), self.alphas)
        with torch.no_grad():
            for w, d in zip(self.weights, v, strict=True):
                w.add_(r * d)

        implicit = [eta * (p - m) / (2 * r) for p, m in zip(plus, minus, strict=True)]
        self.last_direct_norm = float(_flat(direct).norm())
        self.last_implicit_norm = float(_flat(implicit).norm())
        return [d - i for d, i in zip(direct, implicit, strict=True)]
