"""The 8-cell DARTS search network over any factorized space."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import nn

from factornas.space.config import SearchSpace
from factornas.supernet.arch import ArchitectureParameters
from factornas.supernet.cell import EdgeFactory, SearchCell
from factornas.supernet.edge import MixedEdge


def reduction_layers(layers: int) -> tuple[int, ...]:
    """Cells at 1/3 and 2/3 of the depth halve the resolution (DARTS)."""
    return (layers // 3, 2 * layers // 3)


class SearchNetwork(nn.Module):
    """Stem, ``layers`` search cells and a linear classifier.

    All normal cells share one set of architecture weights, all reduction cells another
    (held by :attr:`arch`). :meth:`weight_parameters` and :meth:`arch_parameters` are
    disjoint, so the weight optimizer never touches α/β.
    """

    def __init__(
        self,
        space: SearchSpace,
        *,
        channels: int = 16,
        layers: int = 8,
        num_classes: int = 10,
        in_channels: int = 3,
        stem_multiplier: int = 3,
        arch_init_std: float = 1e-3,
        generator: torch.Generator | None = None,
        edge_factory: EdgeFactory = MixedEdge,
    ) -> None:
        super().__init__()
        if layers < 3:
            raise ValueError(f"a search network needs at least 3 cells, got {layers}")
        self.space = space
        topology = space.topology
        c_curr = stem_multiplier * channels
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, c_curr, 3, padding=1, bias=False), nn.BatchNorm2d(c_curr)
        )
        c_prev_prev, c_prev, c_curr = c_curr, c_curr, channels
        reduction_prev = False
        self.cells = nn.ModuleList()
        for i in range(layers):
            reduction = i in reduction_layers(layers)
            if reduction:
                c_curr *= 2
            cell = SearchCell(
                space.cell("reduce" if reduction else "normal"),
                topology,
                c_prev_prev,
                c_prev,
                c_curr,
                reduction,
                reduction_prev,
                edge_factory,
            )
            self.cells.append(cell)
            reduction_prev = reduction
            c_prev_prev, c_prev = c_prev, topology.multiplier * c_curr
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_prev, num_classes)
        self.arch = ArchitectureParameters(
            space, topology.num_edges, init_std=arch_init_std, generator=generator
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights = {ct: self.arch.weights(ct) for ct in self.space.cell_types}
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1, weights[cell.cell_type])
        out = self.global_pooling(s1)
        return self.classifier(out.flatten(1))

    def arch_parameters(self) -> list[nn.Parameter]:
        return list(self.arch.parameters())

    def weight_parameters(self) -> Iterator[nn.Parameter]:
        """Every parameter except the architecture weights."""
        arch_ids = {id(p) for p in self.arch.parameters()}
        return (p for p in self.parameters() if id(p) not in arch_ids)

    def count_weights(self) -> int:
        return sum(p.numel() for p in self.weight_parameters())
