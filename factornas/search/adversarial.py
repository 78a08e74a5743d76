"""SDARTS-ADV: the worst perturbation of the architecture weights within the smoothing radius.

Right before each weight step, for every group a stabilizer asks an adversary of (SDARTS's
``smoothing`` with ``mode = "adversarial"``), SDARTS's ``Linf_PGD_alpha``
(``attacker/perturb.py``) is run on the group's mixing weights ``w`` of every cell type at
once:

1. the network goes to eval mode (batch norms use and keep their running statistics, as in
   SDARTS), and the training loss at the clean weights is taken;
2. the iterate starts at ``clip(w + U(−ε, ε))`` and takes the adversary's steps along the
   sign of the loss's gradient (SDARTS's ``Linf_SGD`` on the negated loss, 2ε/7 each), each
   followed by a clamp of ``iterate − w`` to [−ε, ε] and
   :func:`~factornas.relaxations.smoothing.clip_to_simplex`;
3. if the loss at the final iterate is below the clean loss, the weight step trains at the
   clean weights instead (SDARTS restores its saved α).

Everything stays on the device (signs, clamps and that last choice by ``torch.where``; no host
reads), and the random start comes from the checkpointed default generator.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import cast

import torch
from torch.nn import functional as F

from factornas.relaxations.smoothing import clip_to_simplex
from factornas.relaxations.stabilizer import Adversary
from factornas.space.config import CellType
from factornas.supernet.network import SearchNetwork

Key = tuple[str, str]


def _searched(network: SearchNetwork, cell_type: CellType) -> set[str]:
    return {f.name for f in network.space.cell(cell_type).groups() if f.searched}


@contextmanager
def overriding(network: SearchNetwork, weights: dict[Key, torch.Tensor]) -> Iterator[None]:
    """Forward passes inside use ``weights`` for those (cell type, group) pairs."""
    relaxations = network.arch.relaxations
    previous = relaxations.overrides
    relaxations.overrides = {**previous, **weights}
    try:
        yield
    finally:
        relaxations.overrides = previous


def _loss(network: SearchNetwork, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(network(x), y)


def attack(network: SearchNetwork, x: torch.Tensor, y: torch.Tensor) -> dict[Key, torch.Tensor]:
    """The weights the next weight step trains at for ``(x, y)``, per (cell type, group) with an
    adversary (empty when none has)."""
    arch, relaxations = network.arch, network.arch.relaxations
    targets: list[tuple[Key, Adversary]] = [
        ((cell_type, group), adversary)
        for group, adversary in relaxations.adversaries().items()
        for cell_type in network.space.cell_types
        if group in _searched(network, cell_type) and group not in arch.frozen_groups()
    ]
    if not targets:
        return {}
    radius = {key: adversary.radius for key, adversary in targets}
    step = {key: adversary.step for key, adversary in targets}
    steps = max(adversary.steps for _, adversary in targets)
    fixed = [p for p in network.parameters() if p.requires_grad]
    was_training = network.training
    try:
        for p in fixed:
            p.requires_grad_(False)
        network.eval()
        with torch.no_grad():
            clean = {
                key: relaxations[key[1]]
                .relaxation.weights(arch.parameter(cast(CellType, key[0]), key[1]), True)
                .detach()
                for key, _ in targets
            }
            with overriding(network, clean):
                before = _loss(network, x, y)
            iterate = {
                key: clip_to_simplex(w + torch.empty_like(w).uniform_(-radius[key], radius[key]))
                for key, w in clean.items()
            }
        for _ in range(steps):
            for w in iterate.values():
                w.requires_grad_(True)
            with overriding(network, iterate):
                loss = _loss(network, x, y)
            grads = torch.autograd.grad(loss, list(iterate.values()))
            with torch.no_grad():
                iterate = {
                    key: clip_to_simplex(
                        clean[key]
                        + (w + step[key] * g.sign() - clean[key]).clamp(-radius[key], radius[key])
                    )
                    for (key, w), g in zip(iterate.items(), grads, strict=True)
                }
        with torch.no_grad(), overriding(network, iterate):
            after = _loss(network, x, y)
        worse = after >= before  # SDARTS keeps the clean weights when the loss fell
        return {key: torch.where(worse, w, clean[key]) for key, w in iterate.items()}
    finally:
        network.train(was_training)
        for p in fixed:
            p.requires_grad_(True)
