"""The factorized convolution: type × kernel as variant groups, built by the supernet and by
``build_path`` (the evaluation networks' builder) into the same modules."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn

from factornas import GroupSpec, OpContext, RegistryError, SearchSpace, get_group
from factornas.factors.convs import BareDilConv, BareSepConv, kernel_size_group
from factornas.factors.path import build_path
from factornas.presets import space_preset
from factornas.supernet.edge import MixedEdge

TYPES = {"sep": BareSepConv, "dil": BareDilConv, "plain": nn.Conv2d}


def _first_conv(module: nn.Module) -> nn.Conv2d:
    return next(m for m in module.modules() if isinstance(m, nn.Conv2d))


def test_supernet_builds_one_conv_per_type_and_kernel() -> None:
    edge = MixedEdge(space_preset("adarts_conv").cell("normal"), channels=4, stride=1)
    convs = edge.ops["conv"]
    combos = list(itertools.product(TYPES, (3, 5)))
    assert len(convs) == len(combos) == 6
    for (kind, kernel), module in zip(combos, convs, strict=True):
        assert isinstance(module, TYPES[kind])
        first = _first_conv(module)
        assert first.kernel_size == (kernel, kernel)
        assert first.dilation == ((2, 2) if kind == "dil" else (1, 1))
        assert first.groups == (1 if kind == "plain" else 4)
        # Bare: the normalization factor, not the op, normalizes its output.
        assert not isinstance(list(module.modules())[-1], nn.BatchNorm2d)


@pytest.mark.parametrize("stride", [1, 2])
def test_build_path_is_the_supernet_at_a_one_hot_choice(stride: int) -> None:
    """Every (type, kernel, norm) path equals the mixed edge with one-hot weights on it."""
    cell = SearchSpace(
        normal=(
            GroupSpec(group="conv_op", candidates=("skip_connect", "conv")),
            GroupSpec(group="conv_type"),
            GroupSpec(group="kernel_size"),
            GroupSpec(group="activation", candidates=("relu", "selu")),
            GroupSpec(group="normalization", candidates=("bn_affine", "gn")),
        )
    ).cell("normal")
    edge = MixedEdge(cell, channels=4, stride=stride)
    conv = cell.op.candidates[1]
    groups = {f.name: f for f in cell.factors}
    x = torch.randn(2, 4, 8, 8)
    for t, k, n in itertools.product(range(3), range(2), range(2)):
        chosen = {
            "conv_type": groups["conv_type"].candidates[t],
            "kernel_size": groups["kernel_size"].candidates[k],
            "activation": groups["activation"].candidates[1],
            "normalization": groups["normalization"].candidates[n],
        }
        ctx = OpContext(channels=4, stride=stride, affine=False, searching=True)
        path = build_path(ctx, conv, cell, chosen)
        assert [type(m) for m in path] == [
            nn.SELU,
            TYPES[chosen["conv_type"].name],
            nn.BatchNorm2d if n == 0 else nn.GroupNorm,
        ]
        path[1].load_state_dict(edge.ops["conv"][2 * t + k].state_dict())
        path[2].load_state_dict(edge.outputs["conv"]["normalization"][n].state_dict())
        weights = {
            "conv_op": torch.tensor([0.0, 1.0]),
            "conv_type": torch.eye(3)[t],
            "kernel_size": torch.eye(2)[k],
            "activation": torch.eye(2)[1],
            "normalization": torch.eye(2)[n],
        }
        torch.testing.assert_close(edge(x, weights), path(x))
        assert path(x).shape == (2, 4, 8 // stride, 8 // stride)


def test_evaluation_path_uses_affine_inner_norms() -> None:
    """``build_path`` honours the evaluation context: the BN inside a sep conv learns affine."""
    cell = space_preset("adarts_conv").cell("normal")
    chosen = {f.name: f.candidates[0] for f in cell.factors}  # sep, 3x3, relu, bn
    path = build_path(
        OpContext(channels=8, stride=1, affine=True), cell.op.candidates[-1], cell, chosen
    )
    inner = [m for m in path[1].modules() if isinstance(m, nn.BatchNorm2d)]
    assert len(inner) == 1 and inner[0].affine
    assert isinstance(path[2], nn.BatchNorm2d) and not path[2].affine  # the searched `bn`


def test_conv_op_without_variant_groups_is_a_sep_conv_3x3() -> None:
    cell = SearchSpace(normal=(GroupSpec(group="conv_op"),)).cell("normal")
    edge = MixedEdge(cell, channels=4, stride=1)
    (conv,) = edge.ops["conv"]
    assert isinstance(conv, BareSepConv) and _first_conv(conv).kernel_size == (3, 3)


def test_kernel_sizes_must_be_odd() -> None:
    with pytest.raises(RegistryError, match="odd"):
        kernel_size_group("kernels", sizes=(3, 4))
    assert kernel_size_group("kernels", sizes=(1, 7)).names == ("1x1", "7x7")


def test_variant_groups_attach_only_to_the_factorized_conv() -> None:
    for name in ("conv_type", "kernel_size"):
        group = get_group(name)
        assert [c.name for c in get_group("conv_op").select(None) if group.attaches_to(c)] == [
            "conv"
        ]
        assert not any(group.attaches_to(c) for c in get_group("op").select(None))
