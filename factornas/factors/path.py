"""Building one discrete operator path: input factors → op → output factors.

The same builder serves the flat twin (each fused candidate is one path) and the evaluation
networks (each kept edge of a genotype is one path), so a factor group only has to say how to
build its candidates once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any, Protocol

from torch import nn

from factornas.errors import RegistryError
from factornas.factors.base import Candidate, FactorGroup, OpContext, Placement


class AttachedFactor(Protocol):
    """A factor group as a resolved space holds it (``space.config.ResolvedFactor``)."""

    @property
    def name(self) -> str: ...

    @property
    def group(self) -> FactorGroup: ...


class PathCell(Protocol):
    """What building a path needs of a resolved cell (``space.config.CellFactors``): its op
    group, the factors attached to an op, and the factor used inside sep convs. A protocol,
    so that the factors layer needs nothing of the space layer above it."""

    @property
    def op(self) -> AttachedFactor: ...

    @property
    def inner_group(self) -> str | None: ...

    def attached(self, op: Candidate) -> Sequence[AttachedFactor]: ...


def build_candidate(group: FactorGroup, candidate: Candidate, argument: Any) -> nn.Module:
    """Call a candidate's factory, turning any failure into an error that names it."""
    assert candidate.factory is not None
    try:
        module = candidate.factory(argument)
    except Exception as error:  # a user factory can fail in any way; name the offender
        raise RegistryError(
            f"candidate {candidate.name!r} of factor group {group.name!r} failed to build: "
            f"{type(error).__name__}: {error}"
        ) from error
    if not isinstance(module, nn.Module):
        raise RegistryError(
            f"candidate {candidate.name!r} of factor group {group.name!r} returned "
            f"{type(module).__name__}, not an nn.Module: make its factory return a module"
        )
    return module


def op_context(
    ctx: OpContext,
    variants: Mapping[str, Any],
    inner_activation: Callable[[], nn.Module] | None,
) -> OpContext:
    """``ctx`` with the variant values and inner activation of one path filled in."""
    return OpContext(
        channels=ctx.channels,
        stride=ctx.stride,
        affine=ctx.affine,
        searching=ctx.searching,
        variants=dict(variants),
        inner_activation=inner_activation,
    )


def build_path(
    ctx: OpContext, op: Candidate, cell: PathCell, chosen: Mapping[str, Candidate]
) -> nn.Module:
    """The module computing ``op`` with one candidate chosen for each attached factor."""
    before: list[nn.Module] = []
    after: list[nn.Module] = []
    variants: dict[str, Any] = {}
    inner: Callable[[], nn.Module] | None = None
    for factor in cell.attached(op):
        candidate = chosen[factor.name]
        placement = factor.group.placement
        if placement is Placement.VARIANT:
            variants[factor.name] = candidate.value
            continue
        module = build_candidate(factor.group, candidate, ctx.channels)
        (before if placement is Placement.INPUT else after).append(module)
        if factor.name == cell.inner_group:
            inner = partial(build_candidate, factor.group, candidate, ctx.channels)
    core = build_candidate(cell.op.group, op, op_context(ctx, variants, inner))
    if not before and not after:
        return core
    return nn.Sequential(*before, core, *after)
