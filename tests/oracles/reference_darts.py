"""An independent, minimal re-statement of the DARTS search network, used as a test oracle.

It follows the semantics of the reference DARTS search model (ReLU inside every conv op,
BN after pools, FactorizedReduce skip on stride 2, cells sharing α by type) written plainly,
without any factornas code, so a structural slip in the factorized supernet shows up as a
different weight count or a different output.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

OPS = (
    "none",
    "max_pool_3x3",
    "avg_pool_3x3",
    "skip_connect",
    "sep_conv_3x3",
    "sep_conv_5x5",
    "dil_conv_3x3",
    "dil_conv_5x5",
)


def bn(c: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(c, affine=False)


class Reduce(nn.Module):
    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.a = nn.Conv2d(c_in, c_out // 2, 1, 2, bias=False)
        self.b = nn.Conv2d(c_in, c_out // 2, 1, 2, bias=False)
        self.norm = bn(c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(x)
        return self.norm(torch.cat([self.a(x), self.b(x[:, :, 1:, 1:])], 1))


def relu_conv_bn(c_in: int, c_out: int) -> nn.Module:
    return nn.Sequential(nn.ReLU(), nn.Conv2d(c_in, c_out, 1, bias=False), bn(c_out))


def sep(c: int, k: int, stride: int) -> nn.Module:
    p = k // 2
    return nn.Sequential(
        nn.ReLU(),
        nn.Conv2d(c, c, k, stride, p, groups=c, bias=False),
        nn.Conv2d(c, c, 1, bias=False),
        bn(c),
        nn.ReLU(),
        nn.Conv2d(c, c, k, 1, p, groups=c, bias=False),
        nn.Conv2d(c, c, 1, bias=False),
        bn(c),
    )


def dil(c: int, k: int, stride: int) -> nn.Module:
    return nn.Sequential(
        nn.ReLU(),
        nn.Conv2d(c, c, k, stride, k - 1, dilation=2, groups=c, bias=False),
        nn.Conv2d(c, c, 1, bias=False),
        bn(c),
    )


class Mixed(nn.Module):
    def __init__(self, c: int, stride: int) -> None:
        super().__init__()
        self.stride = stride
        self.ops = nn.ModuleList(
            [
                nn.Identity(),  # none: handled in forward
                nn.Sequential(nn.MaxPool2d(3, stride, 1), bn(c)),
                nn.Sequential(nn.AvgPool2d(3, stride, 1, count_include_pad=False), bn(c)),
                nn.Identity() if stride == 1 else Reduce(c, c),
                sep(c, 3, stride),
                sep(c, 5, stride),
                dil(c, 3, stride),
                dil(c, 5, stride),
            ]
        )

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        zero = x[:, :, :: self.stride, :: self.stride] * 0.0
        out = w[0] * zero
        for i in range(1, len(OPS)):
            out = out + w[i] * self.ops[i](x)
        return out


class Cell(nn.Module):
    def __init__(self, cpp: int, cp: int, c: int, reduction: bool, reduction_prev: bool) -> None:
        super().__init__()
        self.reduction = reduction
        self.pre0 = Reduce(cpp, c) if reduction_prev else relu_conv_bn(cpp, c)
        self.pre1 = relu_conv_bn(cp, c)
        self.mixed = nn.ModuleList(
            Mixed(c, 2 if reduction and j < 2 else 1) for i in range(4) for j in range(i + 2)
        )

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        states = [self.pre0(s0), self.pre1(s1)]
        e = 0
        for _ in range(4):
            total = 0
            for h in states:
                total = total + self.mixed[e](h, w[e])
                e += 1
            states.append(total)
        return torch.cat(states[-4:], 1)


class ReferenceDarts(nn.Module):
    def __init__(
        self, c: int = 16, classes: int = 10, layers: int = 8, in_channels: int = 3
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
            self.cells.append(Cell(cpp, cp, cc, reduction, reduction_prev))
            reduction_prev = reduction
            cpp, cp = cp, 4 * cc
        self.classifier = nn.Linear(cp, classes)
        self.alpha_normal = nn.Parameter(1e-3 * torch.randn(14, len(OPS)))
        self.alpha_reduce = nn.Parameter(1e-3 * torch.randn(14, len(OPS)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            alpha = self.alpha_reduce if cell.reduction else self.alpha_normal
            s0, s1 = s1, cell(s0, s1, torch.softmax(alpha, -1))
        return self.classifier(F.adaptive_avg_pool2d(s1, 1).flatten(1))

    def weights(self) -> list[nn.Parameter]:
        return [p for n, p in self.named_parameters() if not n.startswith("alpha")]

    def arch_parameters(self) -> list[nn.Parameter]:
        """α of the normal cells, then of the reduction cells (DARTS's order)."""
        return [self.alpha_normal, self.alpha_reduce]
