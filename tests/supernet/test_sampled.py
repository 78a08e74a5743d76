"""GDAS's sampled-path execution: each edge runs only the op it sampled, exactly."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from factornas.presets.search import search_preset
from factornas.search.config import LevelConfig, RelaxationSpec
from factornas.search.loop import build_network
from factornas.supernet.network import SearchNetwork
from factornas.supernet.sampled import sampled_op_paths


def _network(preset: str, grouped: bool = True) -> SearchNetwork:
    if preset == "adarts_conv_gdas":  # five groups: op variants (kernel sizes) and outputs
        gumbel = LevelConfig(group="conv_op", relaxation=RelaxationSpec(name="gumbel"))
        config = search_preset("adarts_conv").replace(channels=4, layers=3, levels=(gumbel,))
    else:
        config = search_preset(preset).replace(channels=4, layers=3)
    torch.manual_seed(0)
    network = build_network(config, num_classes=10, in_channels=3).double()
    for cell in network.cells:
        cell.grouped = grouped
    return network


def _forward(
    network: SearchNetwork,
    x: torch.Tensor,
    weights: Mapping[str, Mapping[str, torch.Tensor]],
    paths: Mapping[str, list[int]] | None,
) -> torch.Tensor:
    s0, s1 = network.stem(x)
    for cell in network.cells:
        ct = cell.cell_type
        s0, s1 = s1, cell(s0, s1, weights[ct], None, None if paths is None else paths[ct])
    return network.classifier(network.global_pooling(s1).flatten(1))


@pytest.mark.parametrize("preset", ["gdas", "adarts_gdas", "adarts_conv_gdas"])
@pytest.mark.parametrize("grouped", [True, False])
def test_running_only_the_sampled_paths_equals_mixing_every_path(
    preset: str, grouped: bool
) -> None:
    network = _network(preset, grouped)
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    weights = {ct: network.arch.weights(ct) for ct in network.space.cell_types}
    paths = sampled_op_paths(network.arch, weights)
    op = network.space.cell("normal").op.name
    if preset != "gdas":  # A-DARTS's RReLU draws its slopes in training: passes would differ
        network.eval()
    assert paths is not None and len(set(paths["normal"])) > 1, op
    sampled = _forward(network, x, weights, paths)
    mixed = _forward(network, x, weights, None)
    assert torch.allclose(sampled, mixed, atol=1e-10)


def test_the_op_weights_get_the_straight_through_gradient() -> None:
    network = _network("adarts_gdas")
    network(torch.randn(2, 3, 8, 8, dtype=torch.float64)).square().sum().backward()
    for ct in network.space.cell_types:
        for group in ("op", "activation"):
            grad = network.arch.parameter(ct, group).grad
            assert grad is not None and grad.abs().sum() > 0, (ct, group)


class _Count(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.calls: dict[str, int] = {}

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        name = str(func.overloadpacket.__name__)
        self.calls[name] = self.calls.get(name, 0) + 1
        return func(*args, **(kwargs or {}))


def _calls(network: SearchNetwork) -> dict[str, int]:
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    with _Count() as count:
        network(x)
    return count.calls


def test_a_sampled_forward_runs_a_fraction_of_the_ops() -> None:
    darts, gdas = _calls(_network("darts")), _calls(_network("gdas"))
    # The stem and the preprocessing run 1 + 2·3 convolutions either way; DARTS's cells run
    # every conv op on every edge group, GDAS's only the sampled ones.
    assert gdas["convolution"] < 0.5 * darts["convolution"]
    assert gdas["native_batch_norm"] < darts["native_batch_norm"]
    assert sum(gdas.values()) < 0.75 * sum(darts.values())  # every aten call, sampling included


def test_evaluation_runs_the_argmax_path_without_noise() -> None:
    network = _network("gdas").eval()
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    assert torch.equal(network(x), network(x))
    weights = {ct: network.arch.weights(ct) for ct in network.space.cell_types}
    paths = sampled_op_paths(network.arch, weights)
    assert paths is not None
    assert paths["normal"] == network.arch.parameter("normal", "op").argmax(-1).tolist()
