"""The normalization after each parameterized op, as a factor group (paper §3.3 and §5).

The paper asks whether the batch norm "appended after each normal operator" is optimal and
proposes one more factor for it. The ``normalization`` group is an ``OUTPUT`` factor attached
to *bare* ops (tag :data:`~factornas.factors.convs.BARE`), which end without a norm: the
searched norm takes the place of DARTS's trailing BN rather than following it, so no op is
normalized twice and ``{bn}`` alone reproduces DARTS.

A candidate is the same module in search and in evaluation. Output factories only receive the
channel count, and a choice should mean the same thing in the supernet and in the network
retrained from its genotype, so whether a norm learns scale and shift is part of the candidate
itself: ``bn`` is DARTS's search-time non-affine BN, ``bn_affine`` its evaluation-time BN,
and the search decides between them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

from torch import nn

from factornas.factors.base import Candidate, FactorGroup, Placement
from factornas.factors.convs import BARE

#: Most groups a group norm splits channels into (Wu & He use 32; DARTS cells have 16–64).
MAX_NORM_GROUPS = 8


def batch_norm(channels: int) -> nn.Module:
    """Non-affine batch norm: the DARTS search convention (α alone scales an op's output)."""
    return nn.BatchNorm2d(channels, affine=False)


def batch_norm_affine(channels: int) -> nn.Module:
    """Batch norm with learned scale and shift, as DARTS uses when retraining."""
    return nn.BatchNorm2d(channels, affine=True)


def group_norm(channels: int) -> nn.Module:
    """Non-affine group norm; the group count always divides the channels (gcd with 8), so
    partial-channel edges with few channels still get a valid norm."""
    return nn.GroupNorm(math.gcd(channels, MAX_NORM_GROUPS), channels, affine=False)


def identity(channels: int) -> nn.Module:
    """No normalization at all: lets the search ask whether the norm is needed."""
    return nn.Identity()


#: The normalization candidates in canonical order (the order of their weights).
NORMALIZATIONS: dict[str, Callable[[int], nn.Module]] = {
    "bn": batch_norm,
    "bn_affine": batch_norm_affine,
    "gn": group_norm,
    "identity": identity,
}


def normalization_group(
    name: str = "normalization", *, attach_to: Iterable[str] = (BARE,)
) -> FactorGroup:
    """The norm after every bare op, mixed per edge and per op (one module set each)."""
    return FactorGroup(
        name,
        placement=Placement.OUTPUT,
        attach_to=attach_to,
        candidates=(Candidate(n, factory=f) for n, f in NORMALIZATIONS.items()),
        description="normalization after each parameterized op (replaces its trailing BN)",
    )
