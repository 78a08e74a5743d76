"""Resolving a genotype's names against the factor registry, before any module is built.

A genotype is plain JSON: op and factor *names*. Building an evaluation network needs the
registered :class:`~factornas.factors.base.Candidate` objects and a
:class:`~factornas.space.config.CellFactors` per cell type, so that
:func:`factornas.factors.path.build_path` can build every kept edge exactly as the flat twin
builds its fused candidates. Resolving first means a misspelt op or factor fails with one line
that names it and lists the valid names, instead of a ``KeyError`` deep inside module
construction. It is also where a retraining-time override (the paper's "search with *free*,
retrain with ReLU" rows) replaces one factor's choice on every edge.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from factornas.errors import GenotypeError
from factornas.factors.base import Candidate, FactorGroup, Placement
from factornas.factors.registry import get_group, registry
from factornas.space.config import CellFactors, ResolvedFactor
from factornas.space.genotype import CellGenotype, EdgeChoice, Genotype


@dataclass(frozen=True)
class ResolvedEdge:
    """One kept edge with registered objects: its source node, op and factor choices."""

    source: int
    op: Candidate
    chosen: Mapping[str, Candidate]


@dataclass(frozen=True)
class ResolvedCell:
    """One cell type ready to build: the factors present, the kept edges per node (none for a
    node the threshold rule emptied), the concat."""

    factors: CellFactors
    nodes: tuple[tuple[ResolvedEdge, ...], ...]
    concat: tuple[int, ...]


@dataclass(frozen=True)
class ResolvedGenotype:
    """Both cell types of a genotype, resolved."""

    normal: ResolvedCell
    reduce: ResolvedCell

    def cell(self, reduction: bool) -> ResolvedCell:
        return self.reduce if reduction else self.normal


def _group(name: str, where: str) -> FactorGroup:
    if name not in registry:
        raise GenotypeError(
            f"{where}: unknown factor group {name!r}; choose one of: "
            f"{', '.join(sorted(registry.names()))}"
        )
    return get_group(name)


def _candidate(group: FactorGroup, name: str, where: str) -> Candidate:
    if name not in group:
        kind = "op" if group.role == "op" else f"{group.name!r} choice"
        raise GenotypeError(
            f"{where}: unknown {kind} {name!r}; valid names: {', '.join(group.names)}"
        )
    return group[name]


def _override_groups(override: Mapping[str, str]) -> dict[str, tuple[FactorGroup, Candidate]]:
    """Validate an override: factor groups only (the op choice *is* the architecture)."""
    resolved = {}
    for name, choice in override.items():
        group = _group(name, "override")
        if group.role == "op":
            raise GenotypeError(
                f"override: {name!r} is the op group; only factor groups can be overridden "
                "(the ops are the architecture itself)"
            )
        resolved[name] = (group, _candidate(group, choice, "override"))
    return resolved


def _resolve_cell(
    kind: str,
    cell: CellGenotype,
    op_group: FactorGroup,
    override: Mapping[str, tuple[FactorGroup, Candidate]],
    inner_group: str | None,
) -> ResolvedCell:
    # The factor groups of this cell, in their order of first appearance: that is the order
    # of the space they were derived from, which fixes the order of chained input factors.
    present: dict[str, FactorGroup] = {}
    for target, edge in cell.edges():
        for name in edge.factors:
            if name not in present:
                where = f"{kind} cell, node {target}, edge from node {edge.source}"
                present[name] = _group(name, where)
    for name, (group, _) in override.items():
        present.setdefault(name, group)

    # A node without edges (FairDARTS's threshold rule) resolves to no edges: the genotype's
    # validation guarantees that no edge leaves it and that concat does not name it.
    nodes = [
        tuple(
            _resolve_edge(f"{kind} cell, node {i + 2}", e, op_group, present, override)
            for e in edges
        )
        for i, edges in enumerate(cell.nodes)
    ]
    factors = CellFactors(
        ResolvedFactor(op_group, op_group.select(None)),
        tuple(ResolvedFactor(g, g.select(None)) for g in present.values()),
        inner_group,
    )
    return ResolvedCell(factors, tuple(nodes), cell.concat)


def _resolve_edge(
    where: str,
    edge: EdgeChoice,
    op_group: FactorGroup,
    present: Mapping[str, FactorGroup],
    override: Mapping[str, tuple[FactorGroup, Candidate]],
) -> ResolvedEdge:
    where = f"{where}, edge from node {edge.source}"
    op = _candidate(op_group, edge.op, where)
    chosen: dict[str, Candidate] = {}
    for name, choice in edge.factors.items():
        group = present[name]
        if not group.attaches_to(op):
            raise GenotypeError(
                f"{where}: factor {name!r} does not act on op {op.name!r}; remove it from that edge"
            )
        chosen[name] = _candidate(group, choice, where)
    for name, group in present.items():
        if not group.attaches_to(op):
            continue
        if name in override:
            chosen[name] = override[name][1]
        elif name not in chosen:
            raise GenotypeError(
                f"{where}: op {op.name!r} has no choice for factor {name!r}, which other edges "
                "of this cell choose; add it, or pass an override for it"
            )
    return ResolvedEdge(edge.source, op, chosen)


def resolve_genotype(
    genotype: Genotype,
    *,
    override: Mapping[str, str] | None = None,
    inner_group: str | None = None,
) -> ResolvedGenotype:
    """Resolve every name of ``genotype`` against the registry.

    Args:
        genotype: the architecture to build.
        override: factor group → candidate, replacing that factor's choice on every edge whose
            op it acts on (``{"activation": "relu"}`` retrains a free search with ReLU). A
            group the genotype does not mention is added to every edge it acts on.
        inner_group: an input factor whose chosen candidate also replaces the activation
            inside ``sep_conv`` ops (``SearchSpace.inner_group``, docs/design-decisions.md);
            ``None`` keeps
            DARTS's inner ReLU.

    Raises:
        GenotypeError: an unknown op, group or candidate (the message lists the valid names),
            a factor on an op it does not act on, or a missing factor choice.
    """
    op_group = _group(genotype.op_group, "genotype op_group")
    if op_group.role != "op":
        raise GenotypeError(
            f"genotype op_group {genotype.op_group!r} is a factor group, not an op group"
        )
    resolved_override = _override_groups(override or {})
    if inner_group is not None:
        inner = _group(inner_group, "inner_group")
        if inner.placement is not Placement.INPUT:
            raise GenotypeError(
                f"inner_group {inner_group!r} must be an input factor (like 'activation'), "
                f"not a {inner.role if inner.placement is None else inner.placement.value} group"
            )
    return ResolvedGenotype(
        normal=_resolve_cell("normal", genotype.normal, op_group, resolved_override, inner_group),
        reduce=_resolve_cell("reduce", genotype.reduce, op_group, resolved_override, inner_group),
    )
