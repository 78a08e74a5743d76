"""What the comparison's numbers would be by chance, so a reader can tell a result from a guess.

* **Accuracy**: a uniform guess among the dataset's classes scores ``100 / classes`` % top-1.
* **Agreement** (:mod:`factornas.bench.stability`): the expected agreement of two independent
  architectures drawn uniformly from the arm's space, the architectures
  :func:`~factornas.space.size.space_size` counts. Each intermediate node keeps ``k`` distinct
  inputs of its ``i + 2`` (every ``k``-subset alike), each kept edge one of the cell's
  discrete edge choices (a non-zero op with a candidate of every factor attached to it; for a
  flat twin, one of its fused ops) alike. A cell-scoped factor chooses once per cell, which
  does not change these expectations.

Under that draw two genotypes share ``k² / (i + 2)`` of node ``i``'s inputs on average, and on
a shared input keep the same op with probability ``Σ_o p_o²`` (``p_o``: the share of the edge
choices that use op ``o``, 9/39 for each of A-DARTS's convolutions, 1/39 for a pool). Edge
agreement counts those edges over all kept edges (a constant), so its chance level is the ratio
of the expected counts. A factor's agreement counts, among the op-agreeing edges that carry
the factor, those that also agree on it: each does with probability ``1 / candidates``; pooled
over the cell types, as the metric pools them, the chance level is again the ratio of expected
counts (exactly ``1 / candidates`` when both cell types offer the same number).

The flat twin holds the same architectures as its space, so both get the same chance levels;
a fixed-factor arm (fewer edge choices, each op equally likely) gets its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from factornas.space.config import CELL_TYPES, CellFactors, CellType, SearchSpace


def chance_accuracy(classes: int) -> float:
    """Top-1 accuracy (%) of a uniform guess among ``classes`` classes."""
    return 100.0 / classes


@dataclass(frozen=True)
class OpShare:
    """One op of a cell under the uniform draw: its probability on a kept edge, and the
    number of candidates of each factor attached to it."""

    op: str
    probability: float
    factor_sizes: dict[str, int]


def op_shares(cell: CellFactors) -> list[OpShare]:
    """The non-zero ops of ``cell`` with their share of the cell's discrete edge choices.

    A factorized op counts one choice per combination of its edge-scoped factors' candidates;
    a flat twin's fused op is one choice of the op it was made from (its ``parts`` name it),
    so both forms of a space give the same shares.
    """
    weights: dict[str, float] = {}
    sizes: dict[str, dict[str, set[str]]] = {}
    for op in cell.op.candidates:
        if op.is_zero:
            continue
        if op.parts:  # a flat twin's fused op: (op group, op), then (factor, candidate)...
            (_, base), *chosen = op.parts
            weights[base] = weights.get(base, 0.0) + 1.0
            factors = sizes.setdefault(base, {})
            for group, candidate in chosen:
                factors.setdefault(group, set()).add(candidate)
            continue
        attached = cell.attached(op)
        weight = 1.0
        for factor in attached:
            if factor.group.scope == "edge":
                weight *= len(factor.candidates)
        weights[op.name] = weight
        sizes[op.name] = {f.name: set(f.names) for f in attached}
    total = sum(weights.values())
    return [
        OpShare(op, weight / total, {g: len(c) for g, c in sizes[op].items()})
        for op, weight in weights.items()
    ]


def _shared_inputs(space: SearchSpace) -> float:
    """Expected inputs two uniform draws of a cell both keep, over all its nodes: a node of
    ``n`` inputs keeping ``k`` shares ``k · k / n`` (each of one draw's ``k`` is among the
    other's with probability ``k / n``)."""
    k = space.topology.edges_per_node
    return sum(k * k / (i + 2) for i in range(space.topology.steps))


def chance_edge_agreement(space: SearchSpace, cell_types: Sequence[CellType] = CELL_TYPES) -> float:
    """The edge agreement of two uniformly random architectures of ``space``."""
    shared = _shared_inputs(space)
    kept = space.topology.steps * space.topology.edges_per_node
    same = 0.0
    for cell_type in cell_types:
        same += shared * sum(s.probability**2 for s in op_shares(space.cell(cell_type)))
    return same / (kept * len(cell_types))


def chance_factor_agreement(
    space: SearchSpace, group: str, cell_types: Sequence[CellType] = CELL_TYPES
) -> float | None:
    """The agreement on ``group`` of two uniformly random architectures of ``space``, among
    their op-agreeing edges that carry it; None when no op of the space carries it."""
    compared = agreed = 0.0
    for cell_type in cell_types:
        for share in op_shares(space.cell(cell_type)):
            if group in share.factor_sizes:
                both = share.probability**2  # per shared input; the same factor for all ops
                compared += both
                agreed += both / share.factor_sizes[group]
    return agreed / compared if compared else None
