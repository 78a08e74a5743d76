"""Exact space sizes and parameter counts, checked against brute-force enumeration."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
from torch import nn

from factornas import (
    Candidate,
    FactorGroup,
    GroupSpec,
    Placement,
    SearchSpace,
    Topology,
    arch_parameter_count,
    register_group,
    registry,
    space_size,
)
from factornas.presets import space_preset


def test_darts_size_is_exact() -> None:
    # 180 ways to pick two inputs per node, 7 non-zero ops on each of 8 kept edges, per cell.
    assert space_size(space_preset("darts")) == (180 * 7**8) ** 2
    assert f"{space_size(space_preset('darts')):.1e}" == "1.1e+18"  # the paper's figure


def test_adarts_size_is_exact() -> None:
    # 3 non-parameterized ops + 4 convs × 9 activations = 39 choices per kept edge.
    assert space_size(space_preset("adarts")) == (180 * 39**8) ** 2
    assert f"{space_size(space_preset('adarts')):.1e}" == "9.3e+29"  # the paper's figure


def test_flat_twin_has_the_same_size_and_forty_candidates(adarts: SearchSpace) -> None:
    flat = adarts.flat_twin()
    assert space_size(flat) == space_size(adarts)
    assert len(flat.cell("normal").op.candidates) == 40
    assert space_preset("flat40").flat


@pytest.mark.parametrize(("preset", "count"), [("darts", 224), ("adarts", 476), ("flat40", 1120)])
def test_arch_parameter_counts(preset: str, count: int) -> None:
    assert arch_parameter_count(space_preset(preset)) == count


@pytest.fixture
def cell_scoped_norm() -> Iterator[None]:
    group = FactorGroup(
        "norm", placement=Placement.OUTPUT, attach_to={"sep_conv_3x3"}, scope="cell"
    )
    group.add(Candidate("bn", factory=lambda c: nn.BatchNorm2d(c)))
    group.add(Candidate("id", factory=lambda c: nn.Identity()))
    group.add(Candidate("gn", factory=lambda c: nn.GroupNorm(1, c)))
    register_group(group)
    yield
    registry.unregister("norm")


def _brute_force(space: SearchSpace) -> int:
    """Enumerate every distinct discrete cell: kept edges, ops and factor choices."""
    total = 1
    for cell_type in space.cell_types:
        cell = space.cell(cell_type)
        per_node = [
            list(itertools.combinations(range(i + 2), space.topology.edges_per_node))
            for i in range(space.topology.steps)
        ]
        edge_options = []
        for op in cell.op.candidates:
            if op.is_zero:
                continue
            attached = cell.attached(op)
            edge_scoped = [f for f in attached if f.group.scope == "edge"]
            for combo in itertools.product(*(f.names for f in edge_scoped)):
                edge_options.append(
                    (op.name, combo, frozenset(f.name for f in attached if f.group.scope == "cell"))
                )
        cell_scoped = [f for f in cell.factors if f.group.scope == "cell"]
        seen = set()
        kept = space.topology.steps * space.topology.edges_per_node
        for choice in itertools.product(*per_node):
            for edges in itertools.product(edge_options, repeat=kept):
                used = frozenset().union(*(e[2] for e in edges))
                for cell_choice in itertools.product(*(f.names for f in cell_scoped)):
                    key = (
                        choice,
                        tuple(e[:2] for e in edges),
                        tuple(
                            c
                            for f, c in zip(cell_scoped, cell_choice, strict=True)
                            if f.name in used
                        ),
                    )
                    seen.add(key)
        total *= len(seen)
    return total


def test_size_with_a_cell_scoped_factor_matches_brute_force(cell_scoped_norm: None) -> None:
    space = SearchSpace(
        normal=(
            GroupSpec(
                group="op", candidates=("none", "skip_connect", "sep_conv_3x3", "dil_conv_3x3")
            ),
            GroupSpec(group="activation", candidates=("relu", "selu")),
            GroupSpec(group="norm"),
        ),
        reduce=(GroupSpec(group="op", candidates=("none", "max_pool_3x3", "sep_conv_3x3")),),
        topology=Topology(steps=2, multiplier=2, edges_per_node=1),
    )
    assert space_size(space) == _brute_force(space)
    with pytest.raises(ValueError, match="no flat twin for cell-scoped factors"):
        space.flat_twin()


def test_edge_scoped_sizes_match_brute_force() -> None:
    space = SearchSpace(
        normal=(
            GroupSpec(group="op", candidates=("none", "avg_pool_3x3", "sep_conv_5x5")),
            GroupSpec(group="activation", candidates=("elu", "celu", "swish")),
        ),
        topology=Topology(steps=2, multiplier=2, edges_per_node=2),
    )
    assert space_size(space) == _brute_force(space) == (1 * 3 * 4**4) ** 2


def test_topology_validation_messages() -> None:
    with pytest.raises(ValueError, match="multiplier"):
        Topology(steps=2, multiplier=3)
    with pytest.raises(ValueError, match="edges_per_node"):
        Topology(edges_per_node=3)
