"""RReLU's noise drawn on the device (the CUDA path, which a CUDA graph can capture), run on the
CPU: the same functions with a CPU generator, the kernel switched to that path by patching
:func:`rrelu._draws_on_device`. The tests marked ``gpu`` run only where CUDA is present."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import pytest
import torch
from torch import Tensor

from factornas.kernels import (
    ACTIVATION_NAMES,
    fused_mixed_activation,
    grouped_mixed_activation,
    naive_mixed_activation,
)
from factornas.kernels.mixed_activation import RRELU_BITS, draw_rrelu_levels
from factornas.kernels.mixed_activation import layout as kernel_layout
from factornas.kernels.mixed_activation import rrelu as kernel_rrelu

CUDA = torch.cuda.is_available()
gpu = pytest.mark.skipif(not CUDA, reason="needs a CUDA device")
LOWER, UPPER = 1.0 / 8.0, 1.0 / 3.0
EDGES = 3


@pytest.fixture(params=["edge by edge", "whole output"])
def device_drawn(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """The kernel on its device-drawn noise path, both ways of mixing k edges; a host seed
    draw would fail the test."""
    batched = request.param == "whole output"
    monkeypatch.setattr(kernel_layout, "_batched", lambda x, edges: edges > 1 and batched)
    monkeypatch.setattr(kernel_rrelu, "_draws_on_device", lambda x, generator: True)

    def no_seed(generator: torch.Generator | None = None) -> int:
        raise AssertionError("a host seed was drawn on the device-drawn path")

    monkeypatch.setattr(kernel_rrelu, "draw_rrelu_seed", no_seed)


def _inputs(
    shape: tuple[int, ...] = (2, 4, 5, 5), edges: int = EDGES
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    x = torch.empty(shape, dtype=torch.float64).uniform_(-8.0, 8.0)
    for kink in (0.0, 6.0):
        x = torch.where((x - kink).abs() < 0.05, x + 0.1, x)
    weights = torch.randn(edges, len(ACTIVATION_NAMES), dtype=torch.float64)
    prelu = torch.linspace(0.1, 0.5, edges, dtype=torch.float64)
    beta = torch.linspace(0.6, 1.8, edges, dtype=torch.float64)
    return x, weights, prelu, beta


def test_levels_are_uniform_16_bit_draws_from_the_generator_given() -> None:
    like = torch.empty(2, 3, 4, 4)
    levels = draw_rrelu_levels(like, 2, torch.Generator().manual_seed(7))
    assert levels.shape == (2, like.numel()) and levels.dtype == torch.int16
    assert torch.equal(levels, draw_rrelu_levels(like, 2, torch.Generator().manual_seed(7)))
    generator = torch.Generator().manual_seed(7)
    first = draw_rrelu_levels(like, 2, generator)
    assert not torch.equal(first, draw_rrelu_levels(like, 2, generator))  # it moves on
    many = draw_rrelu_levels(torch.empty(2**20), 1, torch.Generator().manual_seed(1)).double()
    assert many.min() == -(2 ** (RRELU_BITS - 1)) and many.max() == 2 ** (RRELU_BITS - 1) - 1
    assert abs(many.mean().item()) < 100  # centred on 0: the slope's mean is RReLU's eval one
    assert abs(many.std().item() - 2**16 / 12**0.5) < 100


def test_only_inputs_off_the_cpu_draw_on_their_device() -> None:
    meta = torch.empty(3, device="meta")  # a device tensor without a device
    assert kernel_rrelu._draws_on_device(meta, None)
    assert not kernel_rrelu._draws_on_device(meta, torch.Generator())  # a CPU generator: seed
    assert not kernel_rrelu._draws_on_device(torch.empty(3), None)
    assert not kernel_rrelu._draws_on_device(torch.empty(3), torch.Generator())


def _fixed_levels(monkeypatch: pytest.MonkeyPatch, draws: Sequence[Tensor]) -> None:
    """Make the next calls' level draws return ``draws``, in order."""
    it: Iterator[Tensor] = iter(draws)
    monkeypatch.setattr(kernel_rrelu, "draw_rrelu_levels", lambda like, edges, gen: next(it))


def _grads(y: Tensor, inputs: Sequence[Tensor], grad: Tensor) -> tuple[Tensor, ...]:
    return torch.autograd.grad(y, list(inputs), grad)


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_grouped_equals_per_edge_fused_and_naive_calls_on_the_same_levels(
    device_drawn: None, layout: torch.memory_format, monkeypatch: pytest.MonkeyPatch
) -> None:
    x, weights, prelu, beta = _inputs()
    x = x.contiguous(memory_format=layout)
    inputs = [t.requires_grad_() for t in (x, weights, prelu, beta)]
    levels = draw_rrelu_levels(x, EDGES, torch.Generator().manual_seed(3))
    grad = torch.randn(x.shape[0], EDGES * x.shape[1], *x.shape[2:], dtype=x.dtype)

    def per_edge(fn: Callable[..., Tensor]) -> Tensor:
        blocks = [
            fn(x, weights[e], ACTIVATION_NAMES, prelu_weight=prelu[e : e + 1],
               swish_beta=beta[e : e + 1], training=True)
            for e in range(EDGES)
        ]  # fmt: skip
        return torch.cat(blocks, dim=1)

    _fixed_levels(monkeypatch, [levels])  # one draw of k rows for the grouped call …
    y = grouped_mixed_activation(
        x, weights, ACTIVATION_NAMES, prelu_weight=prelu, swish_beta=beta, training=True
    )
    grouped = _grads(y, inputs, grad)
    for fn in (fused_mixed_activation, naive_mixed_activation):
        _fixed_levels(monkeypatch, levels.split(1))  # … one row each for the single edges
        expected_y = per_edge(fn)
        torch.testing.assert_close(y, expected_y, rtol=1e-12, atol=1e-12)
        for got, want in zip(grouped, _grads(expected_y, inputs, grad), strict=True):
            torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


def test_backward_uses_the_levels_forward_drew(device_drawn: None) -> None:
    x = torch.randn(2, 3, 4, 4, dtype=torch.float64, requires_grad=True)
    weights = torch.ones(EDGES, 1, dtype=x.dtype)
    generator = torch.Generator().manual_seed(11)
    y = grouped_mixed_activation(
        x, weights, ("rrelu",), prelu_weight=None, swish_beta=None, training=True,
        generator=generator,
    )  # fmt: skip
    levels = draw_rrelu_levels(x, EDGES, torch.Generator().manual_seed(11))
    draw_rrelu_levels(x, EDGES, generator)  # the generator moves on before backward
    step = (UPPER - LOWER) * 2.0**-RRELU_BITS
    for e in range(EDGES):
        slopes = (LOWER + UPPER) / 2 + step * levels[e].double().view_as(x)
        expected = torch.where(x > 0, x, x * slopes)
        torch.testing.assert_close(y[:, 3 * e : 3 * (e + 1)], expected, rtol=1e-12, atol=0)
    (grad,) = torch.autograd.grad(y.sum(), x)
    slopes = (LOWER + UPPER) / 2 + step * levels.double().view(EDGES, *x.shape)
    expected = torch.where(x.detach() > 0, 1.0, slopes).sum(0)
    torch.testing.assert_close(grad, expected, rtol=1e-12, atol=0)


def test_saves_the_input_and_the_int16_levels_only(device_drawn: None) -> None:
    x, weights, prelu, beta = _inputs(shape=(2, 4, 8, 8))
    x = x.float()
    inputs = [t.float().requires_grad_() for t in (weights, prelu, beta)]
    x.requires_grad_()
    saved: list[tuple[torch.dtype, int]] = []

    def pack(t: Tensor) -> Tensor:
        saved.append((t.dtype, t.numel()))
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        y = grouped_mixed_activation(
            x, inputs[0], ACTIVATION_NAMES, prelu_weight=inputs[1], swish_beta=inputs[2],
            training=True,
        )  # fmt: skip
    large = [entry for entry in saved if entry[1] >= x.numel()]
    assert sorted(large, key=str) == sorted(
        [(torch.float32, x.numel()), (torch.int16, EDGES * x.numel())], key=str
    )
    torch.autograd.grad(y.sum(), [x, *inputs])


def test_reads_nothing_on_the_host(device_drawn: None, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: Tensor, *args: object, **kwargs: object) -> object:
        raise AssertionError("a tensor value was read on the host")

    x, weights, prelu, beta = _inputs()
    inputs = [t.requires_grad_() for t in (x, weights, prelu, beta)]
    for name in ("item", "tolist", "__float__", "__int__", "__bool__", "__index__"):
        monkeypatch.setattr(torch.Tensor, name, refuse)
    y = grouped_mixed_activation(
        x, weights, ACTIVATION_NAMES, prelu_weight=prelu, swish_beta=beta, training=True
    )
    grads = torch.autograd.grad(y, inputs, torch.ones_like(y))
    assert all(g.shape == t.shape for g, t in zip(grads, inputs, strict=True))


# -- on a GPU ---------------------------------------------------------------------------------
@gpu
def test_on_cuda_the_levels_come_from_the_cuda_generator_without_a_seed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_seed(generator: torch.Generator | None = None) -> int:
        raise AssertionError("a host seed was drawn for a CUDA input")

    monkeypatch.setattr(kernel_rrelu, "draw_rrelu_seed", no_seed)
    x = -torch.rand(4, 8, 6, 6, device="cuda") - 0.5
    weights = torch.ones(1, device="cuda")

    def call() -> Tensor:
        return fused_mixed_activation(
            x, weights, ("rrelu",), prelu_weight=None, swish_beta=None, training=True
        )

    torch.cuda.manual_seed(5)
    first = call()
    torch.cuda.manual_seed(5)
    assert torch.equal(first, call())
    assert not torch.equal(first, call())


@gpu
def test_a_captured_call_draws_new_levels_on_every_replay() -> None:
    x = (-torch.rand(4, 8, 6, 6, device="cuda") - 0.5).requires_grad_()
    weights = torch.ones(EDGES, 1, device="cuda", requires_grad=True)

    def step() -> tuple[Tensor, Tensor]:
        y = grouped_mixed_activation(
            x, weights, ("rrelu",), prelu_weight=None, swish_beta=None, training=True
        )
        (grad,) = torch.autograd.grad(y.sum(), x)
        return y.detach(), grad

    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        step()  # warm-up before capture, as torch asks
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        y, grad = step()
    replays = []
    for _ in range(2):
        graph.replay()
        replays.append((y.clone(), grad.clone()))
    (y1, g1), (y2, g2) = replays
    assert not torch.equal(y1, y2)
    for out, gradient in ((y1, g1), (y2, g2)):  # backward saw its own replay's slopes
        slopes = (out / x.detach().repeat(1, EDGES, 1, 1)).view(4, EDGES, 8, 6, 6).sum(1)
        torch.testing.assert_close(gradient, slopes, rtol=1e-5, atol=1e-6)
