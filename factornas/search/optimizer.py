"""The N-level optimizer: Algorithm 1 of the paper for any number of factor groups.

Level 0 is the network weights ω, trained on the train split. Every searched, unfrozen factor
group is one further level, trained on the validation split with its own optimizer. One call of
:meth:`MultiLevelOptimizer.step` is one iteration of Algorithm 1:

* ``ω ← ω − η ∇ω L_train(ω, λ)``;
* *sequential* schedule: for each level k in order, ``λ_k ← λ_k − η_k ∇λ_k L_val(ω, λ)``, taken
  after levels < k have stepped (β's gradient sees α_{t+1}) — one validation pass per level;
* *joint* schedule: one validation pass, every active level steps from it.

``step_order`` says which half comes first: the weights (``weights_first``, Algorithm 1 as
printed, and GDAS) or the architecture levels (``architecture_first``: DARTS's, PC-DARTS's and
their descendants' ``train_search.py`` call ``architect.step`` before the weight step, so the
levels see the ω of the previous iteration and ω the levels' new weights).

Gradients are asked for exactly the tensors that step (``torch.autograd.grad``), so the weight
step computes no architecture gradients and the architecture step no weight gradients; and each
forward pass is recorded with the tensors that do not step marked constant (:func:`_constant`),
so autograd neither saves what only their gradients would need nor records the ops in front of
the first tensor that steps.

Second order (``order="second"``) replaces ∇λ L_val(ω, λ) by DARTS's unrolled hypergradient
∇λ L_val(ω', λ) − ξ ∇²λω L_train(ω, λ) ∇ω' L_val(ω', λ) with the look-ahead
``ω' = ω − ξ (momentum buffer + ∇ω L_train + weight decay · ω)`` and the Hessian-vector product
taken by central finite differences; it works for every level.

Under a sampled relaxation (GDAS) the weights of ops that no edge sampled take no part in a
pass: their gradients are materialized as zeros (``materialize_grads``; momentum and weight decay
still move them, where reference GDAS leaves them alone), which keeps the update one fused step
and every rank's gradient list the same.

A step reads no value on the host: the losses and the correct count it reports stay device
tensors (:class:`StepStats`), the finite-difference radius is a tensor, and clipping and the
updates are fused (:mod:`factornas.runtime.optim`), so the host queues a whole step without
waiting for the device; the loops read their accumulated statistics once per refresh.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from factornas.data.batches import Batch
from factornas.kernels.allocator import keep_freed_memory
from factornas.runtime import optim
from factornas.runtime.optimizers import build_optimizer, scheduled_lr
from factornas.runtime.precision import forward_fp32_out
from factornas.search.adversarial import attack, overriding
from factornas.search.config import LevelConfig, SearchConfig
from factornas.supernet.network import SearchNetwork

GradReducer = Callable[[list[torch.Tensor]], list[torch.Tensor]]


def _no_reduce(grads: list[torch.Tensor]) -> list[torch.Tensor]:
    return grads


@dataclass
class ArchLevel:
    """One architecture level: a factor group's parameters and its optimizer."""

    name: str
    params: list[nn.Parameter]
    optimizer: torch.optim.Optimizer
    config: LevelConfig
    #: Whether the search lets architecture levels step in an epoch (a progressive stage's
    #: warm-up holds them all).
    open: Callable[[int], bool] = lambda _epoch: True

    def active(self, epoch: int, step: int) -> bool:
        return (
            epoch >= self.config.warmup_epochs
            and step % self.config.period == 0
            and self.open(epoch)
        )


@dataclass
class StepStats:
    """What one iteration measured. The values are 0-d device tensors, not numbers: reading
    one waits for the device to finish the step, so a loop sums them on the device and reads
    the sums once per progress refresh (``train_count`` and ``arch_steps`` are known on the
    host without waiting)."""

    train_loss: torch.Tensor
    train_correct: torch.Tensor
    train_count: int
    val_loss: torch.Tensor | None
    arch_steps: int
    #: The weights' gradient's total 2-norm (before clipping): the clipping computes it, and
    #: the finite guard reads it instead of passing over the gradients again.
    grad_norm: torch.Tensor


class MultiLevelOptimizer:
    """Owns every optimizer of a search and performs one Algorithm-1 iteration per call."""

    def __init__(
        self,
        network: SearchNetwork,
        config: SearchConfig,
        reduce_grads: GradReducer = _no_reduce,
    ) -> None:
        # Every step reallocates gigabytes: reuse mapped pages (docs/performance.md).
        keep_freed_memory()
        self.network = network
        self.config = config
        self.reduce_grads = reduce_grads
        self.weights = [p for p in network.weight_parameters() if p.requires_grad]
        self.weight_optimizer = build_optimizer(config.weights_optimizer, self.weights)
        frozen = network.arch.frozen_groups()
        grouped = network.arch.by_group()
        self.levels = [
            ArchLevel(
                level.group,
                grouped[level.group],
                build_optimizer(level.optimizer, grouped[level.group]),  # type: ignore[arg-type]
                level,
                config.architecture_open,
            )
            for level in config.level_configs(tuple(grouped))
            if level.group not in frozen
        ]

    # -- schedule ------------------------------------------------------------------------
    def set_epoch(self, epoch: int) -> None:
        """Apply every optimizer's learning rate and every relaxation's schedule for ``epoch``."""
        epochs = self.config.epochs
        self.network.arch.relaxations.set_epoch(epoch, epochs)
        weights_lr = scheduled_lr(self.config.weights_optimizer, epoch, epochs)
        optim.set_lr(self.weight_optimizer, weights_lr)
        for level in self.levels:
            assert level.config.optimizer is not None
            optim.set_lr(level.optimizer, scheduled_lr(level.config.optimizer, epoch, epochs))

    @property
    def weight_lr(self) -> float:
        return float(self.weight_optimizer.param_groups[0]["lr"])

    # -- one iteration -------------------------------------------------------------------
    def step(self, train: Batch, val: Batch, epoch: int, step: int) -> StepStats:
        """ω on ``train`` and the active architecture levels on ``val``, in ``step_order``."""
        active = [level for level in self.levels if level.active(epoch, step)]
        val_loss: torch.Tensor | None = None
        if self.config.step_order == "architecture_first":
            val_loss = self._arch_steps(active, train, val)
        loss, correct, grad_norm = self._weight_step(train)
        if self.config.step_order == "weights_first":
            val_loss = self._arch_steps(active, train, val)
        return StepStats(loss, correct, train[1].numel(), val_loss, len(active), grad_norm)

    def _weight_step(self, train: Batch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """ω ← ω − η ∇ω L_train, at SDARTS's perturbed weights where a group smooths; the
        training loss, the batch's correct count and the gradient's total norm (the clipping's,
        or computed for the guard when nothing clips), as device tensors."""
        x, y = train
        perturbed = attack(self.network, x, y)  # SDARTS-ADV's weights, when a group asks
        with (
            _constant(self.network.arch_parameters()),
            _perturbing(self.network),
            overriding(self.network, perturbed),
        ):
            logits = self._logits(x)
        loss = F.cross_entropy(logits, y)
        grads = torch.autograd.grad(loss, self.weights, materialize_grads=True)
        reduced = self.reduce_grads(list(grads))
        _assign(self.weights, reduced)
        # Without clipping, the norm is computed for the guard alone (one pass).
        unclipped = None if self.config.grad_clip is not None else optim.total_norm(reduced)
        clipped = optim.step(self.weight_optimizer, self.weights, self.config.grad_clip)
        norm = clipped if clipped is not None else unclipped
        assert norm is not None  # every weight has a gradient (materialize_grads)
        return loss.detach(), (logits.detach().argmax(1) == y).sum(), norm

    def _arch_steps(self, active: list[ArchLevel], train: Batch, val: Batch) -> torch.Tensor | None:
        """The active levels' steps in the configured schedule; the last validation loss."""
        if not active:
            return None
        if self.config.schedule == "joint":
            return self._arch_step(active, train, val)
        val_loss = None
        for level in active:
            val_loss = self._arch_step([level], train, val)
        return val_loss

    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        """The network's float32 logits, its forward in the configured precision."""
        return forward_fp32_out(self.network, x, self.config.precision)

    def _arch_step(self, levels: list[ArchLevel], train: Batch, val: Batch) -> torch.Tensor:
        params = [p for level in levels for p in level.params]
        if self.config.order == "first":
            x, y = val
            stepping = {id(p) for p in params}
            with _constant(p for p in self.network.parameters() if id(p) not in stepping):
                logits = self._logits(x)
            loss = F.cross_entropy(logits, y)
            value = loss.detach()
            terms = self._loss_terms(levels)
            if terms is not None:  # the relaxations' own terms (KL, zero-one, β-DARTS)
                loss = loss + terms
            grads = list(torch.autograd.grad(loss, params))
        else:
            grads, value = self.unrolled_gradients(params, train, val)
            terms = self._loss_terms(levels)
            if terms is not None:
                extra = torch.autograd.grad(terms, params, materialize_grads=True)
                grads = [g + e for g, e in zip(grads, extra, strict=True)]
        _assign(params, self.reduce_grads(grads))
        for level in levels:
            level.optimizer.step()
        return value

    def _loss_terms(self, levels: list[ArchLevel]) -> torch.Tensor | None:
        return self.network.arch.loss_terms(level.name for level in levels)

    # -- second order --------------------------------------------------------------------
    def _virtual_step_direction(self, grads: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """The update direction the weight optimizer would take (momentum and decay included)."""
        group = self.weight_optimizer.param_groups[0]
        momentum = group.get("momentum", 0.0) or 0.0
        decay = group.get("weight_decay", 0.0) or 0.0
        out = []
        for p, g in zip(self.weights, grads, strict=True):
            d = g + decay * p.detach()
            buffer = self.weight_optimizer.state.get(p, {}).get("momentum_buffer")
            if buffer is not None and momentum:
                d = d + momentum * buffer
            out.append(d)
        return out

    def unrolled_gradients(
        self, arch: list[nn.Parameter], train: Batch, val: Batch
    ) -> tuple[list[torch.Tensor], torch.Tensor]:
        """DARTS's second-order hypergradient of the validation loss w.r.t. ``arch``, and the
        validation loss at the look-ahead weights (a device tensor)."""
        xi = self.weight_lr
        xt, yt = train
        xv, yv = val
        backup = [p.detach().clone() for p in self.weights]
        train_grads = torch.autograd.grad(
            F.cross_entropy(self._logits(xt), yt),
            self.weights,
            materialize_grads=True,
        )
        direction = self.reduce_grads(self._virtual_step_direction(list(train_grads)))
        try:
            with torch.no_grad():
                for p, d in zip(self.weights, direction, strict=True):
                    p.sub_(xi * d)
            val_loss = F.cross_entropy(self._logits(xv), yv)
            grads = torch.autograd.grad(val_loss, [*arch, *self.weights], materialize_grads=True)
            d_arch, v = list(grads[: len(arch)]), list(grads[len(arch) :])
            v = self.reduce_grads(v)
            # A device tensor: the step never waits for the norm (DARTS reads it on the host).
            norm = torch.linalg.vector_norm(torch.cat([g.reshape(-1) for g in v]))
            eps = self.config.unrolled_radius / norm.clamp_min(1e-12)
            hessian = []
            for sign in (1.0, -1.0):
                with torch.no_grad():
                    for p, b, g in zip(self.weights, backup, v, strict=True):
                        p.copy_(b + sign * eps * g)
                loss = F.cross_entropy(self._logits(xt), yt)
                hessian.append(torch.autograd.grad(loss, arch))
        finally:
            with torch.no_grad():
                for p, b in zip(self.weights, backup, strict=True):
                    p.copy_(b)
        result = [
            da - xi * (gp - gm) / (2 * eps)
            for da, gp, gm in zip(d_arch, hessian[0], hessian[1], strict=True)
        ]
        return result, val_loss.detach()

    # -- state ---------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "weights": self.weight_optimizer.state_dict(),
            "levels": {level.name: level.optimizer.state_dict() for level in self.levels},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.weight_optimizer.load_state_dict(state["weights"])
        for level in self.levels:
            level.optimizer.load_state_dict(state["levels"][level.name])


@contextmanager
def _constant(params: Iterable[nn.Parameter]) -> Iterator[None]:
    """Record a forward pass as if ``params`` were constants; restore them afterwards.

    For every op autograd saves what the gradients of its grad-requiring inputs need: each
    ``α_o · o(x)`` of a mixed edge keeps ``o(x)`` for α's gradient, for instance, and an op
    whose inputs all come before the first tensor that steps is recorded at all only because
    the weights require grad. A pass differentiated w.r.t. other tensors never uses either, so
    switching ``requires_grad`` off for its forward saves that memory and work and leaves the
    gradients it asks for unchanged (bit for bit).
    """
    switched = [p for p in params if p.requires_grad]
    for p in switched:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in switched:
            p.requires_grad_(True)


@contextmanager
def _perturbing(network: SearchNetwork) -> Iterator[None]:
    """The weight step's forward: SDARTS smoothing perturbs the weights of groups that ask."""
    network.arch.relaxations.perturbing = True
    try:
        yield
    finally:
        network.arch.relaxations.perturbing = False


def _assign(params: Sequence[nn.Parameter], grads: Sequence[torch.Tensor]) -> None:
    for p, g in zip(params, grads, strict=True):
        p.grad = g
