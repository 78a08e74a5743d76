"""The evaluation cell: a genotype's kept edges, each a discrete operator path.

It mirrors the search cell (same preprocessing, same stride rule, same node sums and concat)
with two differences that DARTS's evaluation cell also makes: batch norms learn their affine
parameters, and drop path regularizes every edge that is not an identity during training.
"""

from __future__ import annotations

import torch
from torch import nn

from factornas.evaluate.resolve import ResolvedCell
from factornas.factors.base import OpContext
from factornas.factors.ops import FactorizedReduce, ReLUConvBN
from factornas.factors.path import build_path


def drop_path(x: torch.Tensor, drop_prob: float) -> torch.Tensor:
    """Zero whole samples of ``x`` with probability ``drop_prob``, rescaling the rest.

    The rescaling by ``1 / keep`` keeps the expected value, so evaluation needs no correction
    (stochastic depth applied per edge, FractalNet's drop path as DARTS uses it).
    """
    if drop_prob <= 0.0:
        return x
    keep = 1.0 - drop_prob
    mask = torch.empty((x.shape[0], 1, 1, 1), dtype=x.dtype, device=x.device).bernoulli_(keep)
    return x * mask / keep


class EvalCell(nn.Module):
    """Two preprocessed inputs, then each intermediate node sums its kept edges' outputs; the
    output concatenates the genotype's ``concat`` nodes. A node without edges is skipped, as
    FairDARTS's evaluation cell skips the nodes its threshold rule left without inputs; two
    edges of one node from the same source are two separate modules (GDAS's rule).

    Every edge is built by :func:`~factornas.factors.path.build_path`, so any registered
    factor group (activation, normalization, variant…) is honoured without special cases.
    """

    def __init__(
        self,
        cell: ResolvedCell,
        c_prev_prev: int,
        c_prev: int,
        channels: int,
        reduction: bool,
        reduction_prev: bool,
    ) -> None:
        super().__init__()
        self.reduction = reduction
        if reduction_prev:
            self.preprocess0: nn.Module = FactorizedReduce(c_prev_prev, channels, affine=True)
        else:
            self.preprocess0 = ReLUConvBN(c_prev_prev, channels, 1, 1, 0, affine=True)
        self.preprocess1 = ReLUConvBN(c_prev, channels, 1, 1, 0, affine=True)
        # A node without edges (FairDARTS's threshold rule) has no state and is skipped: no
        # edge reads it and concat does not name it (CellGenotype validates both). States are
        # stored for the inputs and the nodes with edges only, so ``slots`` maps a node number
        # to its place in that list.
        slots = {0: 0, 1: 1}
        for i, node in enumerate(cell.nodes):
            if node:
                slots[i + 2] = len(slots)
        self.node_sizes = tuple(len(node) for node in cell.nodes if node)
        self.sources = tuple(edge.source for node in cell.nodes for edge in node)
        self._source_slots = tuple(slots[source] for source in self.sources)
        self._concat_slots = tuple(slots[node] for node in cell.concat)
        self.edges = nn.ModuleList()
        for node in cell.nodes:
            for edge in node:
                stride = 2 if reduction and edge.source < 2 else 1
                ctx = OpContext(channels=channels, stride=stride, affine=True, searching=False)
                self.edges.append(build_path(ctx, edge.op, cell.factors, edge.chosen))
        # An identity edge carries the signal unchanged; dropping it would only add noise,
        # so DARTS exempts it from drop path, and so do we.
        self.droppable = tuple(not isinstance(edge, nn.Identity) for edge in self.edges)
        self.concat = cell.concat
        self.multiplier = len(cell.concat)

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, drop_prob: float = 0.0) -> torch.Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        drop = self.training and drop_prob > 0.0
        e = 0
        for size in self.node_sizes:
            node: torch.Tensor | None = None
            for _ in range(size):
                h = self.edges[e](states[self._source_slots[e]])
                if drop and self.droppable[e]:
                    h = drop_path(h, drop_prob)
                node = h if node is None else node + h
                e += 1
            assert node is not None  # node_sizes lists the nodes with edges only
            states.append(node)
        return torch.cat([states[i] for i in self._concat_slots], dim=1)
