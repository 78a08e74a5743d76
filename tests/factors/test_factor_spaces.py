"""Spaces with three to five factor groups: exact sizes (checked by enumeration), supernets
whose gradients reach every group, genotypes carrying every factor, and flat twins."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn

from factornas import (
    GroupSpec,
    SearchNetwork,
    SearchSpace,
    Topology,
    arch_parameter_count,
    derive_genotype,
    space_size,
)
from factornas.presets import space_preset
from factornas.supernet.arch import ArchitectureParameters

SMALL = Topology(steps=2, multiplier=2, edges_per_node=1)


def _small_conv_space() -> SearchSpace:
    return SearchSpace(
        normal=(
            GroupSpec(group="conv_op", candidates=("none", "skip_connect", "conv")),
            GroupSpec(group="conv_type", candidates=("sep", "plain")),
            GroupSpec(group="kernel_size"),
            GroupSpec(group="activation", candidates=("relu", "swish")),
            GroupSpec(group="normalization", candidates=("bn", "gn")),
        ),
        reduce=(
            GroupSpec(group="op_bare", candidates=("max_pool_3x3", "dil_conv_5x5")),
            GroupSpec(group="activation", candidates=("elu",)),
            GroupSpec(group="normalization", candidates=("bn_affine", "identity", "gn")),
        ),
        topology=SMALL,
    )


def _enumerate(space: SearchSpace) -> int:
    """Count distinct discrete cells by listing them: kept inputs × a choice per kept edge."""
    total = 1
    for cell_type in space.cell_types:
        cell = space.cell(cell_type)
        choices = [
            (op.name, combo)
            for op in cell.op.candidates
            if not op.is_zero
            for combo in itertools.product(*(f.names for f in cell.attached(op)))
        ]
        inputs = itertools.product(
            *(
                itertools.combinations(range(i + 2), space.topology.edges_per_node)
                for i in range(space.topology.steps)
            )
        )
        kept = space.topology.steps * space.topology.edges_per_node
        cells = {
            (chosen, edges)
            for chosen in inputs
            for edges in itertools.product(choices, repeat=kept)
        }
        total *= len(cells)
    return total


def test_presets_have_exact_sizes_and_parameter_counts() -> None:
    norm, conv = space_preset("adarts_norm"), space_preset("adarts_conv")
    # 3 non-parameterized ops + 4 convs × 9 activations × 4 norms = 147 per kept edge.
    assert norm.cell("normal").choices_per_edge() == 147
    assert space_size(norm) == (180 * 147**8) ** 2
    assert arch_parameter_count(norm) == 2 * 14 * (8 + 9 + 4) == 588
    # 3 + 1 conv × 3 types × 2 kernels × 9 × 4 = 219 per kept edge.
    assert conv.cell("normal").choices_per_edge() == 219
    assert space_size(conv) == (180 * 219**8) ** 2
    assert arch_parameter_count(conv) == 2 * 14 * (5 + 3 + 2 + 9 + 4) == 644
    assert f"{space_size(norm):.2e}" == "1.54e+39" and f"{space_size(conv):.2e}" == "9.07e+41"


def test_sizes_match_enumeration_on_a_small_topology() -> None:
    space = _small_conv_space()
    # normal: 1 skip + 2 × 2 × 2 × 2 convs = 17 per edge; reduce: 1 pool + 3 norms = 4.
    assert space_size(space) == _enumerate(space) == (6 * 17**2) * (6 * 4**2)
    assert space_size(space.flat_twin()) == space_size(space)


def test_darts_convs_are_sep_and_dil_times_3_and_5() -> None:
    """Factorizing DARTS's four convs into type × kernel gives the same architectures."""
    factorized = SearchSpace(
        name="factorized",
        normal=(
            GroupSpec(group="conv_op"),
            GroupSpec(group="conv_type", candidates=("sep", "dil")),
            GroupSpec(group="kernel_size"),
            GroupSpec(group="activation"),
            GroupSpec(group="normalization"),
        ),
    )
    assert space_size(factorized) == space_size(space_preset("adarts_norm"))


def test_flat_twins_hold_every_combination() -> None:
    assert len(space_preset("adarts_norm").flat_twin().cell("normal").op.candidates) == 148
    flat = space_preset("adarts_conv").flat_twin()
    names = [c.name for c in flat.cell("normal").op.candidates]
    assert len(names) == 220 and "conv+plain+5x5+swish+gn" in names
    assert space_size(flat) == space_size(space_preset("adarts_conv"))


def test_gradients_reach_every_group_and_norm_parameter() -> None:
    net = SearchNetwork(space_preset("adarts_conv"), channels=4, layers=3)
    loss = nn.functional.cross_entropy(net(torch.randn(2, 3, 8, 8)), torch.tensor([0, 1]))
    loss.backward()
    grouped = net.arch.by_group()
    assert set(grouped) == {"conv_op", "conv_type", "kernel_size", "activation", "normalization"}
    for group, params in grouped.items():
        for p in params:
            assert p.grad is not None and p.grad.abs().sum() > 0, group
    affine = [p for n, p in net.named_parameters() if ".normalization.1." in n]
    assert len(affine) == 3 * 14 * 2  # bn_affine weight and bias on every edge of every cell
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in affine)


def _arch_favouring(space: SearchSpace, picks: dict[str, str]) -> ArchitectureParameters:
    """Architecture weights whose argmax is ``picks[group]`` on every edge."""
    arch = ArchitectureParameters(space, space.topology.num_edges)
    with torch.no_grad():
        for cell_type in space.cell_types:
            for factor in space.cell(cell_type).groups():
                if factor.name in picks and factor.searched:
                    param = arch.parameter(cell_type, factor.name)
                    param[:, factor.names.index(picks[factor.name])] += 5.0
    return arch


def test_derived_genotype_carries_every_factor() -> None:
    space = space_preset("adarts_conv")
    picks = {
        "conv_op": "conv",
        "conv_type": "dil",
        "kernel_size": "5x5",
        "activation": "swish",
        "normalization": "gn",
    }
    arch = _arch_favouring(space, picks)
    genotype = derive_genotype(space, {ct: arch.weights(ct) for ct in space.cell_types})
    assert genotype.op_group == "conv_op"
    for cell_type in space.cell_types:
        for _, edge in genotype.cell(cell_type).edges():
            assert edge.op == "conv"
            assert edge.factors == {k: v for k, v in picks.items() if k != "conv_op"}
            assert edge.label() == "conv · dil · 5x5 · swish · gn"


@pytest.mark.parametrize("flat", [False, True])
def test_small_supernets_train_and_derive_in_factorized_form(flat: bool) -> None:
    space = _small_conv_space().flat_twin() if flat else _small_conv_space()
    net = SearchNetwork(space, channels=4, layers=3)
    out = net(torch.randn(2, 3, 8, 8))
    out.sum().backward()
    assert all(p.grad is not None for p in net.arch_parameters())
    genotype = derive_genotype(space, {ct: net.arch.weights(ct) for ct in space.cell_types})
    expected = {"conv": {"conv_type", "kernel_size", "activation", "normalization"}}
    for _, edge in genotype.normal.edges():
        assert set(edge.factors) == expected.get(edge.op, set())
    for _, edge in genotype.reduce.edges():
        assert set(edge.factors) == (
            {"activation", "normalization"} if "conv" in edge.op else set()
        )
