"""Working operators of the DARTS cell, with the leading activation split out.

Reference DARTS hides a ReLU at the front of every convolution op. Here the four convolutions
start directly with their convolution: the activation in front of them is whatever the
``activation`` factor group supplies (Eq. 2–3), so with that group reduced to ``{relu}`` the
computation is exactly DARTS's. Non-parameterized ops (pools, skip, none) see the raw input.
"""

from __future__ import annotations

import torch
from torch import nn

from factornas.factors.base import OpContext, OpFactory


class ReLUConvBN(nn.Module):
    """ReLU → conv → BN: the cell preprocessing of DARTS (not searched)."""

    def __init__(
        self, c_in: int, c_out: int, kernel: int, stride: int, padding: int, affine: bool
    ) -> None:
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding, bias=False),
            nn.BatchNorm2d(c_out, affine=affine),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class FactorizedReduce(nn.Module):
    """Halve the resolution with two offset stride-2 1×1 convs so no pixel is dropped.

    A stride-2 1×1 conv is written as a 1×1 conv of the even (odd) rows and columns: the same
    numbers and parameters, but it keeps clear of oneDNN's stride-2 1×1 convolution, whose
    backward pass corrupts the heap on channels-last inputs with few channels (torch 2.13 CPU:
    4 or 8 channels at 48×48 and above abort the process, e.g. an ImageNet-stem search at C=4).
    """

    def __init__(self, c_in: int, c_out: int, affine: bool) -> None:
        super().__init__()
        if c_out % 2:
            raise ValueError(f"FactorizedReduce needs an even channel count, got {c_out}")
        self.relu = nn.ReLU(inplace=False)
        self.conv_1 = nn.Conv2d(c_in, c_out // 2, 1, bias=False)
        self.conv_2 = nn.Conv2d(c_in, c_out // 2, 1, bias=False)
        self.bn = nn.BatchNorm2d(c_out, affine=affine)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        even, odd = x[:, :, ::2, ::2], x[:, :, 1::2, 1::2]
        return self.bn(torch.cat([self.conv_1(even), self.conv_2(odd)], dim=1))


class SepConv(nn.Module):
    """Two stacked depthwise-separable convs; the first activation is supplied from outside."""

    def __init__(
        self,
        channels: int,
        kernel: int,
        stride: int,
        padding: int,
        affine: bool,
        inner_activation: nn.Module,
    ) -> None:
        super().__init__()
        c = channels
        self.op = nn.Sequential(
            nn.Conv2d(c, c, kernel, stride=stride, padding=padding, groups=c, bias=False),
            nn.Conv2d(c, c, 1, bias=False),
            nn.BatchNorm2d(c, affine=affine),
            inner_activation,
            nn.Conv2d(c, c, kernel, stride=1, padding=padding, groups=c, bias=False),
            nn.Conv2d(c, c, 1, bias=False),
            nn.BatchNorm2d(c, affine=affine),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class DilConv(nn.Module):
    """A dilated depthwise-separable conv; its activation is supplied from outside."""

    def __init__(
        self, channels: int, kernel: int, stride: int, padding: int, dilation: int, affine: bool
    ) -> None:
        super().__init__()
        c = channels
        self.op = nn.Sequential(
            nn.Conv2d(
                c,
                c,
                kernel,
                stride=stride,
                padding=padding,
                dilation=dilation,
                groups=c,
                bias=False,
            ),
            nn.Conv2d(c, c, 1, bias=False),
            nn.BatchNorm2d(c, affine=affine),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class Zero(nn.Module):
    """The ``none`` op: a zero tensor of the output's shape."""

    def __init__(self, stride: int) -> None:
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1:
            return x.mul(0.0)
        return x[:, :, :: self.stride, :: self.stride].mul(0.0)


def _pool(pool: nn.Module, ctx: OpContext) -> nn.Module:
    """Pools are followed by a non-affine BN during search, as in reference DARTS."""
    if ctx.searching:
        return nn.Sequential(pool, nn.BatchNorm2d(ctx.channels, affine=False))
    return pool


def none_op(ctx: OpContext) -> nn.Module:
    return Zero(ctx.stride)


def max_pool_3x3(ctx: OpContext) -> nn.Module:
    return _pool(nn.MaxPool2d(3, stride=ctx.stride, padding=1), ctx)


def avg_pool_3x3(ctx: OpContext) -> nn.Module:
    return _pool(nn.AvgPool2d(3, stride=ctx.stride, padding=1, count_include_pad=False), ctx)


def skip_connect(ctx: OpContext) -> nn.Module:
    if ctx.stride == 1:
        return nn.Identity()
    return FactorizedReduce(ctx.channels, ctx.channels, affine=ctx.affine)


def sep_conv(kernel: int) -> OpFactory:
    """Factory of a separable conv with the given kernel (padding keeps the resolution)."""

    def build(ctx: OpContext) -> nn.Module:
        return SepConv(
            ctx.channels, kernel, ctx.stride, kernel // 2, ctx.affine, ctx.make_inner_activation()
        )

    build.__name__ = f"sep_conv_{kernel}x{kernel}"
    return build


def dil_conv(kernel: int) -> OpFactory:
    """Factory of a dilation-2 separable conv with the given kernel."""

    def build(ctx: OpContext) -> nn.Module:
        return DilConv(ctx.channels, kernel, ctx.stride, kernel - 1, 2, ctx.affine)

    build.__name__ = f"dil_conv_{kernel}x{kernel}"
    return build
