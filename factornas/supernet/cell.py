"""The DARTS search cell over a factorized space."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Literal

import torch
from torch import nn

from factornas.factors.ops import FactorizedReduce, ReLUConvBN
from factornas.space.config import CellFactors, CellType, Topology
from factornas.supernet.edge import MixedEdge
from factornas.supernet.grouped import run_edges
from factornas.supernet.sampled import run_sampled_edges

EdgeFactory = Callable[[CellFactors, int, int], nn.Module]
#: How a cell computes its edges: grouped by source node, one at a time, or by device.
CellExecution = Literal["auto", "grouped", "per_edge"]


class SearchCell(nn.Module):
    """Two preprocessed inputs, ``steps`` intermediate nodes, each the sum of mixed edges from
    every earlier node; the output concatenates the last ``multiplier`` nodes.

    ``edge_factory`` builds one edge from (cell factors, channels, stride); PC-DARTS swaps in
    a partial-channel edge through it. Each edge keeps its own modules (and state-dict
    names), but with :attr:`grouped` (the default) the edges leaving one node are computed
    together (:mod:`factornas.supernet.grouped`); ``grouped = False`` runs them one by one,
    the plain statement of the cell that the tests hold the grouped execution to.
    """

    def __init__(
        self,
        cell: CellFactors,
        topology: Topology,
        c_prev_prev: int,
        c_prev: int,
        channels: int,
        reduction: bool,
        reduction_prev: bool,
        edge_factory: EdgeFactory = MixedEdge,
    ) -> None:
        super().__init__()
        self.cell_type: CellType = "reduce" if reduction else "normal"
        self.topology = topology
        if reduction_prev:
            self.preprocess0: nn.Module = FactorizedReduce(c_prev_prev, channels, affine=False)
        else:
            self.preprocess0 = ReLUConvBN(c_prev_prev, channels, 1, 1, 0, affine=False)
        self.preprocess1 = ReLUConvBN(c_prev, channels, 1, 1, 0, affine=False)
        self.edges = nn.ModuleList(
            edge_factory(cell, channels, 2 if reduction and source < 2 else 1)
            for _, source in topology.edge_index()
        )
        #: True: grouped execution; False: edge by edge; None (auto, the default): grouped
        #: except on a CPU, where oneDNN's grouped kernels measured slower (docs/performance.md).
        self.grouped: bool | None = None
        edge_index = topology.edge_index()
        #: Per source node: its outgoing edges' indices (targets ascending) and target nodes.
        self.by_source: list[tuple[list[int], list[int]]] = [
            (
                [e for e, (_, s) in enumerate(edge_index) if s == source],
                [t for t, s in edge_index if s == source],
            )
            for source in range(topology.steps + 1)
        ]
        for source, (indices, _) in enumerate(self.by_source):
            self.register_buffer(f"source_{source}", torch.tensor(indices), persistent=False)

    def forward(
        self,
        s0: torch.Tensor,
        s1: torch.Tensor,
        weights: Mapping[str, torch.Tensor],
        edge_scale: torch.Tensor | None = None,
        paths: Sequence[int] | None = None,
    ) -> torch.Tensor:
        """``weights`` maps each searched group to its ``(num_edges, n)`` weights;
        ``edge_scale`` (PC-DARTS edge normalization) scales each edge's output; ``paths``, when
        the op weights are one-hot samples, is the op each edge runs alone (GDAS,
        :mod:`factornas.supernet.sampled`)."""
        if s1.device.type == "cpu":
            # oneDNN's depthwise and 1×1 convolutions, pools and BN run about twice as fast on
            # NHWC as on NCHW on CPU; every op keeps the layout, so only the first cell copies
            # (once: the CIFAR stem hands it one tensor as both inputs).
            same = s0 is s1
            s1 = s1.contiguous(memory_format=torch.channels_last)
            s0 = s1 if same else s0.contiguous(memory_format=torch.channels_last)
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        grouped = s1.device.type != "cpu" if self.grouped is None else self.grouped
        if grouped:
            states = self._grouped_nodes(states, weights, edge_scale, paths)
        else:
            offset = 0
            for _ in range(self.topology.steps):
                node: torch.Tensor | None = None
                for source, h in enumerate(states):
                    e = offset + source
                    if paths is None:
                        out = self.edges[e](h, {g: w[e] for g, w in weights.items()})
                    else:
                        rows = {g: w[e : e + 1] for g, w in weights.items()}
                        out = run_sampled_edges([self.edges[e]], h, rows, [paths[e]])[:, 0]
                    if edge_scale is not None:
                        out = edge_scale[e] * out
                    node = out if node is None else node + out
                offset += len(states)
                assert node is not None
                states.append(node)
        return torch.cat(states[-self.topology.multiplier :], dim=1)

    def _grouped_nodes(
        self,
        states: list[torch.Tensor],
        weights: Mapping[str, torch.Tensor],
        edge_scale: torch.Tensor | None,
        paths: Sequence[int] | None = None,
    ) -> list[torch.Tensor]:
        """The intermediate nodes, computed source by source: when node j is complete (every
        source before it has contributed), its outgoing edges run as one group. Each node sums
        its incoming edges in source order, as the per-edge loop does."""
        sums: list[torch.Tensor | None] = [None] * self.topology.steps
        for source, (indices, targets) in enumerate(self.by_source):
            if source >= 2:
                node = sums[source - 2]
                assert node is not None
                states.append(node)
            index = getattr(self, f"source_{source}")
            rows = {g: w.index_select(0, index) for g, w in weights.items()}
            edges = [self.edges[e] for e in indices]
            if paths is None:
                outputs = run_edges(edges, states[source], rows).unbind(1)
            else:
                chosen = [paths[e] for e in indices]
                outputs = run_sampled_edges(edges, states[source], rows, chosen).unbind(1)
            for out, e, target in zip(outputs, indices, targets, strict=True):
                slot = target - 2
                total = sums[slot]
                if edge_scale is None:
                    sums[slot] = out if total is None else total + out
                elif total is None:
                    sums[slot] = edge_scale[e] * out
                else:
                    sums[slot] = torch.addcmul(total, edge_scale[e], out)
        last = sums[-1]
        assert last is not None
        states.append(last)
        return states
