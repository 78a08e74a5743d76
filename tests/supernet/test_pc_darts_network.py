"""PC-DARTS search networks: the published counts, the presets, the ImageNet search stem."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from factornas.cli import main
from factornas.factors.ops import FactorizedReduce
from factornas.space import SearchSpace
from factornas.supernet.network import SearchNetwork

DARTS_SIZE = 1_076_746_950_455_072_400


def _describe(capsys: pytest.CaptureFixture[str], *args: str) -> dict:
    assert main(["space", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_pc_darts_has_pc_darts_counts(capsys: pytest.CaptureFixture[str]) -> None:
    """PC-DARTS's CIFAR-10 search network: 299,578 weights and 252 architecture parameters."""
    info = _describe(capsys, "--preset", "pc_darts")
    assert (info["weights"], info["arch_parameters"]) == (299_578, 252)
    assert info["size"] == DARTS_SIZE  # edge weights add no discrete choice
    assert (info["partial_channels"], info["edge_normalization"]) == (4, True)


def test_apc_darts_is_adarts_on_half_the_channels(capsys: pytest.CaptureFixture[str]) -> None:
    info = _describe(capsys, "--preset", "apc_darts", "--channels", "4", "--layers", "3")
    assert info["size"] == (180 * 39**8) ** 2
    assert info["arch_parameters"] == 476 + 2 * 14
    assert isinstance(info["weights"], int)
    assert info["partial_channels"] == 2


def _stem_weights(c: int) -> tuple[int, int]:
    """Weights of DARTS's CIFAR stem and of PC-DARTS's ImageNet search stem at ``3c`` wide."""
    wide, half = 3 * c, 3 * c // 2
    cifar = 3 * wide * 9 + 2 * wide
    imagenet = (
        (3 * half * 9 + 2 * half) + (half * wide * 9 + 2 * wide) + (wide * wide * 9 + 2 * wide)
    )
    return cifar, imagenet


def test_imagenet_stem_enters_cells_at_one_eighth_resolution(apc_darts: SearchSpace) -> None:
    net = SearchNetwork(apc_darts, channels=4, layers=3, stem="imagenet")
    seen: list[tuple[int, ...]] = []
    for cell in net.cells:
        cell.register_forward_hook(
            lambda _m, args, out: seen.append((args[0].shape[-1], args[1].shape[-1], out.shape[-1]))
        )
    side = 64  # 224 maps the same way: 56, 28 into the first cell
    assert net(torch.randn(2, 3, side, side)).shape == (2, 10)
    # (older input, newer input, output) per cell: normal, reduce, reduce.
    assert seen == [
        (side // 4, side // 8, side // 8),
        (side // 8, side // 8, side // 16),
        (side // 8, side // 16, side // 32),
    ]
    # The first cell treats its older input as coming after a reduction.
    assert isinstance(net.cells[0].preprocess0, FactorizedReduce)
    strides = [m.stride for m in net.stem.modules() if isinstance(m, nn.Conv2d)]
    assert strides == [(2, 2)] * 3


def test_imagenet_stem_is_pc_darts_stem_and_cifar_stem_is_unchanged(
    pc_darts: SearchSpace,
) -> None:
    c = 8
    cifar = SearchNetwork(pc_darts, channels=c, layers=3)
    imagenet = SearchNetwork(pc_darts, channels=c, layers=3, stem="imagenet")
    cifar_stem, imagenet_stem = _stem_weights(c)
    assert sum(p.numel() for p in cifar.stem.parameters()) == cifar_stem
    assert sum(p.numel() for p in imagenet.stem.parameters()) == imagenet_stem
    # FactorizedReduce(3c, c) and ReLUConvBN(3c, c) have equal weights: only the stem differs.
    assert imagenet.count_weights() - cifar.count_weights() == imagenet_stem - cifar_stem
    assert [k for k in cifar.state_dict() if k.startswith("stem.")][:2] == [
        "stem.0.weight",
        "stem.1.weight",
    ]


def test_unknown_stem_is_refused(pc_darts: SearchSpace) -> None:
    with pytest.raises(ValueError, match="unknown stem 'mnist'; choose one of: cifar, imagenet"):
        SearchNetwork(pc_darts, channels=4, layers=3, stem="mnist")  # type: ignore[arg-type]
