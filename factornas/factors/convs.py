"""Convolutions as a product of factors: conv type × kernel size, ending *bare*.

The paper's conclusion (§5) notes that convolutions have orthogonal properties, the type
(plain, separable, dilated) and the kernel size, and that factorizing them automates more of
the search. DARTS's four convolutions are exactly {separable, dilated} × {3, 5}; here that
product is explicit. The ``conv_op`` group has a single parameterized candidate, ``conv``,
whose construction arguments come from two ``VARIANT`` groups, ``conv_type`` and
``kernel_size``; the supernet builds one ``conv`` per combination and mixes them by the product
of the two groups' weights.

Every convolution here is *bare*: it ends without the batch norm DARTS puts at the end of its
conv ops, because the ``normalization`` factor (:mod:`factornas.factors.norms`) attaches to
bare ops and supplies that norm. The searched norm therefore *replaces* DARTS's trailing BN
instead of stacking a second normalization after it; with ``normalization`` reduced to
``{bn}`` a bare op computes exactly the DARTS op. Norms *inside* an op (the BN between the two
halves of a separable conv) are part of the op and follow ``OpContext.affine`` as in DARTS.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import nn

from factornas.errors import RegistryError
from factornas.factors import ops
from factornas.factors.base import Candidate, FactorGroup, OpContext, OpFactory, Placement

#: Tag of ops that end without normalization: the ``normalization`` factor attaches to it.
BARE = "bare"
#: Tag of ops whose type and kernel come from the ``conv_type``/``kernel_size`` variants.
CONV_FAMILY = "conv_family"

#: Builds a bare convolution of the given kernel size for one op context.
ConvBuilder = Callable[[OpContext, int], nn.Module]


class BareSepConv(nn.Module):
    """DARTS's separable conv (two depthwise-separable halves) minus its trailing BN.

    The activation in front comes from the ``activation`` factor; the one between the halves
    is ``OpContext.make_inner_activation()`` (ReLU unless the space sets ``inner_group``).
    """

    def __init__(self, ctx: OpContext, kernel: int) -> None:
        super().__init__()
        c, pad = ctx.channels, kernel // 2
        self.op = nn.Sequential(
            nn.Conv2d(c, c, kernel, stride=ctx.stride, padding=pad, groups=c, bias=False),
            nn.Conv2d(c, c, 1, bias=False),
            nn.BatchNorm2d(c, affine=ctx.affine),
            ctx.make_inner_activation(),
            nn.Conv2d(c, c, kernel, stride=1, padding=pad, groups=c, bias=False),
            nn.Conv2d(c, c, 1, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class BareDilConv(nn.Module):
    """DARTS's dilation-2 depthwise-separable conv minus its trailing BN."""

    def __init__(self, ctx: OpContext, kernel: int, dilation: int = 2) -> None:
        super().__init__()
        c = ctx.channels
        self.op = nn.Sequential(
            nn.Conv2d(
                c,
                c,
                kernel,
                stride=ctx.stride,
                padding=dilation * (kernel - 1) // 2,
                dilation=dilation,
                groups=c,
                bias=False,
            ),
            nn.Conv2d(c, c, 1, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


def separable(ctx: OpContext, kernel: int) -> nn.Module:
    return BareSepConv(ctx, kernel)


def dilated(ctx: OpContext, kernel: int) -> nn.Module:
    return BareDilConv(ctx, kernel)


def plain(ctx: OpContext, kernel: int) -> nn.Module:
    """A dense k×k convolution: the 'normal' conv type the paper lists next to the others."""
    c = ctx.channels
    return nn.Conv2d(c, c, kernel, stride=ctx.stride, padding=kernel // 2, bias=False)


#: Conv types in canonical order (the order of their weights).
CONV_TYPES: dict[str, ConvBuilder] = {"sep": separable, "dil": dilated, "plain": plain}


def fixed_conv(builder: ConvBuilder, kernel: int) -> OpFactory:
    """Op factory of one bare conv whose type and kernel are fixed (not searched)."""

    def build(ctx: OpContext) -> nn.Module:
        return builder(ctx, kernel)

    return build


def factorized_conv(type_group: str = "conv_type", kernel_group: str = "kernel_size") -> OpFactory:
    """Op factory reading its type and kernel from the two variant groups' values.

    A space without one of those groups gets the DARTS default for it (separable, 3×3), so
    ``conv_op`` alone is still a valid, smaller space.
    """

    def build(ctx: OpContext) -> nn.Module:
        builder: ConvBuilder = ctx.variants.get(type_group, separable)
        kernel: int = ctx.variants.get(kernel_group, 3)
        return builder(ctx, kernel)

    return build


def conv_type_group(
    name: str = "conv_type", *, attach_to: Iterable[str] = (CONV_FAMILY,)
) -> FactorGroup:
    """The conv type as a ``VARIANT`` factor: each candidate's value is a :data:`ConvBuilder`."""
    return FactorGroup(
        name,
        placement=Placement.VARIANT,
        attach_to=attach_to,
        candidates=(Candidate(n, value=b) for n, b in CONV_TYPES.items()),
        description="convolution type of each factorized conv (separable, dilated, plain)",
    )


def kernel_size_group(
    name: str = "kernel_size",
    *,
    sizes: Iterable[int] = (3, 5),
    attach_to: Iterable[str] = (CONV_FAMILY,),
) -> FactorGroup:
    """The kernel size as a ``VARIANT`` factor; sizes must be odd so padding keeps the shape."""
    sizes = tuple(sizes)
    even = [k for k in sizes if k < 1 or k % 2 == 0]
    if even:
        raise RegistryError(
            f"kernel sizes must be odd and positive (padding keeps the resolution), got {even}"
        )
    return FactorGroup(
        name,
        placement=Placement.VARIANT,
        attach_to=attach_to,
        candidates=(Candidate(f"{k}x{k}", value=k) for k in sizes),
        description="kernel size of each factorized conv",
    )


def _non_conv_ops(group: FactorGroup) -> None:
    """DARTS's non-parameterized ops, shared by both op groups below."""
    pool = frozenset({"pool"})
    group.add(Candidate("none", factory=ops.none_op, is_zero=True))
    group.add(Candidate("max_pool_3x3", factory=ops.max_pool_3x3, tags=pool))
    group.add(Candidate("avg_pool_3x3", factory=ops.avg_pool_3x3, tags=pool))
    group.add(Candidate("skip_connect", factory=ops.skip_connect))


def conv_op_group(
    name: str = "conv_op", *, type_group: str = "conv_type", kernel_group: str = "kernel_size"
) -> FactorGroup:
    """DARTS's non-parameterized ops plus one factorized, bare ``conv`` (type × kernel)."""
    group = FactorGroup(
        name,
        role="op",
        description="working ops with one factorized conv (type × kernel from variant groups)",
    )
    _non_conv_ops(group)
    group.add(
        Candidate(
            "conv",
            factory=factorized_conv(type_group, kernel_group),
            tags=frozenset({"conv", BARE, CONV_FAMILY}),
        )
    )
    return group


def bare_op_group(name: str = "op_bare") -> FactorGroup:
    """DARTS's eight ops whose four convs end bare, for spaces that search the normalization."""
    group = FactorGroup(
        name, role="op", description="DARTS working ops, convs without their trailing BN"
    )
    _non_conv_ops(group)
    tags = frozenset({"conv", BARE})
    for type_name, prefix in (("sep", "sep_conv"), ("dil", "dil_conv")):
        for kernel in (3, 5):
            factory = fixed_conv(CONV_TYPES[type_name], kernel)
            group.add(Candidate(f"{prefix}_{kernel}x{kernel}", factory=factory, tags=tags))
    return group
