"""Partial-channel edges: only C/K channels reach the mixed op, the rest bypass, then shuffle."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from factornas.errors import SpaceError
from factornas.space import SearchSpace
from factornas.supernet.edge import MixedEdge
from factornas.supernet.network import SearchNetwork
from factornas.supernet.partial import PartialChannelEdge


def _shuffled(groups: torch.Tensor, k: int) -> torch.Tensor:
    """ShuffleNet's channel shuffle written as an explicit permutation: output channel
    ``j·K + g`` is channel ``j`` of group ``g``."""
    per_group = groups.shape[1] // k
    order = [g * per_group + j for j in range(per_group) for g in range(k)]
    return groups[:, order]


def _weights(space: SearchSpace) -> dict[str, torch.Tensor]:
    cell = space.cell("normal")
    return {
        f.name: torch.softmax(torch.randn(len(f.candidates)), 0)
        for f in cell.groups()
        if f.searched
    }


@pytest.mark.parametrize(("k", "stride"), [(4, 1), (4, 2), (2, 1), (2, 2)])
def test_output_is_the_shuffle_of_mixed_part_and_bypass(
    apc_darts: SearchSpace, k: int, stride: int
) -> None:
    channels = 8
    edge = PartialChannelEdge(apc_darts.cell("normal"), channels, stride, partial_channels=k)
    edge.eval()  # RReLU draws random slopes in training mode; the mixed op runs twice here
    x = torch.randn(2, channels, 6, 6)
    weights = _weights(apc_darts)
    part = channels // k
    mixed = edge.mixed(x[:, :part], weights)
    bypass = x[:, part:] if stride == 1 else F.max_pool2d(x[:, part:], 2)
    expected = _shuffled(torch.cat([mixed, bypass], dim=1), k)
    out = edge(x, weights)
    assert out.shape == (2, channels, 6 // stride, 6 // stride)
    torch.testing.assert_close(out, expected, rtol=0, atol=0)
    torch.testing.assert_close(out[:, ::k], mixed, rtol=0, atol=0)


def test_only_the_sampled_channels_reach_the_mixed_op_and_activation(
    apc_darts: SearchSpace, monkeypatch: pytest.MonkeyPatch
) -> None:
    channels, k = 8, 2
    edge = PartialChannelEdge(apc_darts.cell("normal"), channels, 1, partial_channels=k)
    seen: list[tuple[str, int]] = []
    edge.mixed.register_forward_hook(
        lambda _module, args, _out: seen.append(("mixed edge", args[0].shape[1]))
    )
    group = apc_darts.cell("normal").factors[0].group
    original = type(group).mix

    def recording_mix(self, x, *args, **kwargs):  # the mixed activation, fused or not
        seen.append(("mixed activation", x.shape[1]))
        return original(self, x, *args, **kwargs)

    monkeypatch.setattr(type(group), "mix", recording_mix)
    edge(torch.randn(2, channels, 5, 5), _weights(apc_darts))
    assert seen == [("mixed activation", channels // k), ("mixed edge", channels // k)]
    convs = [m for m in edge.modules() if isinstance(m, nn.Conv2d)]
    assert convs and all(c.in_channels == channels // k for c in convs)


def test_gradient_flows_through_both_paths(pc_darts: SearchSpace) -> None:
    edge = PartialChannelEdge(pc_darts.cell("reduce"), 8, 2, partial_channels=4)
    x = torch.randn(2, 8, 4, 4, requires_grad=True)
    edge(x, _weights(pc_darts)).sum().backward()
    assert x.grad is not None
    assert x.grad[:, :2].abs().sum() > 0  # through the mixed op
    assert x.grad[:, 2:].abs().sum() > 0  # through the max-pooled bypass


def test_k1_edge_computes_the_mixed_edge(pc_darts: SearchSpace) -> None:
    cell = pc_darts.cell("normal")
    wrapped = PartialChannelEdge(cell, 4, 2, partial_channels=1)
    plain = MixedEdge(cell, 4, 2)
    plain.load_state_dict(wrapped.mixed.state_dict())
    x = torch.randn(2, 4, 6, 6)
    weights = _weights(pc_darts)
    torch.testing.assert_close(wrapped(x, weights), plain(x, weights), rtol=0, atol=0)


def test_k1_without_edge_norm_is_the_plain_supernet(darts: SearchSpace) -> None:
    off = SearchSpace.model_validate(
        {**darts.model_dump(), "partial_channels": 1, "edge_normalization": False}
    )
    torch.manual_seed(3)
    plain = SearchNetwork(darts, channels=4, layers=3)
    torch.manual_seed(3)
    same = SearchNetwork(off, channels=4, layers=3)
    assert same.edge_scales() is None
    assert not any(isinstance(m, PartialChannelEdge) for m in same.modules())
    theirs, ours = plain.state_dict(), same.state_dict()
    assert ours.keys() == theirs.keys()
    for key, value in theirs.items():
        torch.testing.assert_close(ours[key], value, rtol=0, atol=0)
    x = torch.randn(2, 3, 8, 8)
    torch.testing.assert_close(same(x), plain(x), rtol=0, atol=0)


def test_network_uses_partial_edges_at_every_cell_width(pc_darts: SearchSpace) -> None:
    net = SearchNetwork(pc_darts, channels=8, layers=3)
    edges = [e for cell in net.cells for e in cell.edges]
    assert all(isinstance(e, PartialChannelEdge) for e in edges)
    assert sorted({e.sampled for e in edges}) == [2, 4, 8]  # C/K at widths 8, 16, 32


def test_channels_not_divisible_by_k_fail_with_a_clear_error(pc_darts: SearchSpace) -> None:
    with pytest.raises(SpaceError, match="divisible by 4"):
        SearchNetwork(pc_darts, channels=6, layers=3)


def test_space_validates_pc_darts_options(darts: SearchSpace) -> None:
    with pytest.raises(ValueError, match="partial_channels"):
        SearchSpace.model_validate({**darts.model_dump(), "partial_channels": 0})
    single_op = {
        "normal": [{"group": "op", "candidates": ["sep_conv_3x3"]}],
        "edge_normalization": True,
    }
    with pytest.raises(ValueError, match="edge_normalization needs a searched op group"):
        SearchSpace.model_validate(single_op)
