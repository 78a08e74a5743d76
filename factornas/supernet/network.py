"""The 8-cell DARTS search network over any factorized space (PC-DARTS's too)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import ClassVar, Literal, cast

import torch
from torch import nn

from factornas.space.config import CellType, SearchSpace, reduction_layers
from factornas.supernet.arch import ArchitectureParameters
from factornas.supernet.cell import CellExecution, EdgeFactory, SearchCell
from factornas.supernet.partial import edge_factory as space_edge_factory
from factornas.supernet.sampled import sampled_op_paths

StemKind = Literal["cifar", "imagenet"]


class CifarSearchStem(nn.Sequential):
    """DARTS's stem: a 3×3 conv and BN at full resolution, feeding both first-cell inputs."""

    reduces: ClassVar[bool] = False

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(
            nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
        )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s = super().forward(x)
        return s, s


class ImageNetSearchStem(nn.Module):
    """PC-DARTS's ImageNet search stem: three stride-2 3×3 convs before the first cell.

    ``stem0`` (two convs, ÷4) gives the first cell's older input and ``stem1`` (one more, ÷8)
    its newer one, so a 224×224 image enters the cells at 28×28 and the first cell reduces its
    older input as if it followed a reduction cell (:attr:`reduces`).
    """

    reduces: ClassVar[bool] = True

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        half = out_channels // 2
        self.stem0 = nn.Sequential(
            nn.Conv2d(in_channels, half, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(half),
            nn.ReLU(),
            nn.Conv2d(half, out_channels, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
        )
        # Not in place (PC-DARTS's is): stem0's output also feeds the first cell.
        self.stem1 = nn.Sequential(
            nn.ReLU(),
            nn.Conv2d(out_channels, out_channels, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
        )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s0 = self.stem0(x)
        return s0, self.stem1(s0)


#: ``SearchCell.grouped`` for each ``cell_execution`` (None: by device).
GROUPED: dict[str, bool | None] = {"auto": None, "grouped": True, "per_edge": False}

STEMS: dict[str, type[CifarSearchStem] | type[ImageNetSearchStem]] = {
    "cifar": CifarSearchStem,
    "imagenet": ImageNetSearchStem,
}


class SearchNetwork(nn.Module):
    """Stem, ``layers`` search cells and a linear classifier.

    All normal cells share one set of architecture weights, all reduction cells another
    (held by :attr:`arch`). :meth:`weight_parameters` and :meth:`arch_parameters` are
    disjoint, so the weight optimizer never touches α/β. Edges are partial-channel edges when
    the space sets ``partial_channels > 1`` (unless ``edge_factory`` is given), and their
    outputs are scaled by the edge-normalization weights when it sets ``edge_normalization``.
    ``stem`` picks DARTS's CIFAR stem or PC-DARTS's ImageNet search stem (both ``stem_multiplier
    · channels`` wide).
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
        edge_factory: EdgeFactory | None = None,
        stem: StemKind = "cifar",
        cell_execution: CellExecution = "auto",
    ) -> None:
        super().__init__()
        if layers < 3:
            raise ValueError(f"a search network needs at least 3 cells, got {layers}")
        if stem not in STEMS:
            raise ValueError(f"unknown stem {stem!r}; choose one of: {', '.join(STEMS)}")
        self.space = space
        topology = space.topology
        edge_factory = edge_factory or space_edge_factory(space)
        c_curr = stem_multiplier * channels
        self.stem = STEMS[stem](in_channels, c_curr)
        c_prev_prev, c_prev, c_curr = c_curr, c_curr, channels
        reduction_prev = self.stem.reduces
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
            cell.grouped = GROUPED[cell_execution]
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
        scales = self.arch.edge_scales() or {}
        paths = sampled_op_paths(self.arch, weights) or {}
        s0, s1 = self.stem(x)
        for cell in cast(Iterable[SearchCell], self.cells):
            ct = cell.cell_type
            s0, s1 = s1, cell(s0, s1, weights[ct], scales.get(ct), paths.get(ct))
        out = self.global_pooling(s1)
        return self.classifier(out.flatten(1))

    def edge_scales(self) -> dict[CellType, torch.Tensor] | None:
        """Edge-normalization weights per cell type, for ``derive_genotype(edge_scale=...)``;
        ``None`` when the space does not normalize edges."""
        return self.arch.edge_scales()

    def arch_parameters(self) -> list[nn.Parameter]:
        return list(self.arch.parameters())

    def weight_parameters(self) -> Iterator[nn.Parameter]:
        """Every parameter except the architecture weights."""
        arch_ids = {id(p) for p in self.arch.parameters()}
        return (p for p in self.parameters() if id(p) not in arch_ids)

    def count_weights(self) -> int:
        return sum(p.numel() for p in self.weight_parameters())
