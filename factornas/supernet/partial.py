"""PC-DARTS's partial-channel connections: only ``1/K`` of an edge's channels are searched.

The first ``C/K`` channels go through a :class:`MixedEdge` built at ``C/K`` channels (its mixed
activation included, so the factorized search pays for the activation on the sampled channels
only); the other ``C − C/K`` channels bypass it (max-pooled on a stride-2 edge, as PC-DARTS
does). A channel shuffle with ``K`` groups then interleaves the two, so the next edge samples a
different mix of searched and bypassed channels. Searching ``1/K`` of the channels cuts the
edge's memory and compute by about ``K``, which is what lets PC-DARTS search with large batches.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial
from typing import cast

import torch
from torch import nn

from factornas.errors import SpaceError
from factornas.space.config import CellFactors, SearchSpace
from factornas.supernet.cell import EdgeFactory
from factornas.supernet.edge import MixedEdge
from factornas.supernet.grouped import EDGE_RUNNERS, run_mixed_edges


class PartialChannelEdge(nn.Module):
    """A mixed edge over the first ``channels / partial_channels`` channels; the rest bypass.

    The output equals ``channel_shuffle(cat([mixed(x[:, :C/K]), bypass(x[:, C/K:])]), K)``.
    """

    def __init__(
        self, cell: CellFactors, channels: int, stride: int, *, partial_channels: int
    ) -> None:
        super().__init__()
        if partial_channels < 1:
            raise SpaceError(f"partial_channels must be at least 1, got {partial_channels}")
        if channels % partial_channels:
            # The shuffle splits the edge into K equal groups; PC-DARTS's view would fail later.
            raise SpaceError(
                f"partial_channels={partial_channels} splits every edge into {partial_channels} "
                f"equal channel groups, but an edge has {channels} channels: use initial "
                f"channels divisible by {partial_channels}"
            )
        self.partial_channels = partial_channels
        self.sampled = channels // partial_channels
        self.mixed = MixedEdge(cell, self.sampled, stride)
        self.bypass: nn.Module = nn.MaxPool2d(stride, stride) if stride > 1 else nn.Identity()

    def forward(self, x: torch.Tensor, weights: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Mix the sampled channels with this edge's ``weights``, bypass the rest, shuffle."""
        mixed = self.mixed(x[:, : self.sampled], weights)
        if self.partial_channels == 1:  # nothing bypasses (pooling an empty tensor fails)
            return mixed
        bypassed = self.bypass(x[:, self.sampled :])
        # Stacking the K groups on a new axis after the channel-in-group axis *is* the shuffle
        # of their concatenation, built in one copy instead of cat + transpose.
        rest = bypassed.unflatten(1, (self.partial_channels - 1, self.sampled)).unbind(1)
        return torch.stack([mixed, *rest], dim=2).flatten(1, 2)


def run_partial_edges(
    edges: Sequence[nn.Module], x: torch.Tensor, weights: Mapping[str, torch.Tensor]
) -> torch.Tensor:
    """k partial-channel edges leaving one node, ``(N, k, C, H', W')``: their sampled channels
    are the same slice of the shared input, so the k mixed edges run grouped on it, and the
    bypass is pooled once; each edge's output then interleaves its own mixture with it."""
    partial_edges = cast(Sequence[PartialChannelEdge], edges)
    first, count = partial_edges[0], len(partial_edges)
    mixed = run_mixed_edges([e.mixed for e in partial_edges], x[:, : first.sampled], weights)
    groups = first.partial_channels
    if groups == 1:
        return mixed
    rest = first.bypass(x[:, first.sampled :]).unflatten(1, (groups - 1, first.sampled))
    # (N, k, C/K, K, H, W): per edge and sampled channel, its mixture then the K - 1 bypassed
    # groups, which is the per-edge stack-and-flatten shuffle for all k edges in one copy.
    rest = rest.movedim(1, 2).unsqueeze(1).expand(-1, count, -1, -1, -1, -1)
    shuffled = torch.cat([mixed.unsqueeze(3), rest], dim=3)
    return shuffled.flatten(2, 3)


EDGE_RUNNERS[PartialChannelEdge] = run_partial_edges


def edge_factory(space: SearchSpace) -> EdgeFactory:
    """The edge a space's supernet uses: the plain mixed edge unless partial channels are on.

    ``K = 1`` keeps :class:`MixedEdge` itself (not a wrapper of it), so such a network is the
    plain supernet, module names and all.
    """
    if space.partial_channels == 1:
        return MixedEdge
    return partial(PartialChannelEdge, partial_channels=space.partial_channels)
