"""The fused mixed activation against autograd's numerical gradients and the naive reference."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

import pytest
import torch
from torch import Tensor

from factornas.kernels import (
    ACTIVATION_NAMES,
    DEFAULT_SETTINGS,
    MixedActivationSettings,
    fused_mixed_activation,
    naive_mixed_activation,
    rrelu_slopes,
)
from factornas.kernels.mixed_activation import rrelu_levels

Mix = Callable[..., Tensor]

PERMUTED = ("swish", "rrelu", "celu", "relu6", "prelu", "selu", "leaky_relu", "elu", "relu")
SUBSETS = [ACTIVATION_NAMES, ("relu",), ("selu", "swish"), PERMUTED]
LOWER, UPPER = 1.0 / 8.0, 1.0 / 3.0


def _inputs(
    names: Sequence[str], dtype: torch.dtype, shape: tuple[int, ...] = (2, 3, 4, 4)
) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None]:
    """x spread over both kinks of ReLU6 but at least 0.05 away from them (gradcheck's finite
    differences are meaningless across a kink), arbitrary (not softmaxed) weights."""
    x = torch.empty(shape, dtype=dtype).uniform_(-8.0, 8.0)
    for kink in (0.0, 6.0):
        close = (x - kink).abs() < 0.05
        x = torch.where(close, x + 0.1, x)
    weights = torch.randn(len(names), dtype=dtype)
    prelu = torch.tensor([0.3], dtype=dtype) if "prelu" in names else None
    beta = torch.tensor(1.4, dtype=dtype) if "swish" in names else None
    return x, weights, prelu, beta


def _call(
    fn: Mix,
    names: Sequence[str],
    x: Tensor,
    weights: Tensor,
    prelu: Tensor | None,
    beta: Tensor | None,
    *,
    training: bool,
    seed: int | None = 7,
    settings: MixedActivationSettings = DEFAULT_SETTINGS,
) -> Tensor:
    """One call with a freshly seeded generator, so that repeated calls see the same noise."""
    generator = None if seed is None else torch.Generator().manual_seed(seed)
    return fn(
        x, weights, names,
        prelu_weight=prelu, swish_beta=beta, training=training, generator=generator,
        settings=settings,
    )  # fmt: skip


def _grads(y: Tensor, inputs: Sequence[Tensor | None], grad: Tensor) -> list[Tensor | None]:
    wanted = [t for t in inputs if t is not None and t.requires_grad]
    found = iter(torch.autograd.grad(y, wanted, grad))
    return [next(found) if t is not None and t.requires_grad else None for t in inputs]


# --- gradients ----------------------------------------------------------------------------


@pytest.mark.parametrize("names", SUBSETS, ids=["all", "relu", "selu+swish", "permuted"])
@pytest.mark.parametrize("training", [False, True], ids=["eval", "train"])
def test_gradcheck_float64(names: tuple[str, ...], training: bool) -> None:
    x, weights, prelu, beta = _inputs(names, torch.float64)
    tensors = [t for t in (x, weights, prelu, beta) if t is not None]
    for t in tensors:
        t.requires_grad_()

    def fn(*args: Tensor) -> Tensor:
        it = iter(args)
        x_, w_ = next(it), next(it)
        p_ = next(it) if prelu is not None else None
        b_ = next(it) if beta is not None else None
        # A fresh generator per call: gradcheck's many forwards all see the same RReLU noise.
        return _call(fused_mixed_activation, names, x_, w_, p_, b_, training=training)

    assert torch.autograd.gradcheck(fn, tuple(tensors), eps=1e-6, atol=1e-7, rtol=1e-6)


def test_gradcheck_non_default_options() -> None:
    """Every hyper-parameter enters the fused formulas, including CELU's own exp for alpha≠1."""
    x, weights, prelu, beta = _inputs(ACTIVATION_NAMES, torch.float64)
    tensors = [t.requires_grad_() for t in (x, weights, prelu, beta) if t is not None]
    settings = MixedActivationSettings(
        rrelu_lower=0.05, rrelu_upper=0.4, leaky_slope=0.2, elu_alpha=1.7, celu_alpha=0.6
    )

    def fn(x_: Tensor, w_: Tensor, p_: Tensor, b_: Tensor) -> Tensor:
        return _call(fused_mixed_activation, ACTIVATION_NAMES, x_, w_, p_, b_, training=True,
                     settings=settings)  # fmt: skip

    assert torch.autograd.gradcheck(fn, tuple(tensors), eps=1e-6, atol=1e-7, rtol=1e-6)
    for training in (False, True):
        fused = _call(fused_mixed_activation, ACTIVATION_NAMES, x, weights, prelu, beta,
                      training=training, settings=settings)  # fmt: skip
        naive = _call(naive_mixed_activation, ACTIVATION_NAMES, x, weights, prelu, beta,
                      training=training, settings=settings)  # fmt: skip
        torch.testing.assert_close(fused, naive, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("training", [False, True], ids=["eval", "train"])
def test_subgradients_at_kinks_match_torch(training: bool) -> None:
    """At x == 0 and x == 6 exactly, the fused gradient picks torch's one-sided slopes."""
    x = torch.tensor([-1.0, 0.0, 0.0, 3.0, 6.0, 6.0, 7.0], dtype=torch.float64)
    weights = torch.randn(len(ACTIVATION_NAMES), dtype=torch.float64)
    prelu = torch.tensor([0.3], dtype=torch.float64)
    beta = torch.tensor(1.4, dtype=torch.float64)
    inputs = [x.requires_grad_(), weights.requires_grad_(), prelu.requires_grad_(),
              beta.requires_grad_()]  # fmt: skip
    results = []
    for fn in (fused_mixed_activation, naive_mixed_activation):
        y = _call(fn, ACTIVATION_NAMES, x, weights, prelu, beta, training=training)
        results.append([y, *_grads(y, inputs, torch.ones_like(y))])
    for fused, naive in zip(*results, strict=True):
        torch.testing.assert_close(fused, naive, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    "needs", [n for n in itertools.product([False, True], repeat=4) if any(n)], ids=str
)
def test_any_subset_of_inputs_requiring_grad(needs: tuple[bool, bool, bool, bool]) -> None:
    """Backward skips the work for inputs that need no gradient; the rest must stay exact."""
    x, weights, prelu, beta = _inputs(ACTIVATION_NAMES, torch.float64)
    inputs = [x, weights, prelu, beta]
    for tensor, need in zip(inputs, needs, strict=True):
        assert tensor is not None
        tensor.requires_grad_(need)
    grad = torch.randn_like(x)
    results = []
    for fn in (fused_mixed_activation, naive_mixed_activation):
        y = _call(fn, ACTIVATION_NAMES, x, weights, prelu, beta, training=True)
        results.append(_grads(y, inputs, grad))
    for fused, naive in zip(*results, strict=True):
        if naive is None:
            assert fused is None
        else:
            torch.testing.assert_close(fused, naive, rtol=1e-12, atol=1e-12)


# --- agreement with the naive reference in float32 -------------------------------------------


@pytest.mark.parametrize("names", SUBSETS, ids=["all", "relu", "selu+swish", "permuted"])
@pytest.mark.parametrize("training", [False, True], ids=["eval", "train"])
def test_matches_naive_float32(names: tuple[str, ...], training: bool) -> None:
    x, weights, prelu, beta = _inputs(names, torch.float32, shape=(4, 8, 16, 16))
    weights = torch.softmax(weights, 0)
    inputs = [x, weights, prelu, beta]
    for t in inputs:
        if t is not None:
            t.requires_grad_()
    grad = torch.randn_like(x)
    results = []
    for fn in (fused_mixed_activation, naive_mixed_activation):
        y = _call(fn, names, x, weights, prelu, beta, training=training)
        results.append([y, *_grads(y, inputs, grad)])
    (y_fused, *g_fused), (y_naive, *g_naive) = results
    torch.testing.assert_close(y_fused, y_naive, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(g_fused[0], g_naive[0], rtol=1e-5, atol=1e-6)
    for fused, naive in zip(g_fused[1:], g_naive[1:], strict=True):
        if naive is not None:  # sums over 8192 elements: float32 order-of-summation noise
            torch.testing.assert_close(fused, naive, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("grad_layout", [torch.contiguous_format, torch.channels_last])
def test_channels_last_input(grad_layout: torch.memory_format) -> None:
    """Layouts change how the kernel flattens tensors for its dot products, not the result."""
    x, weights, prelu, beta = _inputs(ACTIVATION_NAMES, torch.float64, shape=(2, 8, 5, 5))
    x = x.to(memory_format=torch.channels_last)
    inputs = [t.requires_grad_() for t in (x, weights, prelu, beta) if t is not None]
    grad = torch.randn_like(x).contiguous(memory_format=grad_layout)
    results = []
    for fn in (fused_mixed_activation, naive_mixed_activation):
        y = _call(fn, ACTIVATION_NAMES, x, weights, prelu, beta, training=True)
        assert y.is_contiguous(memory_format=torch.channels_last)
        results.append([y, *_grads(y, inputs, grad)])
    for fused, naive in zip(*results, strict=True):
        torch.testing.assert_close(fused, naive, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_is_computed_in_float32(dtype: torch.dtype) -> None:
    x, weights, prelu, beta = _inputs(ACTIVATION_NAMES, torch.float32, shape=(2, 4, 6, 6))
    x = x.to(dtype).requires_grad_()
    y = _call(fused_mixed_activation, ACTIVATION_NAMES, x, weights, prelu, beta, training=True)
    (grad,) = torch.autograd.grad(y.sum(), x)
    assert y.dtype == grad.dtype == dtype
    x32 = x.detach().float().requires_grad_()
    y32 = _call(fused_mixed_activation, ACTIVATION_NAMES, x32, weights, prelu, beta,
                training=True)  # fmt: skip
    (grad32,) = torch.autograd.grad(y32.sum(), x32)
    torch.testing.assert_close(y, y32.to(dtype))
    torch.testing.assert_close(grad, grad32.to(dtype))


# --- RReLU randomness ---------------------------------------------------------------------


def _rrelu_only(x: Tensor, generator: torch.Generator | None = None) -> Tensor:
    weight = torch.ones(1, dtype=x.dtype)
    return fused_mixed_activation(
        x, weight, ("rrelu",), prelu_weight=None, swish_beta=None, training=True,
        generator=generator,
    )  # fmt: skip


def test_rrelu_training_slopes_are_random_and_in_range() -> None:
    x = -torch.rand(64, 64) - 0.5  # all negative
    first = _rrelu_only(x) / x
    second = _rrelu_only(x) / x
    for slopes in (first, second):
        assert slopes.min() >= LOWER - 1e-6
        assert slopes.max() <= UPPER + 1e-6
        assert abs(slopes.mean().item() - (LOWER + UPPER) / 2) < 0.005
        assert abs(slopes.var().item() - (UPPER - LOWER) ** 2 / 12) < 0.0005
        # 4,096 draws of 65,536 slopes repeat ~125 of them (birthday bound): ~97% distinct.
        assert slopes.unique().numel() > 0.95 * slopes.numel()
    assert not torch.allclose(first, second)  # fresh noise on every call


def test_rrelu_levels_are_uniform_independent_16_bit_integers() -> None:
    """Each 64-bit draw becomes four levels: all four lanes must be full-range and uniform
    (a draw on ``[0, 2**63)`` would pin the fourth lane's sign), and neighbours independent."""
    levels = rrelu_levels(torch.empty(2**22), seed=5)
    assert levels.dtype == torch.float32 and torch.equal(levels, levels.round())
    assert levels.min() == -(2**15) and levels.max() == 2**15 - 1
    counts = torch.bincount((levels + 2**15).long(), minlength=2**16)
    assert counts.min() > 0  # every level occurs (64 expected of each)
    lanes = (levels.view(-1, 4) < 0).double().mean(0)
    torch.testing.assert_close(lanes, torch.full((4,), 0.5, dtype=torch.float64), atol=2e-3, rtol=0)
    by_byte = torch.bincount(((levels + 2**15) // 256).long(), minlength=256).double()
    expected = levels.numel() / 256
    chi_square = ((by_byte - expected) ** 2 / expected).sum().item()
    assert chi_square < 350  # 255 degrees of freedom: p ≈ 1e-4
    centred = levels.double() / 2**15
    assert abs((centred[1:] * centred[:-1]).mean().item()) < 2e-3


def test_rrelu_levels_follow_the_memory_order_of_channels_last_inputs() -> None:
    like = torch.empty(2, 3, 4, 5).to(memory_format=torch.channels_last)
    levels = rrelu_levels(like, seed=9)
    assert levels.is_contiguous(memory_format=torch.channels_last)
    contiguous = rrelu_levels(torch.empty(2, 4, 5, 3), seed=9)
    assert torch.equal(levels, contiguous.permute(0, 3, 1, 2))


def test_rrelu_training_leaves_positive_inputs_alone() -> None:
    x = torch.randn(32, 32)
    y = _rrelu_only(x)
    positive = x > 0
    assert torch.equal(y[positive], x[positive])
    slopes = y[~positive] / x[~positive]
    assert slopes.min() >= LOWER - 1e-6 and slopes.max() <= UPPER + 1e-6


def test_rrelu_noise_is_reproducible_from_the_generator_and_global_seed() -> None:
    x = -torch.rand(100)
    same = [_rrelu_only(x, torch.Generator().manual_seed(3)) for _ in range(2)]
    assert torch.equal(*same)
    assert not torch.equal(same[0], _rrelu_only(x, torch.Generator().manual_seed(4)))
    torch.manual_seed(11)
    a = _rrelu_only(x)
    torch.manual_seed(11)
    assert torch.equal(a, _rrelu_only(x))
    generator = torch.Generator().manual_seed(3)
    assert not torch.equal(_rrelu_only(x, generator), _rrelu_only(x, generator))


def test_rrelu_backward_uses_the_forward_slopes() -> None:
    """Backward regenerates the noise; it must not depend on RNG use after the forward."""
    x = torch.randn(4, 8, 8, 8, dtype=torch.float64, requires_grad=True)
    generator = torch.Generator().manual_seed(5)
    y = _rrelu_only(x, generator)
    torch.rand(1000)  # move the global generator …
    _rrelu_only(x.detach(), generator)  # … and the caller's one
    (grad,) = torch.autograd.grad(y.sum(), x)
    negative = x.detach() <= 0
    slopes = (y / x).detach()
    torch.testing.assert_close(grad[negative], slopes[negative], rtol=1e-12, atol=0)
    assert torch.equal(grad[~negative], torch.ones_like(grad[~negative]))


def test_rrelu_eval_uses_the_mean_slope() -> None:
    x = -torch.rand(50, dtype=torch.float64) - 0.1
    y = fused_mixed_activation(
        x, torch.ones(1, dtype=x.dtype), ["rrelu"],
        prelu_weight=None, swish_beta=None, training=False,
    )  # fmt: skip
    torch.testing.assert_close(y, x * (LOWER + UPPER) / 2)


def test_naive_reference_uses_the_same_slopes() -> None:
    x = -torch.rand(3, 5)
    slopes = rrelu_slopes(x, LOWER, UPPER, seed=123)
    assert slopes.dtype == x.dtype and slopes.shape == x.shape
    assert torch.equal(slopes, rrelu_slopes(x, LOWER, UPPER, seed=123))


# --- memory -------------------------------------------------------------------------------


def test_saves_only_the_input_for_backward() -> None:
    x, weights, prelu, beta = _inputs(ACTIVATION_NAMES, torch.float32, shape=(2, 4, 8, 8))
    for t in (x, weights, prelu, beta):
        assert t is not None
        t.requires_grad_()
    saved: dict[int, int] = {}

    def pack(t: Tensor) -> Tensor:
        storage = t.untyped_storage()
        saved[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        y = _call(fused_mixed_activation, ACTIVATION_NAMES, x, weights, prelu, beta,
                  training=True)  # fmt: skip
    x_bytes = x.numel() * x.element_size()
    assert x.untyped_storage().data_ptr() in saved
    assert sum(saved.values()) <= x_bytes + 64  # x plus the tiny parameters
    y.sum().backward()


# --- double backward ----------------------------------------------------------------------


def test_create_graph_gives_first_order_gradients_and_refuses_the_second() -> None:
    x, weights, prelu, beta = _inputs(ACTIVATION_NAMES, torch.float64)
    inputs = [t.requires_grad_() for t in (x, weights, prelu, beta) if t is not None]
    y = _call(fused_mixed_activation, ACTIVATION_NAMES, x, weights, prelu, beta, training=True)
    first = torch.autograd.grad(y.sum(), inputs, create_graph=True)
    y = _call(fused_mixed_activation, ACTIVATION_NAMES, x, weights, prelu, beta, training=True)
    plain = torch.autograd.grad(y.sum(), inputs)
    for a, b in zip(first, plain, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    with pytest.raises(RuntimeError, match="does not support double backward"):
        torch.autograd.grad(first[0].sum(), x)
    penalty = y.sum().detach() + first[1].square().sum()  # a gradient penalty on the weights
    with pytest.raises(RuntimeError, match="does not support double backward"):
        penalty.backward()


# --- argument errors ----------------------------------------------------------------------


def _mix(names: Sequence[str], **kwargs: object) -> Tensor:
    arguments: dict[str, object] = {
        "prelu_weight": torch.tensor([0.25]),
        "swish_beta": torch.tensor(1.0),
        "training": False,
    }
    arguments.update(kwargs)
    weights = arguments.pop("weights", torch.ones(len(names)))
    return fused_mixed_activation(torch.randn(3), weights, names, **arguments)  # type: ignore[arg-type]


@pytest.mark.parametrize("fn", [fused_mixed_activation, naive_mixed_activation])
def test_unknown_name_is_named_with_the_valid_ones(fn: Mix) -> None:
    with pytest.raises(ValueError, match="unknown activation 'gelu'") as info:
        fn(torch.randn(3), torch.ones(2), ["relu", "gelu"], prelu_weight=None,
           swish_beta=None, training=False)  # fmt: skip
    assert all(name in str(info.value) for name in ACTIVATION_NAMES)


def test_other_name_errors() -> None:
    with pytest.raises(ValueError, match="at least one"):
        _mix([])
    with pytest.raises(ValueError, match=r"duplicates: \['elu'\]"):
        _mix(["elu", "relu", "elu"])
    with pytest.raises(TypeError, match="sequence of activation names"):
        _mix("relu")


def test_weight_and_parameter_errors() -> None:
    with pytest.raises(ValueError, match=r"one entry per name \(2\), got shape \(3,\)"):
        _mix(["relu", "elu"], weights=torch.ones(3))
    with pytest.raises(ValueError, match="1-D"):
        _mix(["relu"], weights=torch.ones(1, 1))
    with pytest.raises(ValueError, match="prelu_weight must be given"):
        _mix(["relu", "prelu"], prelu_weight=None)
    with pytest.raises(ValueError, match="swish_beta must be given"):
        _mix(["swish"], swish_beta=None)
    with pytest.raises(ValueError, match="exactly one value"):
        _mix(["prelu"], prelu_weight=torch.ones(4))
    with pytest.raises(TypeError, match="floating-point"):
        fused_mixed_activation(torch.arange(3), torch.ones(1), ["relu"], prelu_weight=None,
                               swish_beta=None, training=False)  # fmt: skip
    # Parameters of activations that are not mixed in are not needed, and ignored if given.
    assert _mix(["relu"], prelu_weight=None, swish_beta=None).shape == (3,)
    assert _mix(["relu"]).shape == (3,)
