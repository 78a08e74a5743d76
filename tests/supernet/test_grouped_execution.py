"""Grouped execution computes the per-edge supernet exactly, with far fewer operator calls.

Every preset (and the how-to's user-registered group) is run twice from the same weights: cells
with ``grouped = False`` (one edge at a time: the plain statement of Eq. 2) and with the
default grouped execution. Logits, loss, every gradient (ω, α, β, edge normalization) and the
BN running statistics after the step must agree. The comparison runs in float64, so the only
differences left are the float64 rounding of reordered sums (relative 1e-10 here); float32's
rounding would hide a wrong term on parameters whose gradients nearly cancel.

RReLU's training noise is random per call, and the two executions draw it in different orders,
so the noise is replaced by a deterministic function of the input for these comparisons.
"""

from __future__ import annotations

import copy
import runpy
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.nn import functional as F
from torch.profiler import ProfilerActivity, profile

from factornas.factors import registry
from factornas.kernels.mixed_activation import rrelu as kernel_rrelu
from factornas.presets.search import search_preset
from factornas.search.config import SearchConfig
from factornas.search.loop import build_network
from factornas.space.config import SearchSpace
from factornas.supernet import grouped as grouped_cells
from factornas.supernet.network import SearchNetwork

PRESETS = ("darts", "adarts", "flat40", "pc_darts", "apc_darts", "adarts_norm", "adarts_conv")
EXAMPLE = Path(__file__).parents[2] / "examples" / "custom_factor_group.py"


@pytest.fixture
def fixed_noise(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same RReLU noise on every edge in both executions: the fused kernel's levels from
    one fixed seed, and ``nn.RReLU``'s slopes a smooth function of the input (smooth, so that
    rounding-level differences of the input stay rounding-level)."""
    draw = kernel_rrelu._draw_levels

    def levels(count: int, seed: int, device: torch.device) -> torch.Tensor:
        return draw(count, 12345, device)

    def rrelu(
        x: torch.Tensor, lower: float, upper: float, training: bool, inplace: bool = False
    ) -> torch.Tensor:
        fraction = torch.sigmoid(x.detach())
        slope = lower + (upper - lower) * fraction if training else (lower + upper) / 2
        return torch.where(x >= 0, x, x * slope)

    monkeypatch.setattr(kernel_rrelu, "_draw_levels", levels)
    monkeypatch.setattr(F, "rrelu", rrelu)


@pytest.fixture
def custom_space() -> Iterator[SearchSpace]:
    """The how-to's space with its attention group (an OUTPUT factor after every conv)."""
    namespace = runpy.run_path(str(EXAMPLE), run_name="custom_factor_group")
    try:
        yield namespace["SPACE"]
    finally:
        registry.unregister("attention")


def _network(config: SearchConfig) -> tuple[SearchNetwork, torch.Tensor, torch.Tensor]:
    """A tiny supernet of ``config`` with random α/β/edge weights, and a batch for it."""
    network = build_network(config.replace(channels=8, layers=3), num_classes=10, in_channels=3)
    with torch.no_grad():
        for p in network.arch.parameters():
            p.normal_()
    side = 64 if config.stem == "imagenet" else 16
    return network, torch.randn(3, 3, side, side), torch.tensor([1, 4, 7])


def _run(network: SearchNetwork, grouped: bool, train: bool, x: torch.Tensor, y: torch.Tensor):
    net = copy.deepcopy(network)
    for cell in net.cells:
        cell.grouped = grouped
    net.train(train)
    logits = net(x)
    loss = F.cross_entropy(logits, y)
    names, params = zip(*net.named_parameters(), strict=True)
    grads = torch.autograd.grad(loss, params, allow_unused=True)
    return net, logits, loss, dict(zip(names, grads, strict=True))


def _assert_equal(
    config: SearchConfig, train: bool, layout: torch.memory_format = torch.contiguous_format
) -> None:
    network, x, y = _network(config)
    network.to(memory_format=layout)  # type: ignore[call-overload]  # torch's stubs omit it
    x = x.contiguous(memory_format=layout)
    plain, logits_a, loss_a, grads_a = _run(network, False, train, x, y)
    grouped, logits_b, loss_b, grads_b = _run(network, True, train, x, y)
    torch.testing.assert_close(logits_b, logits_a, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(loss_b, loss_a, rtol=1e-10, atol=1e-12)
    assert grads_a.keys() == grads_b.keys()
    for name, a in grads_a.items():
        b = grads_b[name]
        assert (a is None) == (b is None), name
        if a is not None:
            scale = a.abs().max().clamp_min(1e-12)
            assert ((a - b).abs().max() / scale) <= 1e-10, name
    buffers_a, buffers_b = plain.state_dict(), grouped.state_dict()
    assert buffers_a.keys() == buffers_b.keys()  # same layout: one entry per edge and op
    for key, a in buffers_a.items():
        torch.testing.assert_close(buffers_b[key], a, rtol=1e-10, atol=1e-12, msg=key)


@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize(
    "preset", [pytest.param(p, marks=pytest.mark.slow) if p == "flat40" else p for p in PRESETS]
)
def test_grouped_equals_per_edge(
    preset: str, train: bool, fixed_noise: None, float64: None
) -> None:
    _assert_equal(search_preset(preset), train)


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
@pytest.mark.parametrize("per_channel", [True, False], ids=["channel-vectors", "edge-weights"])
# darts is adarts without the activation group: its sums are a subset of adarts's.
@pytest.mark.parametrize("preset", ["adarts", "pc_darts", "adarts_conv"])
def test_both_forms_of_the_weighted_sums_are_exact(
    preset: str,
    per_channel: bool,
    layout: torch.memory_format,
    fixed_noise: None,
    float64: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Per-channel vectors on the edge-stacked outputs and per-edge weights broadcast over
    their (N, k, C, H, W) views compute the same sums (``adarts_conv``: variants' products of
    scales too), for contiguous and channels-last tensors alike."""
    monkeypatch.setattr(grouped_cells, "per_channel_sums", lambda x: per_channel)
    _assert_equal(search_preset(preset), train=True, layout=layout)


def test_per_channel_vectors_repeat_each_edges_weight_over_its_channels() -> None:
    weights = torch.arange(6.0).view(2, 3)  # k = 2 edges, n = 3 candidates
    per_edge = grouped_cells.columns(weights)
    per_channel = grouped_cells.columns(weights, channels=4)
    assert [c.shape for c in per_edge] == [(1, 2, 1, 1, 1)] * 3
    assert [c.shape for c in per_channel] == [(1, 8, 1, 1)] * 3
    for edge_form, channel_form in zip(per_edge, per_channel, strict=True):
        assert torch.equal(channel_form.view(2, 4), edge_form.view(2, 1).expand(2, 4))
    assert not grouped_cells.per_channel_sums(torch.empty(1))  # measured slower on a CPU


@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
def test_a_user_registered_group_is_grouped_exactly(
    custom_space: SearchSpace, train: bool, fixed_noise: None, float64: None
) -> None:
    _assert_equal(search_preset("adarts").replace(space=custom_space), train)


def _conv_calls(network: nn.Module, x: torch.Tensor, grouped: bool | None) -> int:
    for cell in network.cells:
        cell.grouped = grouped
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        network(x)
    names = Counter(e.name for e in prof.events())
    return names["aten::convolution"]


@pytest.mark.slow
def test_grouped_cells_launch_a_fraction_of_the_convolutions() -> None:
    network, x, _ = _network(search_preset("darts"))
    per_edge, grouped = _conv_calls(network, x, False), _conv_calls(network, x, True)
    # 14 edges leave 5 nodes per cell: about 1/2.8 of the per-edge convolutions remain.
    assert grouped <= 0.4 * per_edge, (grouped, per_edge)


def test_state_dict_round_trips_between_the_two_executions() -> None:
    """Running statistics updated in grouped storage are saved per edge and load back into a
    network that runs edge by edge, and after moving the network the storage rebinds."""
    network, x, _ = _network(search_preset("adarts"))
    network.train()
    network(x)  # binds grouped buffers and updates them
    network = network.double()  # replaces every buffer: the next grouped call rebinds
    x = x.double()
    network(x)
    fresh = copy.deepcopy(network)
    fresh.load_state_dict(network.state_dict())
    for cell in fresh.cells:
        cell.grouped = False
    network.eval()
    fresh.eval()
    torch.testing.assert_close(fresh(x), network(x), rtol=1e-10, atol=1e-12)
    saved = network.state_dict()
    name = next(k for k in saved if k.endswith("running_mean") and ".edges." in k)
    assert saved[name].abs().sum() > 0  # the grouped updates reached the edge's own buffer


@pytest.mark.slow
def test_cell_execution_is_configured_and_auto_runs_edge_by_edge_on_a_cpu() -> None:
    """``cell_execution`` reaches every cell; ``auto`` groups on a GPU only, since oneDNN's
    grouped convolutions measured slower on CPU than separate ones (docs/performance.md)."""
    config = search_preset("darts")
    assert config.cell_execution == "auto"
    for execution, grouped in (("auto", None), ("grouped", True), ("per_edge", False)):
        network, _, _ = _network(config.replace(cell_execution=execution))
        assert {cell.grouped for cell in network.cells} == {grouped}
    network, x, _ = _network(config)
    assert _conv_calls(network, x, None) == _conv_calls(network, x, False)
