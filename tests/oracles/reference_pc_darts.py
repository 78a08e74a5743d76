"""An independent, minimal re-statement of the PC-DARTS CIFAR search network, a test oracle.

PC-DARTS (Xu et al., 2020) keeps DARTS's cell, ops and stem and changes two things, both
written out here plainly, without any factornas code:

* partial channels: an edge mixes its candidate ops on the first ``C/K`` channels only; the
  other channels pass by untouched (2×2 max-pooled where the edge has stride 2), the two parts
  are concatenated and then shuffled with ``K`` groups (channel ``i`` of group ``g`` lands at
  ``i·K + g``);
* edge normalization: every cell type has one extra weight per edge, softmaxed over the edges
  entering each node, that multiplies the edge's output.

The ops on the searched channels are DARTS's (PC-DARTS's ``operations.py`` is DARTS's), so they
come from :mod:`tests.core.reference_darts`, built at ``C/K`` channels.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .reference_darts import OPS, Mixed, Reduce, relu_conv_bn

STEPS = 4  # intermediate nodes per cell; node i has i + 2 inputs


class PartialEdge(nn.Module):
    def __init__(self, c: int, stride: int, k: int) -> None:
        super().__init__()
        self.k = k
        self.mixed = Mixed(c // k, stride)
        self.pool = nn.MaxPool2d(2, 2)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        searched = x.shape[1] // self.k
        head = self.mixed(x[:, :searched], w)
        tail = x[:, searched:]
        if head.shape[-1] != x.shape[-1]:  # the mixture reduced: so must the bypass
            tail = self.pool(tail)
        joined = torch.cat([head, tail], dim=1)
        n, c, h, width = joined.shape
        grouped = joined.reshape(n, self.k, c // self.k, h, width)
        return grouped.transpose(1, 2).reshape(n, c, h, width)


def per_node_softmax(beta: torch.Tensor) -> torch.Tensor:
    """The edge-normalization weights: ``beta`` softmaxed within each node's incoming edges."""
    parts, start = [], 0
    for node in range(STEPS):
        size = node + 2
        parts.append(torch.softmax(beta[start : start + size], dim=0))
        start += size
    return torch.cat(parts)


class PartialCell(nn.Module):
    def __init__(
        self, cpp: int, cp: int, c: int, reduction: bool, reduction_prev: bool, k: int
    ) -> None:
        super().__init__()
        self.reduction = reduction
        self.pre0 = Reduce(cpp, c) if reduction_prev else relu_conv_bn(cpp, c)
        self.pre1 = relu_conv_bn(cp, c)
        self.edges = nn.ModuleList(
            PartialEdge(c, 2 if reduction and j < 2 else 1, k)
            for i in range(STEPS)
            for j in range(i + 2)
        )

    def forward(
        self, s0: torch.Tensor, s1: torch.Tensor, w: torch.Tensor, scale: torch.Tensor
    ) -> torch.Tensor:
        states = [self.pre0(s0), self.pre1(s1)]
        e = 0
        for _ in range(STEPS):
            total = 0
            for h in states:
                total = total + scale[e] * self.edges[e](h, w[e])
                e += 1
            states.append(total)
        return torch.cat(states[-4:], 1)


class ReferencePcDarts(nn.Module):
    def __init__(
        self, c: int = 16, classes: int = 10, layers: int = 8, in_channels: int = 3, k: int = 4
    ) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, 3 * c, 3, padding=1, bias=False), nn.BatchNorm2d(3 * c)
        )
        cpp, cp, cc = 3 * c, 3 * c, c
        self.cells = nn.ModuleList()
        reduction_prev = False
        for i in range(layers):
            reduction = i in (layers // 3, 2 * layers // 3)
            if reduction:
                cc *= 2
            self.cells.append(PartialCell(cpp, cp, cc, reduction, reduction_prev, k))
            reduction_prev = reduction
            cpp, cp = cp, 4 * cc
        self.classifier = nn.Linear(cp, classes)
        edges = sum(i + 2 for i in range(STEPS))
        self.alpha_normal = nn.Parameter(1e-3 * torch.randn(edges, len(OPS)))
        self.alpha_reduce = nn.Parameter(1e-3 * torch.randn(edges, len(OPS)))
        self.beta_normal = nn.Parameter(1e-3 * torch.randn(edges))
        self.beta_reduce = nn.Parameter(1e-3 * torch.randn(edges))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            if cell.reduction:
                alpha, beta = self.alpha_reduce, self.beta_reduce
            else:
                alpha, beta = self.alpha_normal, self.beta_normal
            w = torch.softmax(alpha, dim=-1)
            s0, s1 = s1, cell(s0, s1, w, per_node_softmax(beta))
        return self.classifier(F.adaptive_avg_pool2d(s1, 1).flatten(1))

    def weights(self) -> list[nn.Parameter]:
        return [p for n, p in self.named_parameters() if not n.startswith(("alpha", "beta"))]

    def arch_parameters(self) -> list[nn.Parameter]:
        """PC-DARTS's order: α normal, α reduce, β normal, β reduce."""
        return [self.alpha_normal, self.alpha_reduce, self.beta_normal, self.beta_reduce]
