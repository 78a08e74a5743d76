"""Evaluation networks built from any factorized genotype: DARTS's CIFAR and ImageNet models.

Both stack ``layers`` :class:`~factornas.evaluate.cell.EvalCell` s with reductions at 1/3 and 2/3
of the depth, and can carry DARTS's auxiliary head after the second reduction (2/3 depth). The
CIFAR network has DARTS's 3×3 stem of ``3·C`` channels; the ImageNet ("mobile setting") network
has DARTS's two stride-2 stems (×8 downsampling before the first cell). Both return
``(logits, auxiliary_logits)``; the auxiliary logits are ``None`` in eval mode or without head.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn
from torch.nn import functional as F

from factornas.evaluate.cell import EvalCell
from factornas.evaluate.config import NetworkConfig
from factornas.evaluate.resolve import ResolvedGenotype, resolve_genotype
from factornas.space.config import reduction_layers
from factornas.space.genotype import Genotype

AUX_HIDDEN = 128
AUX_FEATURES = 768
AUX_POOLED = 2
AUX_POOL = 5


class AuxiliaryHead(nn.Module):
    """DARTS's auxiliary classifier: ReLU, 5×5 average pool to 2×2, 1×1 conv to 128, 2×2 conv
    to 768, linear.

    DARTS pools with stride 3 on CIFAR (8×8 input) and stride 2 on ImageNet (7×7 input), and
    its ImageNet head has no batch norm after the 2×2 conv (kept, "for consistency with the
    paper", in the reference code). For inputs where that pooling does not give 2×2 (small
    images such as 28×28 Fashion-MNIST) the head pools adaptively to 2×2 instead, so the same
    weights apply at any resolution and the standard sizes keep DARTS's exact computation.
    """

    def __init__(
        self, channels: int, num_classes: int, *, pool_stride: int, final_norm: bool
    ) -> None:
        super().__init__()
        self.pool_stride = pool_stride
        layers: list[nn.Module] = [
            nn.Conv2d(channels, AUX_HIDDEN, 1, bias=False),
            nn.BatchNorm2d(AUX_HIDDEN),
            nn.ReLU(inplace=True),
            nn.Conv2d(AUX_HIDDEN, AUX_FEATURES, AUX_POOLED, bias=False),
        ]
        if final_norm:
            layers.append(nn.BatchNorm2d(AUX_FEATURES))
        layers.append(nn.ReLU(inplace=True))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(AUX_FEATURES, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(x)
        side = (min(x.shape[-2:]) - AUX_POOL) // self.pool_stride + 1
        if x.shape[-2] == x.shape[-1] and side == AUX_POOLED:
            pooled = F.avg_pool2d(x, AUX_POOL, stride=self.pool_stride, count_include_pad=False)
        else:
            pooled = F.adaptive_avg_pool2d(x, AUX_POOLED)
        return self.classifier(self.features(pooled).flatten(1))


class _EvalNetwork(nn.Module):
    """The cell stack, classifier and auxiliary head shared by both networks.

    ``drop_path_prob`` is read by every cell at each forward pass; the training loop sets it
    per epoch (DARTS ramps it linearly from 0).
    """

    #: Every valid initial channel count is a multiple of this (see the subclasses).
    channel_multiple: int = 1
    cells: nn.ModuleList
    classifier: nn.Linear

    def __init__(self) -> None:
        super().__init__()
        self.drop_path_prob = 0.0
        self.auxiliary_head: AuxiliaryHead | None = None
        self.aux_after = -1

    def _build_cells(
        self,
        cells: ResolvedGenotype,
        c_prev_prev: int,
        c_prev: int,
        channels: int,
        layers: int,
        reduction_prev: bool,
    ) -> tuple[int, int]:
        """Stack the cells; returns (output channels, channels entering the auxiliary head)."""
        if layers < 3:
            raise ValueError(f"an evaluation network needs at least 3 cells, got {layers}")
        reductions = reduction_layers(layers)
        self.aux_after = reductions[1]
        self.cells = nn.ModuleList()
        c_curr, c_aux = channels, 0
        for i in range(layers):
            reduction = i in reductions
            if reduction:
                c_curr *= 2
            cell = EvalCell(
                cells.cell(reduction), c_prev_prev, c_prev, c_curr, reduction, reduction_prev
            )
            self.cells.append(cell)
            reduction_prev = reduction
            c_prev_prev, c_prev = c_prev, cell.multiplier * c_curr
            if i == self.aux_after:
                c_aux = c_prev
        return c_prev, c_aux

    def _run_cells(
        self, s0: torch.Tensor, s1: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        logits_aux = None
        for i, cell in enumerate(self.cells):
            s0, s1 = s1, cell(s0, s1, self.drop_path_prob)
            if i == self.aux_after and self.auxiliary_head is not None and self.training:
                logits_aux = self.auxiliary_head(s1)
        out = F.adaptive_avg_pool2d(s1, 1).flatten(1)
        return self.classifier(out), logits_aux

    def main_parameters(self) -> list[nn.Parameter]:
        """Every parameter except the auxiliary head's (DARTS's published counts)."""
        aux = {id(p) for p in self.auxiliary_head.parameters()} if self.auxiliary_head else set()
        return [p for p in self.parameters() if id(p) not in aux]


class NetworkCIFAR(_EvalNetwork):
    """DARTS's CIFAR evaluation network (20 cells, C=36 in the paper).

    Any initial channel count works: every FactorizedReduce it contains halves ``2·C`` or
    ``4·C`` channels.
    """

    channel_multiple = 1

    def __init__(
        self,
        genotype: Genotype,
        *,
        channels: int = 36,
        layers: int = 20,
        num_classes: int = 10,
        in_channels: int = 3,
        auxiliary: bool = True,
        stem_multiplier: int = 3,
        inner_group: str | None = None,
        override: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__()
        cells = resolve_genotype(genotype, override=override, inner_group=inner_group)
        c_stem = stem_multiplier * channels
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, c_stem, 3, padding=1, bias=False), nn.BatchNorm2d(c_stem)
        )
        c_prev, c_aux = self._build_cells(cells, c_stem, c_stem, channels, layers, False)
        if auxiliary:
            self.auxiliary_head = AuxiliaryHead(c_aux, num_classes, pool_stride=3, final_norm=True)
        self.classifier = nn.Linear(c_prev, num_classes)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        s = self.stem(x)
        return self._run_cells(s, s)


class NetworkImageNet(_EvalNetwork):
    """DARTS's ImageNet mobile-setting network (14 cells, C=48 in the paper).

    The first cell reads the stride-8 stem output as its reduced previous input, through a
    ``FactorizedReduce(C, C)``, which needs an even ``C``: initial channel counts are even.
    """

    channel_multiple = 2

    def __init__(
        self,
        genotype: Genotype,
        *,
        channels: int = 48,
        layers: int = 14,
        num_classes: int = 1000,
        in_channels: int = 3,
        auxiliary: bool = True,
        inner_group: str | None = None,
        override: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__()
        if channels % self.channel_multiple:
            raise ValueError(
                f"the ImageNet network needs an even initial channel count, got {channels}"
            )
        cells = resolve_genotype(genotype, override=override, inner_group=inner_group)
        half = channels // 2
        self.stem0 = nn.Sequential(
            nn.Conv2d(in_channels, half, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(half),
            nn.ReLU(inplace=True),
            nn.Conv2d(half, channels, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(channels),
        )
        # Not in place (DARTS's is): stem0's output also feeds the first cell.
        self.stem1 = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(channels, channels, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(channels),
        )
        c_prev, c_aux = self._build_cells(cells, channels, channels, channels, layers, True)
        if auxiliary:
            self.auxiliary_head = AuxiliaryHead(c_aux, num_classes, pool_stride=2, final_norm=False)
        self.classifier = nn.Linear(c_prev, num_classes)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        s0 = self.stem0(x)
        return self._run_cells(s0, self.stem1(s0))


EvalNetwork = NetworkCIFAR | NetworkImageNet

NETWORKS: dict[str, type[NetworkCIFAR] | type[NetworkImageNet]] = {
    "cifar": NetworkCIFAR,
    "imagenet": NetworkImageNet,
}


def build_network(genotype: Genotype, config: NetworkConfig) -> EvalNetwork:
    """The evaluation network ``config`` describes, built from ``genotype``."""
    return NETWORKS[config.kind](
        genotype,
        channels=config.channels,
        layers=config.layers,
        num_classes=config.num_classes,
        in_channels=config.in_channels,
        auxiliary=config.auxiliary,
        inner_group=config.inner_group,
        override=config.override,
    )
