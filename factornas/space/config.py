"""The search-space definition: which factor groups (and which of their candidates) each cell
type searches over, and the cell topology.

A :class:`SearchSpace` is plain, validated data (it round-trips through JSON inside run
configs); :meth:`SearchSpace.cell` resolves it against the factor registry into the
:class:`CellFactors` that the supernet, the size counter and the genotype deriver consume.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from factornas.errors import FactorNASError, SpaceError
from factornas.factors.base import Candidate, FactorGroup, OpContext, Placement
from factornas.factors.path import build_path
from factornas.factors.registry import get_group
from factornas.space.genotype import MAX_NODES

if TYPE_CHECKING:
    from torch import nn

CellType = Literal["normal", "reduce"]
CELL_TYPES: tuple[CellType, ...] = ("normal", "reduce")


class GroupSpec(BaseModel):
    """A registered factor group, optionally restricted to a subset of its candidates."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    group: str = Field(description="name of a registered factor group")
    candidates: tuple[str, ...] | None = Field(
        default=None, description="candidate subset in weight order; all when omitted"
    )

    @field_validator("candidates")
    @classmethod
    def _non_empty(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is not None and not value:
            raise ValueError("candidates must name at least one candidate, or be omitted")
        return value


class Topology(BaseModel):
    """DARTS cell topology: inputs, intermediate nodes and how many edges each node keeps."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    steps: int = Field(4, ge=1, le=MAX_NODES, description="intermediate nodes per cell")
    multiplier: int = Field(4, ge=1, description="last nodes concatenated into the output")
    edges_per_node: int = Field(2, ge=1, description="incoming edges kept per node")

    @model_validator(mode="after")
    def _consistent(self) -> Topology:
        if self.multiplier > self.steps:
            raise ValueError(f"multiplier ({self.multiplier}) cannot exceed steps ({self.steps})")
        if self.edges_per_node > 2:
            raise ValueError("edges_per_node > 2 leaves the first node too few inputs (it has 2)")
        return self

    @property
    def num_edges(self) -> int:
        """Edges of the supernet cell: node i has i + 2 inputs (14 for DARTS)."""
        return sum(i + 2 for i in range(self.steps))

    def edge_index(self) -> list[tuple[int, int]]:
        """(target node, source node) per edge in supernet order; nodes 0,1 are the inputs."""
        return [(i + 2, j) for i in range(self.steps) for j in range(i + 2)]


def reduction_layers(layers: int) -> tuple[int, ...]:
    """Which of ``layers`` stacked cells halve the resolution: those at 1/3 and 2/3 of the
    depth (DARTS), in search and evaluation networks alike."""
    return (layers // 3, 2 * layers // 3)


@dataclass(frozen=True)
class ResolvedFactor:
    """A non-op factor group with the candidates the space searches."""

    group: FactorGroup
    candidates: tuple[Candidate, ...]

    @property
    def name(self) -> str:
        return self.group.name

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.candidates)

    @property
    def searched(self) -> bool:
        """A single-candidate factor is a fixed choice: no weights, no search level."""
        return len(self.candidates) > 1


@dataclass(frozen=True)
class CellFactors:
    """One cell type's resolved search space: the op group and the factors attached to it."""

    op: ResolvedFactor
    factors: tuple[ResolvedFactor, ...]
    inner_group: str | None = None

    def attached(self, op: Candidate) -> tuple[ResolvedFactor, ...]:
        """Factors acting on ``op``, in space order (a flat-twin op carries none)."""
        if op.parts:
            return ()
        return tuple(f for f in self.factors if f.group.attaches_to(op))

    def groups(self) -> tuple[ResolvedFactor, ...]:
        """The op group followed by every factor group."""
        return (self.op, *self.factors)

    def choices_per_edge(self) -> int:
        """Distinct discrete choices on one kept edge (zero op excluded): 7 DARTS, 39 A-DARTS."""
        total = 0
        for op in self.op.candidates:
            if op.is_zero:
                continue
            count = 1
            for factor in self.attached(op):
                count *= len(factor.candidates)
            total += count
        return total


class SearchSpace(BaseModel):
    """A factorized search space: groups per cell type plus the cell topology.

    ``normal`` lists the groups of normal cells, the op group first; ``reduce`` those of
    reduction cells (the same as ``normal`` when omitted). ``flat`` turns the space into its flat
    twin: every combination of an op with its attached factors' candidates becomes one op.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = "custom"
    normal: tuple[GroupSpec, ...]
    reduce: tuple[GroupSpec, ...] | None = None
    topology: Topology = Topology()
    inner_group: str | None = Field(
        default=None,
        description="an input factor that also replaces the activation inside sep_conv ops",
    )
    flat: bool = False
    partial_channels: int = Field(
        1, ge=1, description="PC-DARTS's K: only 1/K of each edge's channels are searched (1: off)"
    )
    edge_normalization: bool = Field(
        False,
        description="PC-DARTS's edge normalization: one weight per edge, softmaxed per node",
    )
    _cells: dict[str, CellFactors] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _resolvable(self) -> SearchSpace:
        for cell_type in CELL_TYPES:
            try:
                cell = self._resolve(cell_type)
            except FactorNASError as error:
                raise ValueError(f"{cell_type} cell: {error}") from None
            if self.edge_normalization and not cell.op.searched:
                # Edge weights are optimized in the op group's level (docs/pc-darts.md).
                raise ValueError(
                    f"{cell_type} cell: edge_normalization needs a searched op group (more than "
                    f"one candidate in {cell.op.name!r}): its weights train in the op level"
                )
        return self

    # -- resolution ---------------------------------------------------------------------
    def specs(self, cell_type: CellType) -> tuple[GroupSpec, ...]:
        if cell_type == "reduce" and self.reduce is not None:
            return self.reduce
        return self.normal

    def cell(self, cell_type: CellType) -> CellFactors:
        """The resolved groups of one cell type (flattened for a flat twin).

        Resolved once and cached, so every consumer sees the very same candidate objects.
        """
        if cell_type not in self._cells:
            self._cells[cell_type] = self._resolve(cell_type)
        return self._cells[cell_type]

    def _resolve(self, cell_type: CellType) -> CellFactors:
        specs = self.specs(cell_type)
        if not specs:
            raise SpaceError("no factor groups given: list the op group first")
        resolved = []
        for spec in specs:
            group = get_group(spec.group)
            resolved.append(ResolvedFactor(group, group.select(spec.candidates)))
        if len({r.name for r in resolved}) != len(resolved):
            raise SpaceError("a factor group is listed twice")
        op, *factors = resolved
        if op.group.role != "op":
            raise SpaceError(
                f"the first group must be an op group, got {op.name!r}; list the op group first"
            )
        for extra in factors:
            if extra.group.role == "op":
                raise SpaceError(f"only one op group per cell, got another: {extra.name!r}")
            if not any(extra.group.attaches_to(c) for c in op.candidates):
                # Its weights would never receive a gradient nor reach a genotype.
                raise SpaceError(
                    f"factor {extra.name!r} attaches to no op of {op.name!r} (it acts on "
                    f"{', '.join(sorted(extra.group.attach_to))}): drop it or use another op group"
                )
        if self.inner_group is not None:
            inner = next((f for f in factors if f.name == self.inner_group), None)
            if inner is None or inner.group.placement is not Placement.INPUT:
                raise SpaceError(
                    f"inner_group {self.inner_group!r} must name an input factor of the space"
                )
        cell = CellFactors(op, tuple(factors), self.inner_group)
        return flatten(cell) if self.flat else cell

    def flat_twin(self) -> SearchSpace:
        """The flat twin: the same discrete architectures, one α over every combination."""
        if self.flat:
            return self
        # Built anew (not model_copy) so the cached resolution is not carried over.
        return SearchSpace.model_validate(
            {**self.model_dump(), "flat": True, "name": f"{self.name}_flat"}
        )

    @property
    def cell_types(self) -> tuple[CellType, ...]:
        return CELL_TYPES


def _flat_name(op: Candidate, parts: Sequence[tuple[str, Candidate]]) -> str:
    return "+".join([op.name, *(c.name for _, c in parts)])


def flatten(cell: CellFactors) -> CellFactors:
    """Merge every factor into the op group: one candidate per (op, factor choices) combination.

    Each fused candidate records its parts, so a flat genotype maps back to factor choices
    and can be compared edge by edge with a factorized one.
    """
    cell_scoped = [f.name for f in cell.factors if f.group.scope == "cell"]
    if cell_scoped:
        # A fused candidate chooses per edge, so it would hold more architectures than a
        # factor chosen once per cell: there is no flat space with the same architectures.
        raise SpaceError(
            f"no flat twin for cell-scoped factors ({', '.join(cell_scoped)}): "
            "make them edge-scoped to compare against a flat space"
        )
    fused = FactorGroup(
        "_x_".join(g.name for g in cell.groups()),
        role="op",
        description="flat twin of " + " × ".join(g.name for g in cell.groups()),
    )
    for op in cell.op.candidates:
        attached = cell.attached(op)
        for combo in itertools.product(*(f.candidates for f in attached)):
            parts = tuple((f.name, c) for f, c in zip(attached, combo, strict=True))
            chosen = {f.name: c for f, c in zip(attached, combo, strict=True)}

            def factory(
                ctx: OpContext, _op: Candidate = op, _chosen: dict[str, Candidate] = chosen
            ) -> nn.Module:
                return build_path(ctx, _op, cell, _chosen)

            fused.add(
                Candidate(
                    _flat_name(op, parts),
                    factory=factory,
                    tags=op.tags,
                    is_zero=op.is_zero,
                    parts=((cell.op.name, op.name), *((g, c.name) for g, c in parts)),
                )
            )
    merged = ResolvedFactor(fused, fused.select(None))
    return CellFactors(merged, (), None)
