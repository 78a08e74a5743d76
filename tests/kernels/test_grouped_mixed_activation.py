"""The grouped mixed activation against per-edge fused calls, the naive reference and autograd's
numerical gradients; its output layout, RReLU seeding and freedom from host read-backs."""

from __future__ import annotations

import inspect
import random
from collections.abc import Callable, Iterator, Sequence

import pytest
import torch
from torch import Tensor

from factornas.kernels import (
    ACTIVATION_NAMES,
    MixedActivationSettings,
    fused_mixed_activation,
    grouped_mixed_activation,
    naive_mixed_activation,
)
from factornas.kernels.mixed_activation import RRELU_BITS, rrelu_levels
from factornas.kernels.mixed_activation import layout as kernel_layout
from factornas.kernels.mixed_activation import rrelu as kernel_rrelu

LOWER, UPPER = 1.0 / 8.0, 1.0 / 3.0
PERMUTED = ("swish", "rrelu", "celu", "relu6", "prelu", "selu", "leaky_relu", "elu", "relu")
_rng = random.Random(2024)
RANDOM_SUBSETS = [tuple(_rng.sample(ACTIVATION_NAMES, _rng.randint(2, 8))) for _ in range(4)]
SUBSETS = [
    ACTIVATION_NAMES,
    PERMUTED,
    ("relu",),
    ("swish",),
    ("rrelu",),
    ("relu6", "elu", "celu"),  # neither prelu nor swish: both parameters absent
    *RANDOM_SUBSETS,
]
SUBSET_IDS = ["all", "permuted", "relu", "swish", "rrelu", "relu6+elu+celu"] + [
    "+".join(names) for names in RANDOM_SUBSETS
]
EDGES = 3


def _inputs(
    names: Sequence[str],
    dtype: torch.dtype = torch.float64,
    shape: tuple[int, ...] = (2, 4, 5, 5),
    edges: int = EDGES,
) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None]:
    """x spread over both kinks of ReLU6 but at least 0.05 away from them (finite differences
    are meaningless across a kink), arbitrary (not softmaxed) weights, distinct parameters."""
    x = torch.empty(shape, dtype=dtype).uniform_(-8.0, 8.0)
    for kink in (0.0, 6.0):
        x = torch.where((x - kink).abs() < 0.05, x + 0.1, x)
    weights = torch.randn(edges, len(names), dtype=dtype)
    prelu = torch.linspace(0.1, 0.5, edges, dtype=dtype) if "prelu" in names else None
    beta = torch.linspace(0.6, 1.8, edges, dtype=dtype) if "swish" in names else None
    return x, weights, prelu, beta


@pytest.fixture(autouse=True, params=["edge by edge", "whole output"])
def strategy(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test runs both ways of mixing k edges: edge by edge (CPU) and with whole-output
    ops (GPU), so the GPU's formulation is held to the same tests on a CPU-only machine."""
    batched = request.param == "whole output"
    monkeypatch.setattr(kernel_layout, "_batched", lambda x, edges: edges > 1 and batched)


@pytest.fixture
def seeds(monkeypatch: pytest.MonkeyPatch) -> Callable[[Sequence[int]], None]:
    """Make the next calls' RReLU seed draws return the given values, in order."""

    def set_seeds(values: Sequence[int]) -> None:
        it: Iterator[int] = iter(values)
        monkeypatch.setattr(kernel_rrelu, "draw_rrelu_seed", lambda generator=None: next(it))

    return set_seeds


def _grads(y: Tensor, inputs: Sequence[Tensor | None], grad: Tensor) -> list[Tensor | None]:
    wanted = [t for t in inputs if t is not None]
    found = iter(torch.autograd.grad(y, wanted, grad))
    return [None if t is None else next(found) for t in inputs]


def _per_edge(
    fn: Callable[..., Tensor],
    names: Sequence[str],
    x: Tensor,
    weights: Tensor,
    prelu: Tensor | None,
    beta: Tensor | None,
    edge: int,
    training: bool,
) -> Tensor:
    return fn(
        x, weights[edge], names,
        prelu_weight=None if prelu is None else prelu[edge : edge + 1],
        swish_beta=None if beta is None else beta[edge : edge + 1],
        training=training,
    )  # fmt: skip


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
@pytest.mark.parametrize("training", [False, True], ids=["eval", "train"])
@pytest.mark.parametrize("names", SUBSETS, ids=SUBSET_IDS)
def test_matches_per_edge_fused_and_naive(
    names: tuple[str, ...],
    training: bool,
    layout: torch.memory_format,
    seeds: Callable[[Sequence[int]], None],
) -> None:
    """Block e of the output, and every gradient's share of edge e, equal a single-edge call
    (fused and naive) with edge e's weights and parameters and RReLU seed ``seed + e``."""
    x, weights, prelu, beta = _inputs(names)
    x = x.contiguous(memory_format=layout)
    for t in (x, weights, prelu, beta):
        if t is not None:
            t.requires_grad_()
    grad = torch.randn(x.shape[0], EDGES * x.shape[1], *x.shape[2:], dtype=x.dtype)
    seeds([100])
    y = grouped_mixed_activation(
        x, weights, names, prelu_weight=prelu, swish_beta=beta, training=training
    )
    assert y.shape == grad.shape
    grouped = _grads(y, [x, weights, prelu, beta], grad)
    for fn in (fused_mixed_activation, naive_mixed_activation):
        seeds([100 + edge for edge in range(EDGES)])
        blocks = [
            _per_edge(fn, names, x, weights, prelu, beta, edge, training) for edge in range(EDGES)
        ]
        torch.testing.assert_close(y, torch.cat(blocks, dim=1), rtol=1e-12, atol=1e-12)
        expected = _grads(torch.cat(blocks, dim=1), [x, weights, prelu, beta], grad)
        for got, want in zip(grouped, expected, strict=True):
            assert (got is None) == (want is None)
            if got is not None:
                torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
@pytest.mark.parametrize("training", [False, True], ids=["eval", "train"])
def test_gradcheck_float64(training: bool, layout: torch.memory_format) -> None:
    x, weights, prelu, beta = _inputs(ACTIVATION_NAMES, shape=(2, 3, 3, 3))
    x = x.contiguous(memory_format=layout)
    tensors = tuple(t.requires_grad_() for t in (x, weights, prelu, beta) if t is not None)
    settings = MixedActivationSettings(leaky_slope=0.2, elu_alpha=1.3, celu_alpha=0.7)

    def fn(x_: Tensor, w_: Tensor, p_: Tensor, b_: Tensor) -> Tensor:
        # A fresh generator per call: gradcheck's many forwards all see the same RReLU noise.
        return grouped_mixed_activation(
            x_, w_, ACTIVATION_NAMES, prelu_weight=p_, swish_beta=b_, training=training,
            generator=torch.Generator().manual_seed(5), settings=settings,
        )  # fmt: skip

    assert torch.autograd.gradcheck(fn, tensors, eps=1e-6, atol=1e-7, rtol=1e-6)


def test_float32_matches_per_edge_fused() -> None:
    """In float32 the grouped sums run in another order than k single calls: equal to
    rounding."""
    x, weights, prelu, beta = _inputs(ACTIVATION_NAMES, torch.float32, shape=(4, 8, 16, 16))
    x = x.contiguous(memory_format=torch.channels_last)
    weights = torch.softmax(weights, dim=1)
    inputs = [t.requires_grad_() for t in (x, weights, prelu, beta) if t is not None]
    y = grouped_mixed_activation(
        x, weights, ACTIVATION_NAMES, prelu_weight=prelu, swish_beta=beta, training=False
    )
    grad = torch.randn_like(y)
    blocks = [
        _per_edge(fused_mixed_activation, ACTIVATION_NAMES, x, weights, prelu, beta, e, False)
        for e in range(EDGES)
    ]
    torch.testing.assert_close(y, torch.cat(blocks, dim=1), rtol=1e-5, atol=1e-6)
    grouped = torch.autograd.grad(y, inputs, grad)
    single = torch.autograd.grad(torch.cat(blocks, dim=1), inputs, grad)
    for got, want in zip(grouped, single, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


# --- layout -------------------------------------------------------------------------------


@pytest.mark.parametrize("training", [False, True], ids=["eval", "train"])
def test_channels_last_and_contiguous_inputs_agree_and_set_the_output_layout(
    training: bool,
) -> None:
    """Values agree except for training-mode RReLU noise, which follows the memory order."""
    names = ACTIVATION_NAMES if not training else tuple(n for n in PERMUTED if n != "rrelu")
    x, weights, prelu, beta = _inputs(names, shape=(2, 4, 5, 6))
    results = []
    for layout in (torch.contiguous_format, torch.channels_last):
        x_ = x.contiguous(memory_format=layout).requires_grad_()
        y = grouped_mixed_activation(
            x_, weights, names, prelu_weight=prelu, swish_beta=beta, training=training
        )
        assert y.shape == (2, EDGES * 4, 5, 6)
        assert y.is_contiguous(memory_format=layout)
        # channels_last: the memory is (N, H, W, k, C), a free view for the edge blocks.
        if layout == torch.channels_last:
            assert y.permute(0, 2, 3, 1).view(2, 5, 6, EDGES, 4).is_contiguous()
        (grad_x,) = torch.autograd.grad(y, x_, torch.ones_like(y))
        assert grad_x.is_contiguous(memory_format=layout)
        results.append((y, grad_x))
    (y_a, g_a), (y_b, g_b) = results
    torch.testing.assert_close(y_a, y_b, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(g_a, g_b, rtol=1e-12, atol=1e-12)


def test_any_number_of_trailing_dimensions() -> None:
    """(N, C) and (N, C, L) inputs group along C like images do."""
    for shape in [(3, 4), (3, 4, 7)]:
        x, weights, prelu, beta = _inputs(ACTIVATION_NAMES, shape=shape)
        y = grouped_mixed_activation(
            x, weights, ACTIVATION_NAMES, prelu_weight=prelu, swish_beta=beta, training=False
        )
        assert y.shape == (shape[0], EDGES * shape[1], *shape[2:])
        for e in range(EDGES):
            expected = _per_edge(
                fused_mixed_activation, ACTIVATION_NAMES, x, weights, prelu, beta, e, False
            )
            torch.testing.assert_close(y[:, 4 * e : 4 * (e + 1)], expected)


def test_one_edge_is_the_fused_kernel() -> None:
    x, weights, prelu, beta = _inputs(ACTIVATION_NAMES, edges=1)
    grouped = grouped_mixed_activation(
        x, weights, ACTIVATION_NAMES, prelu_weight=prelu, swish_beta=beta, training=False
    )
    fused = _per_edge(fused_mixed_activation, ACTIVATION_NAMES, x, weights, prelu, beta, 0, False)
    assert torch.equal(grouped, fused)


def test_half_precision_is_computed_in_float32() -> None:
    x, weights, prelu, beta = _inputs(ACTIVATION_NAMES, torch.float32, shape=(2, 4, 6, 6))
    results = []
    for dtype in (torch.bfloat16, torch.float32):
        x_ = x.to(torch.bfloat16).to(dtype).requires_grad_()
        y = grouped_mixed_activation(
            x_, weights, ACTIVATION_NAMES, prelu_weight=prelu, swish_beta=beta,
            training=True, generator=torch.Generator().manual_seed(1),
        )  # fmt: skip
        (grad,) = torch.autograd.grad(y.sum(), x_)
        assert y.dtype == grad.dtype == dtype
        results.append((y, grad))
    (y16, g16), (y32, g32) = results
    torch.testing.assert_close(y16, y32.to(torch.bfloat16))
    torch.testing.assert_close(g16, g32.to(torch.bfloat16))


# --- RReLU --------------------------------------------------------------------------------


def test_rrelu_noise_of_edge_e_is_a_single_edge_call_with_seed_plus_e(
    seeds: Callable[[Sequence[int]], None],
) -> None:
    x = -torch.rand(2, 3, 4, 4, dtype=torch.float64) - 0.5  # all negative
    x = x.contiguous(memory_format=torch.channels_last)
    weights = torch.ones(EDGES, 1, dtype=x.dtype)
    seeds([77])
    y = grouped_mixed_activation(
        x, weights, ("rrelu",), prelu_weight=None, swish_beta=None, training=True
    )
    step = (UPPER - LOWER) * 2.0**-RRELU_BITS
    for e in range(EDGES):
        block = y[:, 3 * e : 3 * (e + 1)]
        slopes = (LOWER + UPPER) / 2 + step * rrelu_levels(x, 77 + e)
        torch.testing.assert_close(block, x * slopes, rtol=1e-12, atol=0)
        seeds([77 + e])
        single = fused_mixed_activation(
            x, weights[e], ("rrelu",), prelu_weight=None, swish_beta=None, training=True
        )
        torch.testing.assert_close(block, single, rtol=1e-12, atol=1e-15)
    assert not torch.equal(y[:, :3], y[:, 3:6])  # edges get different noise


def test_rrelu_seed_comes_from_the_generator_and_backward_reuses_it() -> None:
    x = torch.randn(2, 3, 4, 4, dtype=torch.float64, requires_grad=True)
    weights = torch.ones(EDGES, 1, dtype=x.dtype)

    def call(generator: torch.Generator) -> Tensor:
        return grouped_mixed_activation(
            x, weights, ("rrelu",), prelu_weight=None, swish_beta=None, training=True,
            generator=generator,
        )  # fmt: skip

    y = call(torch.Generator().manual_seed(3))
    assert torch.equal(y, call(torch.Generator().manual_seed(3)))
    assert not torch.equal(y, call(torch.Generator().manual_seed(4)))
    torch.rand(100)  # RNG use between forward and backward must not matter
    (grad,) = torch.autograd.grad(y.sum(), x)
    negative = x.detach() <= 0
    slopes = (y / x.repeat(1, EDGES, 1, 1)).detach()
    expected = torch.where(negative.repeat(1, EDGES, 1, 1), slopes, torch.ones_like(slopes))
    torch.testing.assert_close(grad, expected.view(2, EDGES, 3, 4, 4).sum(1), rtol=1e-12, atol=0)


# --- no host read-backs -------------------------------------------------------------------

_READS = ("item", "tolist", "__float__", "__int__", "__bool__", "__index__")


@pytest.fixture
def host_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Make every tensor-to-Python read raise, except from :func:`draw_rrelu_seed` (which
    reads a CPU generator's draw, no device sync); returns the functions that did read."""
    readers: list[str] = []
    allowed = kernel_rrelu.draw_rrelu_seed.__code__

    for name in _READS:
        original = getattr(torch.Tensor, name)

        def guarded(self: Tensor, *args: object, _name: str = name, _orig: object = original,
                    **kwargs: object) -> object:  # fmt: skip
            frame = inspect.currentframe()
            caller = frame.f_back if frame is not None else None
            readers.append(caller.f_code.co_name if caller is not None else "?")
            if caller is None or caller.f_code is not allowed:
                raise AssertionError(f"host read Tensor.{_name} during the kernel")
            return _orig(self, *args, **kwargs)  # type: ignore[operator]

        monkeypatch.setattr(torch.Tensor, name, guarded)
    return readers


def _forward_backward(fn: Callable[..., Tensor], names: tuple[str, ...], training: bool) -> None:
    x, weights, prelu, beta = _inputs(names, torch.float32)
    inputs = [t.requires_grad_() for t in (x, weights, prelu, beta) if t is not None]
    if fn is fused_mixed_activation:
        y = _per_edge(fn, names, x, weights, prelu, beta, 0, training)
    else:
        y = fn(x, weights, names, prelu_weight=prelu, swish_beta=beta, training=training)
    grads = torch.autograd.grad(y, inputs, torch.ones_like(y))
    assert all(g.shape == t.shape for g, t in zip(grads, inputs, strict=True))


@pytest.mark.parametrize("fn", [grouped_mixed_activation, fused_mixed_activation])
@pytest.mark.parametrize(
    ("names", "training"),
    [(ACTIVATION_NAMES, False), (tuple(n for n in PERMUTED if n != "rrelu"), True)],
    ids=["eval", "train-without-rrelu"],
)
def test_forward_and_backward_read_nothing_back(
    fn: Callable[..., Tensor],
    names: tuple[str, ...],
    training: bool,
    host_reads: list[str],
) -> None:
    _forward_backward(fn, names, training)
    assert host_reads == []


@pytest.mark.parametrize("fn", [grouped_mixed_activation, fused_mixed_activation])
def test_training_reads_only_the_rrelu_seed(
    fn: Callable[..., Tensor], host_reads: list[str]
) -> None:
    _forward_backward(fn, ACTIVATION_NAMES, training=True)
    assert host_reads == ["draw_rrelu_seed"]  # one seed per call, also for k edges


# --- memory and errors --------------------------------------------------------------------


def test_saves_only_the_input_for_backward() -> None:
    x, weights, prelu, beta = _inputs(ACTIVATION_NAMES, torch.float32, shape=(2, 4, 8, 8))
    inputs = [t.requires_grad_() for t in (x, weights, prelu, beta) if t is not None]
    saved: dict[int, int] = {}

    def pack(t: Tensor) -> Tensor:
        storage = t.untyped_storage()
        saved[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        y = grouped_mixed_activation(
            x, weights, ACTIVATION_NAMES, prelu_weight=prelu, swish_beta=beta, training=True
        )
    x_bytes = x.numel() * x.element_size()
    assert x.untyped_storage().data_ptr() in saved
    assert sum(saved.values()) <= x_bytes + 256  # x plus the tiny (k, n) and (k,) parameters
    torch.autograd.grad(y.sum(), inputs)


def test_double_backward_is_refused() -> None:
    x, weights, prelu, beta = _inputs(ACTIVATION_NAMES)
    inputs = [t.requires_grad_() for t in (x, weights, prelu, beta) if t is not None]
    y = grouped_mixed_activation(
        x, weights, ACTIVATION_NAMES, prelu_weight=prelu, swish_beta=beta, training=False
    )
    first = torch.autograd.grad(y.sum(), inputs, create_graph=True)
    with pytest.raises(RuntimeError, match="does not support double backward"):
        torch.autograd.grad(first[1].square().sum(), weights)


def test_argument_errors() -> None:
    x, weights, prelu, beta = _inputs(ACTIVATION_NAMES)

    def call(**changes: object) -> Tensor:
        arguments: dict[str, object] = {
            "x": x, "weights": weights, "names": ACTIVATION_NAMES, "prelu_weight": prelu,
            "swish_beta": beta, "training": False,
        }  # fmt: skip
        arguments.update(changes)
        return grouped_mixed_activation(**arguments)  # type: ignore[arg-type]

    with pytest.raises(ValueError, match=r"\(N, C, \.\.\.\)"):
        call(x=torch.randn(5, dtype=torch.float64))
    with pytest.raises(ValueError, match="2-D tensor"):
        call(weights=weights[0])
    with pytest.raises(ValueError, match="one column per name"):
        call(weights=weights[:, :4])
    with pytest.raises(ValueError, match=r"one value per edge \(3\)"):
        call(prelu_weight=prelu[:1])  # type: ignore[index]
    with pytest.raises(ValueError, match="swish_beta must be given"):
        call(swish_beta=None)
    with pytest.raises(ValueError, match="unknown activation"):
        call(names=("relu", "gelu"), weights=weights[:, :2])
    with pytest.raises(TypeError, match="floating-point"):
        call(x=torch.ones(2, 4, 5, 5, dtype=torch.int64))
    # Parameters of activations that are not mixed in are ignored.
    y = call(names=("relu",), weights=weights[:, :1], prelu_weight=None, swish_beta=None)
    assert y.shape == (2, EDGES * 4, 5, 5)
