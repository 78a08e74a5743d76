"""SDARTS-ADV: the PGD perturbation stays within the radius and raises the training loss."""

from __future__ import annotations

import torch
from torch.nn import functional as F

from factornas.presets.search import search_preset
from factornas.search.adversarial import attack
from factornas.search.config import LevelConfig
from factornas.search.loop import build_network


def test_the_attack_stays_within_epsilon_and_raises_the_training_loss() -> None:
    smoothing = {"mode": "adversarial", "epsilon_start": 0.2, "epsilon_end": 0.2}
    level = LevelConfig.model_validate({"group": "op", "smoothing": smoothing})
    config = search_preset("darts").replace(channels=4, layers=3, levels=(level,))
    torch.manual_seed(0)
    network = build_network(config, num_classes=10, in_channels=3).double()
    x, y = torch.randn(4, 3, 8, 8, dtype=torch.float64), torch.arange(4)
    relaxations = network.arch.relaxations

    def loss() -> float:
        relaxations.perturbing = True
        try:
            with torch.no_grad():
                return float(F.cross_entropy(network(x), y))
        finally:
            relaxations.perturbing = False

    clean = loss()  # no perturbation set yet: the clean weights
    attack(network, x, y)
    assert set(relaxations.deltas) == {("normal", "op"), ("reduce", "op")}
    for delta in relaxations.deltas.values():
        assert delta.abs().max() <= 0.2 + 1e-12 and not delta.requires_grad
    assert loss() > clean
    assert all(p.requires_grad for p in network.parameters())


def test_no_attack_without_adversarial_smoothing() -> None:
    config = search_preset("sdarts_rs").replace(channels=4, layers=3)
    network = build_network(config, num_classes=10, in_channels=3)
    attack(network, torch.randn(2, 3, 8, 8), torch.arange(2))
    assert network.arch.relaxations.deltas == {}
