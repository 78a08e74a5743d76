"""The normalization factor: where it attaches, that it replaces DARTS's trailing BN, and
that each candidate is the module it claims to be."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from factornas import GroupSpec, SearchSpace, get_group
from factornas.space import CellFactors
from factornas.supernet.edge import MixedEdge


def _attached_ops(op_group: str) -> list[str]:
    norm = get_group("normalization")
    return [c.name for c in get_group(op_group).select(None) if norm.attaches_to(c)]


def test_normalization_attaches_to_bare_convs_only() -> None:
    convs = ["sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5"]
    assert _attached_ops("op_bare") == convs
    assert _attached_ops("conv_op") == ["conv"]
    # DARTS's own convs end with a BN already: a second norm after them is refused by design.
    assert _attached_ops("op") == []


def test_candidates_are_the_modules_they_name() -> None:
    group = get_group("normalization")
    built = {name: group[name].factory(16) for name in group.names}
    assert group.names == ("bn", "bn_affine", "gn", "identity")
    assert isinstance(built["bn"], nn.BatchNorm2d) and not built["bn"].affine
    assert isinstance(built["bn_affine"], nn.BatchNorm2d) and built["bn_affine"].affine
    assert isinstance(built["gn"], nn.GroupNorm) and built["gn"].num_groups == 8
    assert isinstance(built["identity"], nn.Identity)


@pytest.mark.parametrize("channels", [3, 4, 12, 64])
def test_group_norm_always_divides_the_channels(channels: int) -> None:
    gn = get_group("normalization")["gn"].factory(channels)
    assert channels % gn.num_groups == 0
    assert gn(torch.randn(2, channels, 4, 4)).shape == (2, channels, 4, 4)


def _bn_only() -> CellFactors:
    """op_bare with DARTS's fixed choices: relu before, non-affine BN after every conv."""
    space = SearchSpace(
        normal=(
            GroupSpec(group="op_bare"),
            GroupSpec(group="activation", candidates=("relu",)),
            GroupSpec(group="normalization", candidates=("bn",)),
        )
    )
    return space.cell("normal")


@pytest.mark.parametrize("stride", [1, 2])
def test_bn_only_bare_edge_is_exactly_the_darts_edge(darts: SearchSpace, stride: int) -> None:
    """The searched norm replaces the conv's trailing BN: with {bn} nothing changes."""
    bare = MixedEdge(_bn_only(), channels=4, stride=stride)
    plain = MixedEdge(darts.cell("normal"), channels=4, stride=stride)
    missing, unexpected = bare.load_state_dict(plain.state_dict(), strict=False)
    # Only BN buffers move: DARTS's trailing BNs become the normalization factor's modules.
    assert {key.split(".")[1] for key in missing} == {key.split(".")[1] for key in unexpected}
    assert all(".normalization.0.running_" in key for key in missing)
    trailing = (".0.op.6.", ".0.op.2.")  # last BN of sep_conv and of dil_conv
    assert all(any(t in key for t in trailing) for key in unexpected)
    assert len(missing) == 4 * 2
    alpha = torch.softmax(torch.randn(8), 0)
    x = torch.randn(2, 4, 8, 8)
    torch.testing.assert_close(bare(x, {"op_bare": alpha}), plain(x, {"op": alpha}))


def test_norm_weights_mix_the_normalized_outputs() -> None:
    """One-hot weights on a norm give exactly the op followed by that norm."""
    space = SearchSpace(
        normal=(
            GroupSpec(group="op_bare", candidates=("none", "dil_conv_3x3")),
            GroupSpec(group="activation", candidates=("relu",)),
            GroupSpec(group="normalization"),
        )
    )
    edge = MixedEdge(space.cell("normal"), channels=4, stride=1)
    x = torch.randn(2, 4, 6, 6)
    conv = edge.ops["dil_conv_3x3"][0]
    norms = edge.outputs["dil_conv_3x3"]["normalization"]
    alpha = torch.tensor([0.3, 0.7])
    for index in range(4):
        one_hot = torch.zeros(4)
        one_hot[index] = 1.0
        out = edge(x, {"op_bare": alpha, "normalization": one_hot})
        torch.testing.assert_close(out, 0.7 * norms[index](conv(torch.relu(x))))
