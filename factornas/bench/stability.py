"""How much the architectures derived from different seeds agree.

A search that lands on a different cell for every seed has found noise, not an architecture;
the benchmark therefore scores each arm by the agreement of its seeds' genotypes:

* **edge agreement**: the fraction of kept edges on which two genotypes keep an edge from the
  same source node into the same target node *with the same op*;
* **factor agreement** (one per factor group, e.g. ``activation``): among the edges that agree
  on source and op, the fraction that also agree on that factor's choice. Counting it over
  op-agreeing edges only separates the two questions: whether the seeds agree on the cell,
  and, where they do, whether they agree on the factors; an edge where the ops differ says
  nothing about the activation (and a pool carries none).

An arm's score is the mean over all seed pairs. Genotypes of a flat twin carry their factor
choices too (the derivation maps each fused op back to its parts), so every arm is scored alike.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

from factornas.errors import FactorNASError
from factornas.space.genotype import EdgeChoice, Genotype

CELL_TYPES = ("normal", "reduce")


@dataclass(frozen=True)
class PairAgreement:
    """Counts behind the agreement of two genotypes over the chosen cell types."""

    edges: int
    same_op: int
    factor_compared: dict[str, int] = field(default_factory=dict)
    factor_same: dict[str, int] = field(default_factory=dict)

    @property
    def edge_agreement(self) -> float:
        return self.same_op / self.edges if self.edges else 1.0

    def factor_agreement(self, group: str) -> float | None:
        """``None`` when no op-agreeing edge carries ``group``: there is nothing to compare."""
        compared = self.factor_compared.get(group, 0)
        return self.factor_same.get(group, 0) / compared if compared else None


def _match_node(
    a: Sequence[EdgeChoice], b: Sequence[EdgeChoice]
) -> list[tuple[EdgeChoice, EdgeChoice]]:
    """Pairs of edges with equal (source, op); each edge of ``b`` is used at most once."""
    unused = list(b)
    pairs = []
    for edge in a:
        for i, other in enumerate(unused):
            if other.source == edge.source and other.op == edge.op:
                pairs.append((edge, unused.pop(i)))
                break
    return pairs


def compare_genotypes(
    a: Genotype, b: Genotype, cell_types: Sequence[str] = CELL_TYPES
) -> PairAgreement:
    """The agreement counts of ``a`` and ``b``; symmetric in its arguments.

    A node that keeps a different number of edges in the two genotypes counts the larger
    number, so an extra edge is a disagreement whichever side has it.
    """
    edges = same = 0
    compared: dict[str, int] = {}
    agreed: dict[str, int] = {}
    for cell_type in cell_types:
        nodes_a, nodes_b = a.cell(cell_type).nodes, b.cell(cell_type).nodes
        if len(nodes_a) != len(nodes_b):
            raise FactorNASError(
                f"cannot compare genotypes with {len(nodes_a)} and {len(nodes_b)} intermediate "
                f"nodes in the {cell_type} cell: they come from different topologies"
            )
        for node_a, node_b in zip(nodes_a, nodes_b, strict=True):
            edges += max(len(node_a), len(node_b))
            for edge_a, edge_b in _match_node(node_a, node_b):
                same += 1
                for group in edge_a.factors.keys() & edge_b.factors.keys():
                    compared[group] = compared.get(group, 0) + 1
                    if edge_a.factors[group] == edge_b.factors[group]:
                        agreed[group] = agreed.get(group, 0) + 1
    return PairAgreement(edges, same, compared, agreed)


@dataclass(frozen=True)
class Stability:
    """Mean pairwise agreement of a set of genotypes (one per seed)."""

    pairs: int
    edge_agreement: float
    factor_agreement: dict[str, float | None]
    pair_edge_agreement: list[float]
    pair_factor_agreement: dict[str, list[float | None]]

    def to_json(self) -> dict[str, object]:
        return {
            "pairs": self.pairs,
            "edge_agreement": self.edge_agreement,
            "factor_agreement": self.factor_agreement,
            "pair_edge_agreement": self.pair_edge_agreement,
            "pair_factor_agreement": self.pair_factor_agreement,
        }


def stability(
    genotypes: Sequence[Genotype],
    groups: Sequence[str],
    cell_types: Sequence[str] = CELL_TYPES,
) -> Stability:
    """Mean pairwise edge agreement and, per factor group in ``groups``, factor agreement.

    A pair with no op-agreeing edge carrying a group has no factor agreement for it and is
    left out of that group's mean (``None`` when every pair is); it still counts for the edges.
    """
    if len(genotypes) < 2:
        raise FactorNASError("agreement needs at least two genotypes (two seeds)")
    results = [compare_genotypes(a, b, cell_types) for a, b in itertools.combinations(genotypes, 2)]
    per_edge = [r.edge_agreement for r in results]
    per_factor = {g: [r.factor_agreement(g) for r in results] for g in groups}
    means: dict[str, float | None] = {}
    for group, values in per_factor.items():
        defined = [v for v in values if v is not None]
        means[group] = statistics.fmean(defined) if defined else None
    return Stability(
        pairs=len(results),
        edge_agreement=statistics.fmean(per_edge),
        factor_agreement=means,
        pair_edge_agreement=per_edge,
        pair_factor_agreement=per_factor,
    )
