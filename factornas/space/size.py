"""Exact counts of a space: discrete architectures and architecture parameters.

A discrete cell keeps ``k`` incoming edges per intermediate node (node ``i`` chooses among
``i + 2`` inputs) and one choice per kept edge: a non-zero op plus a candidate of every factor
attached to it. Edge-scoped factors choose per edge; a cell-scoped factor chooses once per
cell, and only matters when some kept op uses it — counted exactly by inclusion–exclusion.
Everything is a Python int: 9.3e29 does not fit a float's mantissa.
"""

from __future__ import annotations

import itertools
from math import comb, prod

from factornas.space.config import CellFactors, SearchSpace


def edge_selections(space: SearchSpace) -> int:
    """Ways to pick the kept incoming edges of every node: Π_i C(i + 2, k) (180 for DARTS)."""
    topology = space.topology
    return prod(comb(i + 2, topology.edges_per_node) for i in range(topology.steps))


def cell_size(space: SearchSpace, cell: CellFactors) -> int:
    """Distinct discrete cells of one cell type."""
    kept = space.topology.steps * space.topology.edges_per_node
    cell_scoped = [f for f in cell.factors if f.group.scope == "cell"]

    def per_edge(allowed: frozenset[str]) -> int:
        """Edge choices whose cell-scoped factors all lie in ``allowed`` (those not counted)."""
        total = 0
        for op in cell.op.candidates:
            if op.is_zero:
                continue
            attached = cell.attached(op)
            if any(f.group.scope == "cell" and f.name not in allowed for f in attached):
                continue
            total += prod(len(f.candidates) for f in attached if f.group.scope == "edge")
        return total

    names = [f.name for f in cell_scoped]
    sizes = {f.name: len(f.candidates) for f in cell_scoped}
    total = 0
    for r in range(len(names) + 1):
        for used in itertools.combinations(names, r):
            # Assignments whose set of used cell-scoped factors is exactly `used`.
            exact = 0
            for s in range(len(used) + 1):
                for subset in itertools.combinations(used, s):
                    sign = (-1) ** (len(used) - s)
                    exact += sign * per_edge(frozenset(subset)) ** kept
            total += prod(sizes[n] for n in used) * exact
    return edge_selections(space) * total


def space_size(space: SearchSpace) -> int:
    """Discrete architectures: normal cells × reduction cells (≈1.1e18 DARTS, ≈9.3e29 A-DARTS)."""
    return prod(cell_size(space, space.cell(ct)) for ct in space.cell_types)


def arch_parameter_count(space: SearchSpace) -> int:
    """Scalar architecture weights: one vector per edge (or per cell) per searched group, plus
    one weight per edge under edge normalization (which leaves :func:`space_size` unchanged:
    it reweighs edges, it adds no discrete choice)."""
    edges = space.topology.num_edges
    total = 0
    for cell_type in space.cell_types:
        for factor in space.cell(cell_type).groups():
            if factor.searched:
                rows = edges if factor.group.scope == "edge" else 1
                total += rows * len(factor.candidates)
        if space.edge_normalization:
            total += edges
    return total
