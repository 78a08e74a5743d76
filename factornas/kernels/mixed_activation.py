"""Fused mixed activation σ(x) = Σ_a w_a · a(x) of an A-DARTS edge.

Every cell edge of the A-DARTS search space mixes up to nine activations once and feeds the
result to all of its convolutions. Done eagerly (nine module calls plus a weighted sum) that
costs about as much CPU time as the convolutions themselves and keeps roughly nine tensors of
the input's size alive per edge until backward. This module computes the same function with
a handful of element-wise passes and saves only the input:

* the five piecewise-linear activations (relu, relu6, leaky_relu, prelu, rrelu) collapse into
  one slope for ``x > 0``, one slope for ``x <= 0`` and a ``min(x, 6)`` term;
* elu, selu and (for ``celu_alpha == 1``) celu share a single ``expm1(min(x, 0))``;
* backward recomputes everything from ``x`` instead of storing intermediates, and derives the
  nine weight gradients from a few dot products of the output gradient with shared basis
  tensors.

RReLU's training-mode slopes come from a private generator seeded with one integer drawn from
the caller's generator; backward re-seeds an identical generator and regenerates the very same
slopes, so no noise tensor is stored (see :func:`draw_rrelu_seed` and :func:`rrelu_levels`).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import FunctionCtx

#: The paper's nine activations in canonical order (the order of the architecture weights β).
ACTIVATION_NAMES: tuple[str, ...] = (
    "relu",
    "relu6",
    "leaky_relu",
    "prelu",
    "rrelu",
    "elu",
    "celu",
    "selu",
    "swish",
)

# torch.nn.SELU's constants (Klambauer et al., 2017), to the precision torch uses.
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946

# Activations that are ``x`` for ``x > 0`` (selu is ``SELU_SCALE · x``), so their weights add
# up into one positive-side slope.
_LINEAR_FOR_POSITIVE = ("relu", "leaky_relu", "prelu", "rrelu", "elu", "celu", "selu")

# Seeds are drawn in [0, 2**63 - 1): every value is a valid ``Generator.manual_seed`` argument.
_SEED_BOUND = 2**63 - 1


@functools.lru_cache(maxsize=128)
def _checked_names(names: tuple[str, ...]) -> frozenset[str]:
    """Validate ``names`` once per distinct tuple: every edge calls with the same few tuples."""
    if not names:
        raise ValueError(
            f"names must name at least one activation; valid names: {', '.join(ACTIVATION_NAMES)}"
        )
    for name in names:
        if name not in ACTIVATION_NAMES:
            raise ValueError(
                f"unknown activation {name!r}; valid names: {', '.join(ACTIVATION_NAMES)}"
            )
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"activation names must be unique, got duplicates: {duplicates}")
    return frozenset(names)


def _validate(
    x: Tensor,
    weights: Tensor,
    names: Sequence[str],
    prelu_weight: Tensor | None,
    swish_beta: Tensor | None,
) -> tuple[tuple[str, ...], frozenset[str]]:
    """Check the arguments shared by the fused and the naive implementation.

    Both implementations run the same checks so that tests can use the naive one as an oracle
    for error behaviour too.
    """
    if isinstance(names, str):
        raise TypeError(f"names must be a sequence of activation names, e.g. ({names!r},)")
    ordered = tuple(names)
    present = _checked_names(ordered)
    if not x.is_floating_point():
        raise TypeError(f"x must be a floating-point tensor, got {x.dtype}")
    if weights.dim() != 1 or weights.shape[0] != len(ordered):
        raise ValueError(
            f"weights must be a 1-D tensor with one entry per name ({len(ordered)}), "
            f"got shape {tuple(weights.shape)}"
        )
    for name, param in (("prelu", prelu_weight), ("swish", swish_beta)):
        if name not in present:
            continue
        arg = "prelu_weight" if name == "prelu" else "swish_beta"
        if param is None:
            raise ValueError(f"names include {name!r}, so {arg} must be given")
        if param.numel() != 1:
            raise ValueError(
                f"{arg} must hold exactly one value (one shared parameter), "
                f"got shape {tuple(param.shape)}"
            )
    return ordered, present


def draw_rrelu_seed(generator: torch.Generator | None = None) -> int:
    """Draw the seed of one RReLU noise tensor from ``generator``.

    Drawing one integer (instead of sampling the noise from ``generator`` directly) is what
    lets backward regenerate the noise exactly: the caller's generator moves on, so every call
    still gets fresh slopes, while the private generator that :func:`rrelu_slopes` seeds with
    this integer can be rebuilt at will. Without a ``generator`` the seed comes from the CPU
    default generator (seeded by :func:`torch.manual_seed`), even for CUDA inputs, because
    reading a CUDA value back would synchronise the device on every call.
    """
    device = generator.device if generator is not None else torch.device("cpu")
    drawn = torch.randint(_SEED_BOUND, (1,), generator=generator, device=device)
    return int(drawn.item())


#: Random bits per RReLU slope: 65,536 evenly spaced slopes between ``lower`` and ``upper``.
#: torch's float32 ``uniform_`` has 24, but each bit costs: the CPU generator is a serial loop
#: whose time is per draw, and a 64-bit draw yields four 16-bit levels against two 24-bit
#: ones, which halves the noise's cost in a search step. A slope resolution of
#: ``(upper - lower) / 65,536`` (3e-6 for RReLU's defaults) is far below anything training
#: could resolve.
RRELU_BITS = 16


def _compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """float32 for half-precision inputs, whose 8- or 11-bit significands cannot hold the
    2**16 RReLU levels exactly and whose rounding would swamp the fused sums; float32 and
    float64 stay as they are."""
    return torch.promote_types(dtype, torch.float32)


def rrelu_levels(like: Tensor, seed: int) -> Tensor:
    """Integers ``k ~ U{-2**15, …, 2**15 - 1}``, one per element of ``like``, as floating point.

    The result (float32 for half-precision ``like``, else ``like``'s dtype; ``like``'s shape,
    device and memory format) is a pure function of ``seed`` and ``like``'s metadata: a fresh
    generator seeded with ``seed`` produces it, so backward can rebuild it bit for bit. Each
    ``int64`` drawn over the full 64-bit range is four independent uniform ``int16`` levels,
    so the serial CPU generator runs once per four elements (:data:`RRELU_BITS`). Levels are
    centred on zero so that the slope is ``mean + step·k``: the constant part is RReLU's
    eval-mode slope in both modes. They are drawn for every element (only those at ``x <= 0``
    are used) because sampling only the negative ones needs a boolean compaction that costs
    more. The k-th level goes to the k-th element *in memory order* (channels-last or
    contiguous), so the levels come out in ``like``'s layout without a transposing copy.
    """
    generator = torch.Generator(device=like.device)
    generator.manual_seed(seed)
    count = like.numel()
    # RRELU_BITS is int16's width: each int64 is viewed as four levels.
    bits = torch.empty(-(-count // 4), dtype=torch.int64, device=like.device)
    levels = bits.random_(-(2**63), None, generator=generator).view(torch.int16)[:count]
    order = _memory_order(like)
    physical = [like.shape[d] for d in order]
    inverse = [order.index(d) for d in range(like.dim())]
    as_float = torch.empty(count, dtype=_compute_dtype(like.dtype), device=like.device)
    return as_float.copy_(levels).view(physical).permute(inverse)


def _memory_order(like: Tensor) -> tuple[int, ...]:
    """``like``'s dimensions from outermost to innermost in memory: NHWC for a channels-last
    4-D tensor (the supernet's layout on CPU), the logical order otherwise."""
    if (
        like.dim() == 4
        and like.is_contiguous(memory_format=torch.channels_last)
        and not like.is_contiguous()
    ):
        return (0, 2, 3, 1)
    return tuple(range(like.dim()))


def rrelu_slopes(like: Tensor, lower: float, upper: float, seed: int) -> Tensor:
    """RReLU's random slopes ``(lower + upper) / 2 + (upper - lower)·k / 2**16`` for ``k`` from
    :func:`rrelu_levels`: uniform on ``[lower, upper)`` in steps of ``(upper - lower) / 2**16``.
    """
    step = (upper - lower) * 2.0**-RRELU_BITS
    return rrelu_levels(like, seed).mul_(step).add_(0.5 * (lower + upper)).to(like.dtype)


@dataclass(frozen=True)
class _Config:
    """Everything about a call that is not a tensor; fixed for the lifetime of one graph."""

    names: tuple[str, ...]
    present: frozenset[str]
    training: bool
    rrelu_lower: float
    rrelu_upper: float
    leaky_slope: float
    elu_alpha: float
    celu_alpha: float

    @property
    def rrelu_mean(self) -> float:
        return 0.5 * (self.rrelu_lower + self.rrelu_upper)

    @property
    def rrelu_step(self) -> float:
        """Slope difference between consecutive RReLU levels."""
        return (self.rrelu_upper - self.rrelu_lower) * 2.0**-RRELU_BITS

    @property
    def random_rrelu(self) -> bool:
        return self.training and "rrelu" in self.present

    @property
    def celu_shares_exp(self) -> bool:
        """CELU's ``exp(x / alpha)`` is ELU/SELU's ``exp(x)`` exactly when alpha is 1."""
        return self.celu_alpha == 1.0

    @property
    def has_linear(self) -> bool:
        return not self.present.isdisjoint(_LINEAR_FOR_POSITIVE)

    @property
    def has_exp(self) -> bool:
        shared = ("elu", "selu", "celu") if self.celu_shares_exp else ("elu", "selu")
        return not self.present.isdisjoint(shared)

    @property
    def has_celu_exp(self) -> bool:
        return "celu" in self.present and not self.celu_shares_exp


@dataclass(frozen=True)
class _Coefficients:
    """The mixture rewritten in shared terms; σ(x) equals

    ``pos·max(x,0) + neg·min(x,0) + exp·expm1(min(x,0)) + celu·expm1(min(x,0)/celu_alpha)
    + relu6·clamp(x,0,6) + rrelu_noise·k·min(x,0) + swish·x·sigmoid(beta·x)``

    with ``k`` the RReLU levels of :func:`rrelu_levels` (training mode only; the constant
    part of the random slope, RReLU's mean slope, is folded into ``neg`` in both modes).

    All are Python floats: one read-back per call is cheaper on CPU than the dozen tiny tensor
    ops that combining 0-dim tensors would take, and element-wise ops with Python scalars do
    not allocate.
    """

    weight: dict[str, float]
    prelu: float
    beta: float
    pos: float
    neg: float
    exp: float
    celu: float
    relu6: float
    rrelu_noise: float
    swish: float

    @staticmethod
    def of(
        config: _Config, weights: Tensor, prelu_weight: Tensor | None, swish_beta: Tensor | None
    ) -> _Coefficients:
        w = dict.fromkeys(ACTIVATION_NAMES, 0.0)
        w.update(zip(config.names, weights.tolist(), strict=True))
        prelu = float(prelu_weight.item()) if prelu_weight is not None else 0.0
        beta = float(swish_beta.item()) if swish_beta is not None else 0.0
        celu_exp = config.celu_alpha * w["celu"]
        return _Coefficients(
            weight=w,
            prelu=prelu,
            beta=beta,
            pos=(
                w["relu"]
                + w["leaky_relu"]
                + w["prelu"]
                + w["rrelu"]
                + w["elu"]
                + w["celu"]
                + SELU_SCALE * w["selu"]
            ),
            neg=(
                config.leaky_slope * w["leaky_relu"]
                + prelu * w["prelu"]
                + config.rrelu_mean * w["rrelu"]
            ),
            exp=(
                config.elu_alpha * w["elu"]
                + SELU_SCALE * SELU_ALPHA * w["selu"]
                + (celu_exp if config.celu_shares_exp else 0.0)
            ),
            celu=0.0 if config.celu_shares_exp else celu_exp,
            relu6=w["relu6"],
            rrelu_noise=config.rrelu_step * w["rrelu"] if config.training else 0.0,
            swish=w["swish"],
        )


class _Scratch:
    """One reusable buffer of x's shape, allocated on first use.

    ``get`` lends it (contents valid until the next ``get``); ``take`` hands it over for
    good, e.g. when it becomes the gradient; ``give`` offers back a buffer that is free.
    """

    def __init__(self, like: Tensor) -> None:
        self._like = like
        self._buffer: Tensor | None = None

    def get(self) -> Tensor:
        if self._buffer is None:
            self._buffer = torch.empty_like(self._like)
        return self._buffer

    def take(self) -> Tensor:
        buffer, self._buffer = self.get(), None
        return buffer

    def give(self, buffer: Tensor) -> None:
        if self._buffer is None:
            self._buffer = buffer


def _leaky_form(pos_slope: float, neg_slope: float) -> bool:
    """Whether :func:`_piecewise_linear` can use ``leaky_relu`` (and needs no ``min(x,0)``)."""
    return pos_slope != 0.0 and abs(neg_slope) <= abs(pos_slope)


def _piecewise_linear(x: Tensor, neg: Tensor | None, pos_slope: float, neg_slope: float) -> Tensor:
    """``pos_slope·max(x,0) + neg_slope·min(x,0)`` in two passes, accurate to a few ulp.

    ``leaky_relu`` evaluates ``max(x,0) + k·min(x,0)`` in one pass; scaling it by
    ``pos_slope`` is accurate while ``|k| <= 1``. Otherwise ``x·pos + min(x,0)·(neg - pos)``
    cancels at most ``|pos·x| <= |neg·x|``, so its error stays relative to the result too.
    """
    if _leaky_form(pos_slope, neg_slope):
        return F.leaky_relu(x, neg_slope / pos_slope).mul_(pos_slope)
    assert neg is not None
    return torch.mul(x, pos_slope).add_(neg, alpha=neg_slope - pos_slope)


def _forward(x: Tensor, config: _Config, c: _Coefficients, levels: Tensor | None) -> Tensor:
    """σ(x), accumulated in place into one output buffer with one reused scratch buffer.

    On CPU every fresh tensor of x's size costs about as much as two element-wise passes
    (page faults, cache misses), so the terms are written into ``scratch`` and added to
    ``out`` rather than allocated one by one.
    """
    needs_neg = (
        levels is not None
        or config.has_exp
        or config.has_celu_exp
        or (config.has_linear and not _leaky_form(c.pos, c.neg))
    )
    neg = x.clamp_max(0) if needs_neg else None
    out = _piecewise_linear(x, neg, c.pos, c.neg) if config.has_linear else torch.zeros_like(x)
    scratch = _Scratch(x)
    if levels is not None:
        assert neg is not None
        out.addcmul_(neg, levels, value=c.rrelu_noise)
        scratch.give(levels)
    if "relu6" in config.present:
        out.add_(torch.clamp(x, 0, 6, out=scratch.get()), alpha=c.relu6)
    if "swish" in config.present:
        sigmoid = torch.mul(x, c.beta, out=scratch.get()).sigmoid_()
        out.addcmul_(x, sigmoid, value=c.swish)
    if config.has_celu_exp:
        assert neg is not None
        scaled = torch.mul(neg, 1.0 / config.celu_alpha, out=scratch.get())
        out.add_(scaled.expm1_(), alpha=c.celu)
    if config.has_exp:
        assert neg is not None
        out.add_(neg.expm1_(), alpha=c.exp)
    return out


def _dot(a: Tensor, b: Tensor) -> Tensor:
    """Σ a·b without materialising the product.

    Both operands are flattened in the same element order: memory order when they share a
    contiguous or channels-last layout (a free view), logical order otherwise (a copy).
    """
    if a.is_contiguous() and b.is_contiguous():
        return torch.dot(a.view(-1), b.view(-1))
    channels_last = torch.channels_last
    if (
        a.dim() == 4
        and a.is_contiguous(memory_format=channels_last)
        and b.is_contiguous(memory_format=channels_last)
    ):
        return torch.dot(a.permute(0, 2, 3, 1).reshape(-1), b.permute(0, 2, 3, 1).reshape(-1))
    return torch.dot(a.reshape(-1), b.reshape(-1))


def _backward(
    grad: Tensor,
    x: Tensor,
    config: _Config,
    c: _Coefficients,
    levels: Tensor | None,
    need: tuple[bool, bool, bool, bool],
) -> tuple[Tensor | None, list[float] | None, float, float]:
    """Gradients for (x, weights, prelu slope, swish beta), recomputed from ``x``.

    ``grad_x = grad · σ'(x)`` is built as ``grad·(field + base) + (pos - base)·grad·[x>0] +
    relu6·grad·[0<x<6]``: ``field`` holds the non-constant terms of the slope on ``x <= 0``
    (``exp``-family and RReLU noise; they are zero for ``x > 0``) plus swish's derivative, and
    ``base`` is the constant part of the slope on ``x <= 0``. The masked products use aten's
    ``threshold_backward``/``hardtanh_backward``: single passes with exactly torch's
    conventions at the kinks (ReLU and ReLU6 have slope 0 at 0 and 6; the slopes of the
    negative side apply at ``x == 0``). Weight gradients are dot products of ``grad`` with the
    few basis functions that the activations share (``x``, ``min(x,0)``, ``expm1``, …),
    combined on the host.
    """
    need_x, need_w, need_prelu, need_beta = need
    scratch = _Scratch(x)
    sums: dict[str, Tensor] = {}
    field: Tensor | None = None

    def accumulate(term: Tensor, alpha: float) -> None:
        """field += alpha·term; the first term's buffer becomes the field (so it must be one
        that nothing else uses afterwards), later ones are offered back as scratch."""
        nonlocal field
        if field is None:
            field = term.mul_(alpha)
        else:
            field.add_(term, alpha=alpha)
            scratch.give(term)

    needs_neg = levels is not None or config.has_exp or config.has_celu_exp
    needs_neg = needs_neg or need_prelu or (need_w and config.has_linear)
    neg = x.clamp_max(0) if needs_neg else None
    if need_w and config.has_linear:
        sums["x"] = _dot(grad, x)
    if neg is not None and (need_prelu or (need_w and config.has_linear)):
        sums["neg"] = _dot(grad, neg)
    if need_w and "relu6" in config.present:
        sums["relu6"] = _dot(grad, torch.clamp(x, 0, 6, out=scratch.get()))
    if "swish" in config.present and (need_x or need_w or need_beta):
        s = torch.mul(x, c.beta).sigmoid_()
        t = torch.mul(x, s, out=scratch.get())  # x·σ(bx)
        if need_w:
            sums["swish"] = _dot(grad, t)
        u = t.addcmul_(t, s, value=-1.0)  # x·s·(1 - s)
        if need_x:  # ∂/∂x x·σ(bx) = s + b·x·s·(1 - s)
            accumulate(s, c.swish)
            accumulate(u, c.swish * c.beta)
        if need_beta:  # ∂/∂b x·σ(bx) = x²·s·(1 - s)
            sums["beta"] = _dot(grad, u.mul_(x))
    if levels is not None:
        assert neg is not None
        if need_w:
            sums["rrelu_noise"] = _dot(grad, torch.mul(levels, neg, out=scratch.get()))
        if need_x:
            # The levels apply on x <= 0 only: zero them elsewhere.
            above = torch.ops.aten.threshold_backward.grad_input(
                levels, x, 0, grad_input=scratch.get()
            )
            accumulate(levels.sub_(above), c.rrelu_noise)
    if config.has_celu_exp:
        assert neg is not None
        em1c = torch.mul(neg, 1.0 / config.celu_alpha, out=scratch.take()).expm1_()
        if need_w:
            sums["celu_exp"] = _dot(grad, em1c)
        if need_x:
            accumulate(em1c, c.weight["celu"])
        else:
            scratch.give(em1c)
    if config.has_exp:
        assert neg is not None
        em1 = neg.expm1_()
        if need_w:
            sums["exp"] = _dot(grad, em1)
        if need_x:
            accumulate(em1, c.exp)

    grad_x: Tensor | None = None
    if need_x:
        # Constant part of the slope on x <= 0: deterministic slopes plus exp = expm1 + 1.
        base = c.neg + c.exp + (c.weight["celu"] if config.has_celu_exp else 0.0)
        grad_x = torch.mul(grad, base) if field is None else field.add_(base).mul_(grad)
        if c.pos != base:
            above = torch.ops.aten.threshold_backward.grad_input(
                grad, x, 0, grad_input=scratch.get()
            )
            grad_x.add_(above, alpha=c.pos - base)
        if "relu6" in config.present:
            inside = torch.ops.aten.hardtanh_backward.grad_input(
                grad, x, 0, 6, grad_input=scratch.get()
            )
            grad_x.add_(inside, alpha=c.relu6)

    values: dict[str, float] = {}
    if sums:
        values = dict(zip(sums, torch.stack(list(sums.values())).tolist(), strict=True))
    grad_w: list[float] | None = None
    if need_w:
        grad_w = [_weight_grad(name, values, config, c) for name in config.names]
    grad_prelu = c.weight["prelu"] * values["neg"] if need_prelu else 0.0
    grad_beta = c.swish * values["beta"] if need_beta else 0.0
    return grad_x, grad_w, grad_prelu, grad_beta


def _weight_grad(name: str, s: dict[str, float], config: _Config, c: _Coefficients) -> float:
    """∂L/∂w_name = Σ grad · name(x), written in the shared basis sums ``s``."""
    pos = s["x"] - s["neg"] if "x" in s else 0.0  # Σ grad·max(x,0)
    if name == "relu":
        return pos
    if name == "relu6":
        return s["relu6"]
    if name == "leaky_relu":
        return pos + config.leaky_slope * s["neg"]
    if name == "prelu":
        return pos + c.prelu * s["neg"]
    if name == "rrelu":
        noise = config.rrelu_step * s["rrelu_noise"] if config.training else 0.0
        return pos + config.rrelu_mean * s["neg"] + noise
    if name == "elu":
        return pos + config.elu_alpha * s["exp"]
    if name == "celu":
        return pos + config.celu_alpha * s["exp" if config.celu_shares_exp else "celu_exp"]
    if name == "selu":
        return SELU_SCALE * (pos + SELU_ALPHA * s["exp"])
    return s["swish"]


class _DoubleBackwardGuard(torch.autograd.Function):
    """Pass gradients through unchanged, but fail loudly if anyone differentiates them.

    ``torch.autograd.function.once_differentiable`` only guards outputs when the incoming
    gradient itself requires grad; with ``create_graph=True`` and a constant incoming gradient
    it returns plain tensors, so a gradient penalty would silently treat them as constants.
    Anchoring the gradients to the inputs that require grad makes every such use reach
    :meth:`backward` and raise.
    """

    @staticmethod
    def forward(ctx: FunctionCtx, count: int, *tensors: Tensor) -> tuple[Tensor, ...]:
        return tuple(t.clone() for t in tensors[:count])

    @staticmethod
    def backward(ctx: FunctionCtx, *grads: Tensor) -> tuple[None, ...]:
        raise RuntimeError(
            "fused_mixed_activation does not support double backward (its backward is not "
            "itself differentiable); use naive_mixed_activation where second derivatives are "
            "needed, or finite differences as in second-order DARTS"
        )


class _FusedMixedActivation(torch.autograd.Function):
    """Autograd wrapper: saves ``x``, the weights, the two scalar parameters and a seed.

    Half-precision inputs are computed in float32 (one conversion each way) and saved as they
    came, so the saved bytes stay those of ``x``.
    """

    @staticmethod
    def forward(
        ctx: FunctionCtx,
        x: Tensor,
        weights: Tensor,
        prelu_weight: Tensor | None,
        swish_beta: Tensor | None,
        config: _Config,
        seed: int | None,
    ) -> Tensor:
        c = _Coefficients.of(config, weights, prelu_weight, swish_beta)
        xc = x.to(_compute_dtype(x.dtype))
        levels = rrelu_levels(xc, seed) if seed is not None else None
        out = _forward(xc, config, c, levels).to(x.dtype)
        # The tiny tensors are saved for autograd's in-place-modification check, their
        # dtype/device, and as anchors for the double-backward guard; their values travel as
        # the floats in ``c`` so that backward needs no second read-back.
        params = [t for t in (prelu_weight, swish_beta) if t is not None]
        ctx.save_for_backward(x, weights, *params)
        ctx.config = config  # type: ignore[attr-defined]
        ctx.coefficients = c  # type: ignore[attr-defined]
        ctx.seed = seed  # type: ignore[attr-defined]
        return out

    @staticmethod
    def backward(
        ctx: FunctionCtx, grad: Tensor
    ) -> tuple[Tensor | None, Tensor | None, Tensor | None, Tensor | None, None, None]:
        config: _Config = ctx.config  # type: ignore[attr-defined]
        x, weights, *params = ctx.saved_tensors  # type: ignore[attr-defined]
        prelu_weight = params.pop(0) if "prelu" in config.present else None
        swish_beta = params.pop(0) if "swish" in config.present else None
        c: _Coefficients = ctx.coefficients  # type: ignore[attr-defined]
        seed: int | None = ctx.seed  # type: ignore[attr-defined]
        # False for absent parameters: fused_mixed_activation passes None for them.
        need_x, need_w, need_prelu, need_beta = ctx.needs_input_grad[:4]  # type: ignore[attr-defined]
        grads: list[Tensor | None] = [None, None, None, None]
        with torch.no_grad():
            xc = x.to(_compute_dtype(x.dtype))
            levels = rrelu_levels(xc, seed) if seed is not None else None
            grad_xc, grad_w, grad_prelu, grad_beta = _backward(
                grad.to(xc.dtype), xc, config, c, levels, (need_x, need_w, need_prelu, need_beta)
            )
            if grad_xc is not None:
                grads[0] = grad_xc.to(x.dtype)
            if grad_w is not None:
                grads[1] = torch.tensor(grad_w, dtype=weights.dtype, device=weights.device)
            if prelu_weight is not None and need_prelu:
                grads[2] = torch.full_like(prelu_weight, grad_prelu)
            if swish_beta is not None and need_beta:
                grads[3] = torch.full_like(swish_beta, grad_beta)
        if torch.is_grad_enabled():  # create_graph=True: guard against double backward
            present = [g for g in grads if g is not None]
            anchors = [x, weights, *(t for t in (prelu_weight, swish_beta) if t is not None)]
            guarded = iter(_DoubleBackwardGuard.apply(len(present), *present, *anchors))
            grads = [None if g is None else next(guarded) for g in grads]
        return grads[0], grads[1], grads[2], grads[3], None, None


def fused_mixed_activation(
    x: Tensor,
    weights: Tensor,
    names: Sequence[str],
    *,
    prelu_weight: Tensor | None,
    swish_beta: Tensor | None,
    training: bool,
    rrelu_lower: float = 1.0 / 8.0,
    rrelu_upper: float = 1.0 / 3.0,
    leaky_slope: float = 0.01,
    elu_alpha: float = 1.0,
    celu_alpha: float = 1.0,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Σ_i weights[i] · names[i](x), fused, saving only ``x`` (and tiny tensors) for backward.

    Args:
        x: input of any shape and device; float32 or float64 (float16/bfloat16 inputs are
            computed in float32 and returned in their own dtype).
        weights: one mixing weight per name (usually a softmax, but any values are correct);
            differentiable.
        names: a non-empty subset of :data:`ACTIVATION_NAMES`, in any order, no duplicates.
        prelu_weight: PReLU's single slope (shape ``(1,)`` like ``nn.PReLU()``); required iff
            ``names`` includes ``"prelu"``, ignored otherwise; differentiable.
        swish_beta: the single ``b`` of ``x·sigmoid(b·x)``; required iff ``names`` includes
            ``"swish"``, ignored otherwise; differentiable.
        training: RReLU draws fresh slopes ``~ U(rrelu_lower, rrelu_upper)`` (in 2**16 even
            steps, :data:`RRELU_BITS`) for the elements ``x <= 0`` in training mode, and uses
            their mean in eval mode (as ``nn.RReLU``).
        generator: source of RReLU's training-mode randomness (default: torch's CPU default
            generator). One seed is drawn from it per call; see :func:`draw_rrelu_seed`.

    Returns the mixed activation, same shape, dtype and memory format as ``x``. Gradients are
    exact for ``x``, ``weights``, ``prelu_weight`` and ``swish_beta``, with torch's
    subgradient conventions at the kinks. Double backward is not supported: differentiating
    the gradients (``create_graph=True`` followed by another backward) raises.

    The weights and the two scalars are read back to the host once per call (a device sync
    on accelerators), because element-wise ops with Python scalars are what makes the fused
    passes cheap.
    """
    ordered, present = _validate(x, weights, names, prelu_weight, swish_beta)
    config = _Config(
        names=ordered,
        present=present,
        training=training,
        rrelu_lower=float(rrelu_lower),
        rrelu_upper=float(rrelu_upper),
        leaky_slope=float(leaky_slope),
        elu_alpha=float(elu_alpha),
        celu_alpha=float(celu_alpha),
    )
    seed = draw_rrelu_seed(generator) if config.random_rrelu else None
    return _FusedMixedActivation.apply(
        x,
        weights,
        prelu_weight if "prelu" in present else None,
        swish_beta if "swish" in present else None,
        config,
        seed,
    )


def grouped_mixed_activation(
    x: Tensor,
    weights: Tensor,
    names: Sequence[str],
    *,
    prelu_weight: Tensor | None,
    swish_beta: Tensor | None,
    training: bool,
    **settings: float,
) -> Tensor:
    """Edge e's mixture of ``x`` with ``weights[e]`` in channels ``[e·C, (e+1)·C)``."""
    return torch.cat(
        [
            fused_mixed_activation(
                x,
                weights[e],
                names,
                prelu_weight=None if prelu_weight is None else prelu_weight[e : e + 1],
                swish_beta=None if swish_beta is None else swish_beta[e],
                training=training,
                **settings,  # type: ignore[arg-type]
            )
            for e in range(weights.shape[0])
        ],
        dim=1,
    )


def naive_mixed_activation(
    x: Tensor,
    weights: Tensor,
    names: Sequence[str],
    *,
    prelu_weight: Tensor | None,
    swish_beta: Tensor | None,
    training: bool,
    rrelu_lower: float = 1.0 / 8.0,
    rrelu_upper: float = 1.0 / 3.0,
    leaky_slope: float = 0.01,
    elu_alpha: float = 1.0,
    celu_alpha: float = 1.0,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Reference implementation: one ``torch.nn.functional`` call per activation, then a sum.

    Same signature and semantics as :func:`fused_mixed_activation`, differentiable to any
    order by plain autograd. Training-mode RReLU is the one exception to "use F directly":
    ``F.rrelu`` accepts no generator and hides its noise, so this uses the same slopes as the
    fused kernel (:func:`rrelu_slopes`, seeded identically from ``generator``) in torch's own
    formula ``x · (x > 0 ? 1 : slope)``; given equal generator states both implementations
    therefore compute the same random function.
    """
    ordered, _ = _validate(x, weights, names, prelu_weight, swish_beta)
    total: Tensor | None = None
    for weight, name in zip(weights.unbind(), ordered, strict=True):
        if name == "relu":
            y = F.relu(x)
        elif name == "relu6":
            y = F.relu6(x)
        elif name == "leaky_relu":
            y = F.leaky_relu(x, leaky_slope)
        elif name == "prelu":
            assert prelu_weight is not None
            y = F.prelu(x, prelu_weight.reshape(1))
        elif name == "rrelu":
            if training:
                seed = draw_rrelu_seed(generator)
                y = torch.where(x > 0, x, x * rrelu_slopes(x, rrelu_lower, rrelu_upper, seed))
            else:
                y = F.rrelu(x, rrelu_lower, rrelu_upper, training=False)
        elif name == "elu":
            y = F.elu(x, elu_alpha)
        elif name == "celu":
            y = F.celu(x, celu_alpha)
        elif name == "selu":
            y = F.selu(x)
        else:
            assert swish_beta is not None
            y = x * torch.sigmoid(swish_beta.reshape(()) * x)
        total = weight * y if total is None else total + weight * y
    assert total is not None
    return total


__all__ = [
    "ACTIVATION_NAMES",
    "RRELU_BITS",
    "SELU_ALPHA",
    "SELU_SCALE",
    "draw_rrelu_seed",
    "fused_mixed_activation",
    "grouped_mixed_activation",
    "naive_mixed_activation",
    "rrelu_levels",
    "rrelu_slopes",
]
