"""SDARTS-ADV: the worst perturbation of the architecture weights within the smoothing radius.

Before each weight step, for every group whose smoothing is ``adversarial``, a perturbation δ
of its mixing weights (per cell type, one entry per edge and candidate) starts from U(−ε, ε)
and takes ``attack_steps`` projected sign-gradient ascent steps of size ``attack_step · ε`` on
the training loss, staying in [−ε, ε]; the weight step then trains ω at the perturbed weights.
Everything stays on the device (signs and clamps, no host reads), and the starting noise comes
from the checkpointed default generator.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from factornas.space.config import CellType
from factornas.supernet.network import SearchNetwork


def _searched(network: SearchNetwork, cell_type: CellType) -> set[str]:
    return {f.name for f in network.space.cell(cell_type).groups() if f.searched}


def attack(network: SearchNetwork, x: torch.Tensor, y: torch.Tensor) -> None:
    """Set ``network.arch.relaxations.deltas`` to the adversarial perturbations for ``(x, y)``
    (none when no group asks for them)."""
    arch, relaxations = network.arch, network.arch.relaxations
    relaxations.deltas = {}
    targets = [
        (cell_type, group, settings.smoothing)
        for group, settings in relaxations.groups.items()
        if settings.smoothing is not None and settings.smoothing.mode == "adversarial"
        for cell_type in network.space.cell_types
        if group in _searched(network, cell_type) and group not in arch.frozen_groups()
    ]
    if not targets:
        return
    deltas: dict[tuple[str, str], torch.Tensor] = {}
    steps: dict[tuple[str, str], tuple[float, float]] = {}
    for cell_type, group, smoothing in targets:
        epsilon = relaxations.epsilon(group)
        param = arch.parameter(cell_type, group)
        delta = torch.empty_like(param).uniform_(-epsilon, epsilon)
        deltas[(cell_type, group)] = delta.requires_grad_(True)
        steps[(cell_type, group)] = (epsilon, smoothing.attack_step * epsilon)
    attack_steps = max(smoothing.attack_steps for _, _, smoothing in targets)
    relaxations.deltas = deltas
    fixed = [p for p in network.parameters() if p.requires_grad]
    relaxations.perturbing = True
    try:
        for p in fixed:
            p.requires_grad_(False)
        for _ in range(attack_steps):
            loss = F.cross_entropy(network(x), y)
            grads = torch.autograd.grad(loss, list(deltas.values()), materialize_grads=True)
            with torch.no_grad():
                for (key, delta), grad in zip(deltas.items(), grads, strict=True):
                    epsilon, size = steps[key]
                    delta.add_(grad.sign(), alpha=size).clamp_(-epsilon, epsilon)
    finally:
        relaxations.perturbing = False
        for p in fixed:
            p.requires_grad_(True)
    relaxations.deltas = {key: delta.detach() for key, delta in deltas.items()}
