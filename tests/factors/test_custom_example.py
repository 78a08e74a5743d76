"""The how-to's example group works as documented: registered without editing factornas,
searched with gradients, and recorded in the genotype."""

from __future__ import annotations

import runpy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from factornas import arch_parameter_count, derive_genotype, registry, space_size
from factornas.supernet.arch import ArchitectureParameters
from factornas.supernet.edge import MixedEdge

EXAMPLE = Path(__file__).parents[2] / "examples" / "custom_factor_group.py"


@pytest.fixture
def example() -> Iterator[dict[str, Any]]:
    """The example's globals (its search does not run); its group is unregistered after."""
    namespace = runpy.run_path(str(EXAMPLE), run_name="custom_factor_group")
    try:
        yield namespace
    finally:
        registry.unregister("attention")


def test_the_example_group_extends_adarts(example: dict[str, Any]) -> None:
    space = example["SPACE"]
    assert "attention" in registry
    # 3 non-parameterized ops + 4 convs × 9 activations × 3 gates, as docs/custom-factors.md says.
    assert space.cell("normal").choices_per_edge() == 111
    assert space_size(space) == (180 * 111**8) ** 2
    assert arch_parameter_count(space) == 560


def test_gates_follow_each_conv_and_receive_gradients(example: dict[str, Any]) -> None:
    cell = example["SPACE"].cell("normal")
    edge = MixedEdge(cell, channels=4, stride=1)
    assert set(edge.outputs["sep_conv_3x3"]) == {"attention"}
    assert not edge.outputs["max_pool_3x3"]  # pools are not gated
    gates = torch.zeros(3, requires_grad=True)
    weights = {
        "op": torch.softmax(torch.randn(8), 0),
        "activation": torch.softmax(torch.randn(9), 0),
        "attention": torch.softmax(gates, 0),
    }
    edge(torch.randn(2, 4, 6, 6), weights).square().mean().backward()
    assert gates.grad is not None and gates.grad.abs().sum() > 0


def test_the_genotype_records_the_chosen_gate(example: dict[str, Any]) -> None:
    space = example["SPACE"]
    arch = ArchitectureParameters(space, space.topology.num_edges)
    with torch.no_grad():
        for cell_type in space.cell_types:
            arch.parameter(cell_type, "op")[:, 4] += 1.0  # sep_conv_3x3
            arch.parameter(cell_type, "attention")[:, 1] += 1.0  # se
    genotype = derive_genotype(space, {ct: arch.weights(ct) for ct in space.cell_types})
    for _, edge in genotype.normal.edges():
        assert edge.op == "sep_conv_3x3" and edge.factors["attention"] == "se"
        assert edge.label().endswith(" · se")
