"""Published parameter counts, the MAC convention, and the width solver."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from factornas.errors import UnknownNameError
from factornas.evaluate.config import NetworkConfig
from factornas.evaluate.cost import count_macs, network_cost, network_params, solve_width
from factornas.evaluate.network import NetworkCIFAR
from factornas.presets.published import PUBLISHED, published_genotype
from factornas.presets.retrain import network_preset

# The papers' rounding: one decimal of millions, auxiliary head excluded.
PUBLISHED_MILLIONS = {
    ("darts_v2", "cifar"): 3.3,
    ("darts_v2", "imagenet"): 4.7,
    ("pc_darts", "cifar"): 3.6,
    ("pc_darts", "imagenet"): 5.3,
    ("pdarts", "cifar"): 3.4,
    ("pdarts", "imagenet"): 4.9,
    ("pc_darts_image", "imagenet"): 5.3,
}


@pytest.mark.parametrize(("name", "network"), sorted(PUBLISHED_MILLIONS))
def test_published_parameter_counts(name: str, network: str) -> None:
    params, with_aux = network_params(published_genotype(name), network_preset(network))
    assert round(params / 1e6, 1) == PUBLISHED_MILLIONS[name, network]
    assert with_aux > params


def test_darts_v2_count_is_exact() -> None:
    """The reference DARTS code logs 3.349342 MB for DARTS_V2 on CIFAR-10: same count."""
    params, _ = network_params(published_genotype("darts_v2"), network_preset("cifar"))
    assert params == 3_349_342


def test_every_published_genotype_parses_with_relu_convs() -> None:
    for name in PUBLISHED:
        genotype = published_genotype(name)
        for cell in (genotype.normal, genotype.reduce):
            assert cell.steps == 4 and cell.concat == (2, 3, 4, 5)
            for _, edge in cell.edges():
                conv = "conv" in edge.op
                assert edge.factors == ({"activation": "relu"} if conv else {})
    with pytest.raises(UnknownNameError, match="choose one of: darts_v1, darts_v2"):
        published_genotype("darts_v3")


def test_macs_are_half_of_flop_counter_flops() -> None:
    """One conv and one linear: MACs are exactly the multiply-accumulates, BN/pool free."""
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1, bias=False),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, 10),
    )
    expected = 16 * 16 * 8 * 3 * 9 + 16 * 16 * 8 * 9 + 8 * 10
    assert count_macs(model, (1, 3, 16, 16)) == expected
    assert model.training  # the mode is restored


def test_macs_ignore_the_auxiliary_head() -> None:
    genotype = published_genotype("darts_v2")
    config = NetworkConfig(channels=4, layers=5)
    with_head = network_cost(genotype, config)
    without = network_cost(genotype, config.model_copy(update={"auxiliary": False}))
    assert with_head.macs == without.macs
    assert with_head.params == without.params == without.params_total < with_head.params_total


def test_macs_match_a_real_forward_pass() -> None:
    """Measuring on the meta device counts what the CPU would compute."""
    genotype = published_genotype("pdarts")
    config = NetworkConfig(channels=6, layers=5)
    model = NetworkCIFAR(genotype, channels=6, layers=5)
    assert network_cost(genotype, config, 16).macs == count_macs(model, (1, 3, 16, 16))


@pytest.mark.slow
@pytest.mark.parametrize(("kind", "start"), [("cifar", 8), ("imagenet", 40)])
def test_solver_returns_the_widest_width_within_budget(kind: str, start: int) -> None:
    """Galloping up (CIFAR, from 8) and down (ImageNet, from 40) to a budget that C=20 meets
    with one MAC to spare."""
    genotype = published_genotype("pc_darts")
    config = NetworkConfig(kind=kind, channels=start, layers=3, num_classes=10)
    size = 32
    budget = network_cost(genotype, config.model_copy(update={"channels": 20}), size).macs + 1
    solution = solve_width(genotype, config, budget, size)
    step = 2 if kind == "imagenet" else 1
    assert solution.channels == 20
    assert solution.next_channels == 20 + step
    assert solution.macs <= budget < solution.next_macs
    wider = config.model_copy(update={"channels": 20 + step})
    assert network_cost(genotype, wider, size).macs == solution.next_macs


def test_solver_refuses_an_impossible_budget() -> None:
    with pytest.raises(ValueError, match="over the budget"):
        solve_width(published_genotype("darts_v2"), NetworkConfig(channels=4, layers=5), 1000)


@pytest.mark.slow
def test_solver_at_600m_for_darts_v2_on_imagenet() -> None:
    solution = solve_width(published_genotype("darts_v2"), network_preset("imagenet"), 600_000_000)
    assert solution.channels % 2 == 0
    assert solution.macs <= 600_000_000 < solution.next_macs
    assert solution.next_channels == solution.channels + 2


def test_meta_device_is_left_unset() -> None:
    network_params(published_genotype("darts_v2"), NetworkConfig(channels=4, layers=5))
    assert torch.empty(1).device.type == "cpu"
