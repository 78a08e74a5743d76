"""Fused mixed activation σ(x) = Σ_a w_a · a(x) of an A-DARTS edge, alone or for a group of edges.

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

The edges that leave one cell node all read the same input, so :func:`grouped_mixed_activation`
mixes k of them in one call: the basis tensors that depend on ``x`` alone (``min(x, 0)``, its
``expm1``, ``clamp(x, 0, 6)``) are computed once for all edges, only the weighted sums (and
swish and RReLU's noise, which differ per edge) are per edge, and backward takes the output
gradient through a few matrix-vector products instead of k sets of passes.
:func:`fused_mixed_activation` is the same machinery with k = 1.

Nothing is read back to the host: the weights and the PReLU/Swish parameters become a small
device tensor of per-edge coefficients (one matrix product) that the element-wise passes take
as tensor operands, and the weight gradients are dot products combined by another small matrix
product. On an accelerator a search step therefore never waits for the device here; the one
host read left, :func:`draw_rrelu_seed`, reads a CPU generator.

RReLU's training-mode slopes come from a private generator seeded with one integer drawn from
the caller's generator; backward re-seeds an identical generator and regenerates the very same
slopes, so no noise tensor is stored (see :func:`draw_rrelu_seed` and :func:`rrelu_levels`).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
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


def _parse_names(names: Sequence[str], x: Tensor) -> tuple[tuple[str, ...], frozenset[str]]:
    """The checks on ``names`` and ``x`` that every entry point shares."""
    if isinstance(names, str):
        raise TypeError(f"names must be a sequence of activation names, e.g. ({names!r},)")
    ordered = tuple(names)
    present = _checked_names(ordered)
    if not x.is_floating_point():
        raise TypeError(f"x must be a floating-point tensor, got {x.dtype}")
    return ordered, present


def _check_parameters(
    present: frozenset[str],
    prelu_weight: Tensor | None,
    swish_beta: Tensor | None,
    count: int,
    meaning: str,
) -> None:
    """PReLU's slope and Swish's ``b`` must be given, ``count`` values each, iff mixed in."""
    for name, param in (("prelu", prelu_weight), ("swish", swish_beta)):
        if name not in present:
            continue
        arg = "prelu_weight" if name == "prelu" else "swish_beta"
        if param is None:
            raise ValueError(f"names include {name!r}, so {arg} must be given")
        if param.numel() != count:
            raise ValueError(f"{arg} must hold {meaning}, got shape {tuple(param.shape)}")


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
    ordered, present = _parse_names(names, x)
    if weights.dim() != 1 or weights.shape[0] != len(ordered):
        raise ValueError(
            f"weights must be a 1-D tensor with one entry per name ({len(ordered)}), "
            f"got shape {tuple(weights.shape)}"
        )
    _check_parameters(
        present, prelu_weight, swish_beta, 1, "exactly one value (one shared parameter)"
    )
    return ordered, present


def _validate_grouped(
    x: Tensor,
    weights: Tensor,
    names: Sequence[str],
    prelu_weight: Tensor | None,
    swish_beta: Tensor | None,
) -> tuple[tuple[str, ...], frozenset[str]]:
    """:func:`_validate` for :func:`grouped_mixed_activation`: one row of weights, one PReLU
    slope and one Swish ``b`` per edge, and an input with a channel axis to group along."""
    ordered, present = _parse_names(names, x)
    if x.dim() < 2:
        raise ValueError(f"x must have shape (N, C, ...), got shape {tuple(x.shape)}")
    if weights.dim() != 2 or weights.shape[1] != len(ordered) or weights.shape[0] == 0:
        raise ValueError(
            f"weights must be a 2-D tensor (edges, names) with one column per name "
            f"({len(ordered)}) and at least one edge, got shape {tuple(weights.shape)}"
        )
    edges = weights.shape[0]
    _check_parameters(present, prelu_weight, swish_beta, edges, f"one value per edge ({edges})")
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


def _draw_levels(count: int, seed: int, device: torch.device) -> Tensor:
    """``count`` levels as ``int16``, from a fresh generator seeded with ``seed``.

    This is the only place RReLU noise comes from, so forward, backward and
    :func:`rrelu_levels` agree bit for bit. ``RRELU_BITS`` is int16's width: each ``int64``
    drawn over the full 64-bit range is viewed as four levels.
    """
    generator = torch.Generator(device=device)
    generator.manual_seed(seed)
    bits = torch.empty(-(-count // 4), dtype=torch.int64, device=device)
    return bits.random_(-(2**63), None, generator=generator).view(torch.int16)[:count]


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
    count = like.numel()
    levels = _draw_levels(count, seed, like.device)
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

    @property
    def forward_columns(self) -> tuple[str, ...]:
        """The coefficient columns that the forward formula uses for this configuration, in
        :data:`_FORWARD_COLUMNS` order; backward needs one dot product for each of them."""
        used = {
            "pos": self.has_linear,
            "neg_minus_pos": self.has_linear,
            "noise": self.random_rrelu,
            "relu6": "relu6" in self.present,
            "swish": "swish" in self.present,
            "celu": self.has_celu_exp,
            "exp": self.has_exp,
        }
        return tuple(column for column in _FORWARD_COLUMNS if used[column])


#: The coefficients that σ(x) is written in, one value per edge each. With ``n = min(x, 0)``,
#: ``L`` the RReLU levels of :func:`rrelu_levels` (training mode only) and ``s = sigmoid(b·x)``:
#:
#: ``σ(x) = pos·x + neg_minus_pos·n + noise·L·n + relu6·clamp(x, 0, 6) + swish·x·s
#: + celu·expm1(n / celu_alpha) + exp·expm1(n)``
#:
#: ``pos``/``neg`` are the slopes of the piecewise-linear part for ``x > 0`` / ``x <= 0`` (the
#: constant part of RReLU's random slope, its mean, is folded into ``neg`` in both modes). The
#: form ``pos·x + (neg - pos)·n`` needs no separate ``max(x, 0)`` pass; its rounding error is
#: that of ``pos·x``, a few ulp of the largest term.
_FORWARD_COLUMNS = ("pos", "neg_minus_pos", "noise", "relu6", "swish", "celu", "exp")

#: Backward's extra coefficients: ``base`` is the constant part of σ's slope on ``x <= 0``
#: (``neg`` plus the ``exp`` terms' ``+1`` from ``d expm1(n)/dx = expm1(n) + 1``),
#: ``pos_minus_base`` the jump at 0, and ``celu_slope`` CELU's weight, the coefficient of its
#: derivative ``expm1(n / celu_alpha) + 1``.
_COLUMNS = (*_FORWARD_COLUMNS, "base", "pos_minus_base", "celu_slope")


def _unit_columns(name: str, config: _Config) -> list[float]:
    """The coefficients (in :data:`_COLUMNS` order) of one unit of ``name``'s weight.

    ``"prelu"`` here is only its positive side; its slope enters through the product
    ``prelu_weight · w_prelu`` (see :func:`_prelu_columns`).
    """
    pos = neg = exp = celu = celu_slope = relu6 = noise = swish = 0.0
    if name in _LINEAR_FOR_POSITIVE:
        pos = SELU_SCALE if name == "selu" else 1.0
    if name == "leaky_relu":
        neg = config.leaky_slope
    elif name == "rrelu":
        neg = config.rrelu_mean
        noise = config.rrelu_step if config.training else 0.0
    elif name == "elu":
        exp = config.elu_alpha
    elif name == "selu":
        exp = SELU_SCALE * SELU_ALPHA
    elif name == "celu" and config.celu_shares_exp:
        exp = config.celu_alpha
    elif name == "celu":
        celu, celu_slope = config.celu_alpha, 1.0
    elif name == "relu6":
        relu6 = 1.0
    elif name == "swish":
        swish = 1.0
    base = neg + exp + celu_slope
    return [pos, neg - pos, noise, relu6, swish, celu, exp, base, pos - base, celu_slope]


def _prelu_columns() -> list[float]:
    """The coefficients of one unit of ``prelu_weight · w_prelu``: a slope for ``x <= 0``."""
    columns = dict.fromkeys(_COLUMNS, 0.0)
    columns.update(neg_minus_pos=1.0, base=1.0, pos_minus_base=-1.0)
    return list(columns.values())


@dataclass(frozen=True)
class _Basis:
    """The constant matrices between the mixing weights and the coefficients of one config.

    With ``W`` the (k, n) weights, extended by the column ``prelu_weight · w_prelu`` when
    PReLU is mixed in, the coefficients are ``to_columns @ Wᵀ`` (one row per :data:`_COLUMNS`
    entry, one column per edge). Backward runs it in reverse: with ``G`` the (k, j) gradients of
    the loss with respect to the config's forward columns, extended by the PReLU product's
    (``G_neg_minus_pos · prelu_weight``), ``∂L/∂W = G @ to_weights``.
    """

    to_columns: Tensor
    to_weights: Tensor


@functools.lru_cache(maxsize=128)
def _basis(config: _Config, dtype: torch.dtype, device: torch.device) -> _Basis:
    """Built once per configuration, dtype and device: every step reuses the same few."""
    rows = [_unit_columns(name, config) for name in config.names]
    if "prelu" in config.present:
        rows.append(_prelu_columns())
    to_columns = torch.tensor(rows, dtype=dtype, device=device).T.contiguous()
    forward = [[row[_COLUMNS.index(c)] for row in rows[: len(config.names)]]
               for c in config.forward_columns]  # fmt: skip
    if "prelu" in config.present:
        prelu = config.names.index("prelu")
        forward.append([1.0 if i == prelu else 0.0 for i in range(len(config.names))])
    return _Basis(to_columns, torch.tensor(forward, dtype=dtype, device=device))


def _coefficients(
    config: _Config, weights: Tensor, prelu_weight: Tensor | None
) -> dict[str, Tensor]:
    """Every edge's coefficients, one (k,) tensor per :data:`_COLUMNS` entry.

    ``weights`` is (k, n) and ``prelu_weight`` (k,), both in the compute dtype. A handful of
    tiny ops, all on the device: the point is that nothing here is read back to the host.
    """
    if prelu_weight is not None:
        prelu = config.names.index("prelu")
        product = weights[:, prelu : prelu + 1] * prelu_weight.unsqueeze(1)
        weights = torch.cat((weights, product), dim=1)
    to_columns = _basis(config, weights.dtype, weights.device).to_columns
    return dict(zip(_COLUMNS, torch.mm(to_columns, weights.T).unbind(0), strict=True))


@dataclass(frozen=True)
class _Layout:
    """How an input and its k-edge output are laid out for the element-wise passes.

    ``x`` is viewed in memory order (NHWC for a channels-last 4-D tensor) as ``(pre, 1, post)``
    with the edge axis in front of the channel axis, and the output is a contiguous
    ``(pre, k, post)`` whose slice ``[:, e]`` is edge ``e``'s block: for channels-last ``x``
    that is an ``(N, H, W, k, C)`` buffer, whose free view ``(N, k·C, H, W)`` is channels-last
    again, so a following (grouped) convolution stays NHWC; otherwise ``(N, k, C, ...)``, a
    free view of a contiguous ``(N, k·C, ...)``. Backward works edge-major,
    ``(k, pre·post)``: there a per-edge dot product is a plain dot of a contiguous row and a
    sum over the edges is a matrix-vector product.
    """

    order: tuple[int, ...]
    physical: tuple[int, ...]
    edges: int
    grouped: bool
    batched: bool = False

    @staticmethod
    def of(x: Tensor, edges: int, grouped: bool) -> _Layout:
        order = _memory_order(x)
        return _Layout(order, tuple(x.shape[d] for d in order), edges, grouped, _batched(x, edges))

    @property
    def _split(self) -> int:
        """Position of the edge axis among the physical dimensions: the channel axis's."""
        return self.order.index(1) if len(self.order) >= 2 else 0

    @property
    def pre(self) -> int:
        return math.prod(self.physical[: self._split])

    @property
    def post(self) -> int:
        return math.prod(self.physical[self._split :])

    def _to_physical(self, t: Tensor) -> Tensor:
        return t if self.order == tuple(range(t.dim())) else t.permute(self.order)

    def _to_logical(self, t: Tensor) -> Tensor:
        if self.order == tuple(range(t.dim())):
            return t
        return t.permute([self.order.index(d) for d in range(t.dim())])

    def input(self, x: Tensor) -> Tensor:
        """``x`` as ``(pre, 1, post)``."""
        return self._to_physical(x).reshape(self.pre, 1, self.post)

    def output(self, out: Tensor) -> Tensor:
        """The ``(pre, k, post)`` result as the caller's tensor: x's shape for a single edge,
        ``(N, k·C, ...)`` for a group (a view either way)."""
        shape = self.physical
        if self.grouped:
            split = self._split
            shape = (*shape[:split], self.edges * shape[split], *shape[split + 1 :])
        return self._to_logical(out.view(shape))

    def edge_major(self, grad: Tensor) -> Tensor:
        """The output's gradient as ``(k, pre·post)``: a copy for k > 1 (or a foreign layout),
        a view for one edge in x's own layout."""
        grad = self._to_physical(grad).reshape(self.pre, self.edges, self.post)
        return grad.transpose(0, 1).reshape(self.edges, self.pre * self.post)

    def flat_input(self, x: Tensor) -> Tensor:
        """``x`` as ``(1, pre·post)``, in the element order of :meth:`edge_major` rows."""
        return self._to_physical(x).reshape(1, -1)

    def unflatten_input(self, flat: Tensor) -> Tensor:
        """Inverse of :meth:`flat_input` (x's shape; channels-last strides for such an x)."""
        return self._to_logical(flat.view(self.physical))


class _Scratch:
    """Reusable buffers, keyed by shape, so that a call allocates as few as it can.

    On CPU every fresh tensor of x's size costs about as much as two element-wise passes (page
    faults, cache misses). ``take`` hands out a free buffer of a shape (or a new one),
    ``give`` returns one that its user is done with. With one edge the input-sized and
    output-sized shapes coincide, so both kinds of temporaries share the same few buffers.
    """

    def __init__(self, like: Tensor) -> None:
        self._like = like
        self._free: dict[tuple[int, ...], Tensor] = {}

    def take(self, shape: Sequence[int]) -> Tensor:
        free = self._free.pop(tuple(shape), None)
        return free if free is not None else self._like.new_empty(tuple(shape))

    def give(self, buffer: Tensor) -> None:
        self._free.setdefault(tuple(buffer.shape), buffer)


def _batched(x: Tensor, edges: int) -> bool:
    """Whether k edges are mixed with whole-output ops (a fixed number of ops per call: what a
    launch-bound GPU wants) rather than edge by edge (a fixed number of ops per edge).

    Whole-output ops stream the k-fold output through memory once per term; edge by edge, each
    mixture is built in an input-sized buffer that stays in cache and is written once. On CPU
    the second measured about twice as fast at every size a search uses (16×8×16×16 to
    64×32×32×32 inputs, k = 2 and 4: docs/performance.md), so a CPU call mixes edge by edge.
    """
    return edges > 1 and x.device.type != "cpu"


def _forward_batched(
    x: Tensor,
    config: _Config,
    c: dict[str, Tensor],
    beta: Tensor | None,
    seed: int | None,
    edges: int,
) -> Tensor:
    """σ(x) of every edge as ``(pre, k, post)`` with whole-output ops: each term is a basis of
    ``x`` (``(pre, 1, post)``, or per edge ``(pre, k, post)``) times its ``(1, k, 1)``
    coefficients, accumulated into the output."""
    out: Tensor | None = None

    def add(term: Tensor, column: str) -> None:
        nonlocal out
        coefficient = c[column].view(1, edges, 1)
        out = term * coefficient if out is None else out.addcmul_(term, coefficient)

    neg = None
    if config.has_linear or config.has_exp or config.has_celu_exp:
        neg = torch.clamp_max(x, 0)
    if config.has_linear:
        assert neg is not None
        add(x, "pos")
        add(neg, "neg_minus_pos")
        if seed is not None:
            add(_edge_levels(x, seed, edges).permute(1, 0, 2).mul_(neg), "noise")
    if "relu6" in config.present:
        add(torch.clamp(x, 0, 6), "relu6")
    if "swish" in config.present:
        assert beta is not None
        add(torch.mul(x, beta.view(1, edges, 1)).sigmoid_().mul_(x), "swish")
    if config.has_celu_exp:
        assert neg is not None
        add(torch.mul(neg, 1.0 / config.celu_alpha).expm1_(), "celu")
    if config.has_exp:
        assert neg is not None
        add(neg.expm1_(), "exp")
    assert out is not None
    return out


def _edge_levels(x: Tensor, seed: int, edges: int) -> Tensor:
    """The k edges' RReLU levels as ``(k, pre, post)`` (x's element order within an edge):
    edge ``e``'s are those of seed ``seed + e``, as a single-edge call draws them."""
    levels = x.new_empty((edges, *x.shape[::2]))
    size = levels[0].numel()
    for edge in range(edges):
        levels[edge].view(-1).copy_(_draw_levels(size, seed + edge, x.device))
    return levels


def _forward(
    x: Tensor,
    config: _Config,
    c: dict[str, Tensor],
    beta: Tensor | None,
    seed: int | None,
    edges: int,
) -> Tensor:
    """σ(x) of every edge as ``(pre, k, post)``, from ``x`` as ``(pre, 1, post)``.

    The bases that depend on ``x`` alone (``n = min(x, 0)``, ``clamp(x, 0, 6)``, the
    ``expm1``s) are computed once, on first use. Each edge's mixture is then built in an
    input-sized buffer (:func:`_mix_edge`) and written to its block of the output once: on CPU
    that buffer stays in cache, whereas full-size multiply-adds with (k, 1) coefficients stream
    the whole output through memory once per term and cost more than the k-fold op count
    saves. With one edge the buffer is the output itself.
    """
    pre, _, post = x.shape
    scratch = _Scratch(x)
    out = scratch.take((pre, edges, post))
    neg = None
    if config.has_linear or config.has_exp or config.has_celu_exp:
        neg = torch.clamp_max(x, 0, out=scratch.take(x.shape))
    shared: dict[str, Tensor] = {}

    def basis(name: str) -> Tensor:
        """A shared basis, computed on first use; with one edge, ``expm1(n)`` is computed in
        place of ``n``, whose last use comes before it."""
        if name not in shared:
            if name == "relu6":
                shared[name] = torch.clamp(x, 0, 6, out=scratch.take(x.shape))
            else:
                assert neg is not None
                if name == "celu":
                    scaled = torch.mul(neg, 1.0 / config.celu_alpha, out=scratch.take(x.shape))
                    shared[name] = scaled.expm1_()
                elif edges == 1:
                    shared[name] = neg.expm1_()
                else:
                    shared[name] = torch.expm1(neg, out=scratch.take(x.shape))
        return shared[name]

    mix = out if edges == 1 else scratch.take(x.shape)
    for edge in range(edges):
        edge_seed = None if seed is None else seed + edge
        block = out[:, edge : edge + 1] if edges > 1 else out
        _mix_edge(block, mix, x, neg, basis, config, c, edge, beta, edge_seed, scratch)
    return out


def _mix_edge(
    block: Tensor,
    mix: Tensor,
    x: Tensor,
    neg: Tensor | None,
    basis: Callable[[str], Tensor],
    config: _Config,
    c: dict[str, Tensor],
    edge: int,
    beta: Tensor | None,
    seed: int | None,
    scratch: _Scratch,
) -> None:
    """Edge ``edge``'s σ(x) into its output ``block``, built in the x-sized buffer ``mix``
    (which may be the block itself), with the RReLU noise :func:`rrelu_levels` for ``seed``.
    The last term's op writes the block, so a strided block is written once and never read.

    Tensor coefficients cannot ride along in ``addcmul_(value=…)`` as Python scalars did, so
    swish and the noise are folded into slopes, ``x·(pos + swish·s)`` and ``(neg - pos +
    noise·L)·n``, built with ``mul_``/``add_``: an op with two broadcast coefficients
    (``addcmul(pos, s, swish)``) falls off torch's vectorized CPU loop and costs several
    passes.
    """
    terms = sum(
        (
            "swish" in config.present or config.has_linear,  # x·(pos + swish·s), or pos·x
            config.has_linear,  # the slope on x <= 0
            "relu6" in config.present,
            config.has_celu_exp,
            config.has_exp,
        )
    )
    written = 0

    def target() -> Tensor:
        """Where the next term's op writes: the block for the last term, else mix."""
        nonlocal written
        written += 1
        return block if written == terms else mix

    def add(term: Tensor, coefficient: Tensor) -> None:
        """mix += coefficient·term (the first term sets mix)."""
        if written:
            torch.addcmul(mix, term, coefficient, out=target())
        else:
            torch.mul(term, coefficient, out=target())

    def coefficient(column: str) -> Tensor:
        return c[column][edge]

    if "swish" in config.present:
        assert beta is not None
        torch.mul(x, beta[edge], out=mix).sigmoid_()
        torch.mul(mix.mul_(coefficient("swish")).add_(coefficient("pos")), x, out=target())
    elif config.has_linear:
        add(x, coefficient("pos"))
    if config.has_linear:
        assert neg is not None
        if seed is None:
            add(neg, coefficient("neg_minus_pos"))
        else:
            # RReLU's random part joins the constant slope: (neg - pos + noise·L)·n.
            slope = scratch.take(x.shape)
            slope.view(-1).copy_(_draw_levels(slope.numel(), seed, x.device))
            add(slope.mul_(coefficient("noise")).add_(coefficient("neg_minus_pos")), neg)
            scratch.give(slope)
    if "relu6" in config.present:
        add(basis("relu6"), coefficient("relu6"))
    if config.has_celu_exp:
        add(basis("celu"), coefficient("celu"))
    if config.has_exp:
        add(basis("exp"), coefficient("exp"))


def _backward(
    grad: Tensor,
    x: Tensor,
    config: _Config,
    c: dict[str, Tensor],
    beta: Tensor | None,
    seed: int | None,
    need: tuple[bool, bool, bool, bool],
    batched: bool = False,
) -> tuple[Tensor | None, dict[str, Tensor]]:
    """The input's gradient and the per-edge dot products that the parameters' gradients are
    made of, recomputed from ``x`` (1, m) for the edge-major ``grad`` (k, m).

    σ_e'(x) is ``base_e + (pos_e - base_e)·[x>0] + relu6_e·[0<x<6] + exp_e·expm1(n) +
    celu_slope_e·expm1(n/celu_alpha)`` plus the per-edge terms (RReLU noise on ``x <= 0``,
    swish's derivative), with ``n = min(x, 0)``. All but the per-edge terms are a function of
    ``x`` times an edge's coefficient, so in ``grad_x = Σ_e grad_e·σ_e'(x)`` the gradient
    enters each of them once, as the coefficient-weighted sum ``Σ_e coef_e·grad_e`` (a
    matrix-vector product), and the rest runs at x's size; the per-edge terms are computed
    edge by edge at x's size and multiplied by that edge's gradient row. One edge instead
    builds σ'(x) and multiplies it by the gradient once, which takes fewer passes. The dot
    products with the shared bases are one matrix-vector product each. The masks use aten's
    ``threshold_backward``/``hardtanh_backward``: single passes with exactly torch's
    conventions at the kinks (ReLU and ReLU6 have slope 0 at 0 and 6; the slopes of the
    negative side apply at ``x == 0``). The returned sums, one (k,) tensor each, are keyed by
    the coefficient column they are the gradient of, plus ``"beta"`` for Swish's
    ``Σ grad·x²·s·(1 - s)``.
    """
    need_x, need_w, need_prelu, need_beta = need
    size = grad.shape[1]
    scratch = _Scratch(x)
    sums: dict[str, Tensor] = {}
    # Σ_e grad_e·(per-edge terms of σ_e'), built edge by edge at x's size. One edge applies
    # its gradient once at the end instead (see below), so its terms are summed bare.
    single = grad.shape[0] == 1
    per_edge: Tensor | None = None

    def collect(term: Tensor, row: Tensor) -> Tensor | None:
        """per_edge += term·row; returns ``term``'s buffer if it is free afterwards, None if
        it became per_edge."""
        nonlocal per_edge
        if per_edge is None:
            per_edge = term if single else term.mul_(row)
            return None
        if single:
            per_edge.add_(term)
        else:
            per_edge.addcmul_(term, row)
        return term

    needs_neg = (
        seed is not None
        or config.has_exp
        or config.has_celu_exp
        or need_prelu
        or (need_w and config.has_linear)
    )
    neg = torch.clamp_max(x, 0, out=scratch.take(x.shape)) if needs_neg else None
    if need_w and config.has_linear:
        sums["pos"] = torch.mv(grad, x[0])
    if neg is not None and (need_prelu or (need_w and config.has_linear)):
        sums["neg_minus_pos"] = torch.mv(grad, neg[0])
    if need_w and "relu6" in config.present:
        clamped = torch.clamp(x, 0, 6, out=scratch.take(x.shape))
        sums["relu6"] = torch.mv(grad, clamped[0])
        scratch.give(clamped)
    if batched and "swish" in config.present and (need_x or need_w or need_beta):
        # All edges at once, as (k, m) rows.
        assert beta is not None
        s_all = torch.mul(x, beta.unsqueeze(1)).sigmoid_()
        t_all = torch.mul(x, s_all)  # x·σ(bx)
        if need_w:
            sums["swish"] = torch.mul(grad, t_all).sum(1)
        u_all = t_all.addcmul_(t_all, s_all, value=-1.0)  # x·s·(1 - s)
        if need_x:
            slope_all = s_all.addcmul_(u_all, beta.unsqueeze(1))
            per_edge = torch.mv(slope_all.mul_(grad).T, c["swish"]).unsqueeze(0)
        if need_beta:
            sums["beta"] = torch.mul(grad, u_all.mul_(x)).sum(1)
    elif "swish" in config.present and (need_x or need_w or need_beta):
        # Edge by edge in input-sized buffers, as in forward.
        assert beta is not None
        s: Tensor | None = None
        t = scratch.take(x.shape)
        swish_dots, beta_dots = [], []
        for edge, row in enumerate(grad):
            s = torch.mul(x, beta[edge], out=s if s is not None else scratch.take(x.shape))
            s.sigmoid_()
            torch.mul(x, s, out=t)  # x·σ(bx)
            if need_w:
                swish_dots.append(torch.dot(row, t[0]))
            u = t.addcmul_(t, s, value=-1.0)  # x·s·(1 - s)
            if need_x:  # ∂/∂x x·σ(bx) = s + b·x·s·(1 - s)
                slope = s.addcmul_(u, beta[edge]).mul_(c["swish"][edge])
                if collect(slope, row) is None:  # s became per_edge
                    s = None
            if need_beta:  # ∂/∂b x·σ(bx) = x²·s·(1 - s)
                beta_dots.append(torch.dot(row, u.mul_(x)[0]))
        if need_w:
            sums["swish"] = torch.stack(swish_dots)
        if need_beta:
            sums["beta"] = torch.stack(beta_dots)
        for buffer in (s, t):
            if buffer is not None:
                scratch.give(buffer)
    if batched and seed is not None:
        # All edges at once, as (k, m) rows: the levels apply on x <= 0 only.
        assert neg is not None
        levels_all = _edge_levels(x.view(1, 1, -1), seed, grad.shape[0]).view(grad.shape)
        if need_w:
            sums["noise"] = torch.mul(grad, levels_all).mul_(neg).sum(1)
        if need_x:
            levels_all.masked_fill_(x > 0, 0.0).mul_(grad)
            noise = torch.mv(levels_all.T, c["noise"]).unsqueeze(0)
            per_edge = noise if per_edge is None else per_edge.add_(noise)
    elif seed is not None:
        # Edge by edge in input-sized buffers, as in forward.
        assert neg is not None
        levels = scratch.take(x.shape)
        noise_dots = []
        for edge, row in enumerate(grad):
            levels[0].copy_(_draw_levels(size, seed + edge, x.device))
            if need_w:
                product = torch.mul(levels, neg, out=scratch.take(x.shape))
                noise_dots.append(torch.dot(row, product[0]))
                scratch.give(product)
            if need_x:
                # The levels apply on x <= 0 only: zero them elsewhere.
                above = torch.ops.aten.threshold_backward.grad_input(
                    levels, x, 0, grad_input=scratch.take(x.shape)
                )
                if collect(levels.sub_(above).mul_(c["noise"][edge]), row) is None:
                    levels = above  # the levels became per_edge
                else:
                    scratch.give(above)
        if need_w:
            sums["noise"] = torch.stack(noise_dots)
        scratch.give(levels)
    em1c = em1 = None
    if config.has_celu_exp and (need_w or need_x):
        assert neg is not None
        em1c = torch.mul(neg, 1.0 / config.celu_alpha, out=scratch.take(x.shape)).expm1_()
        if need_w:
            sums["celu"] = torch.mv(grad, em1c[0])
    if config.has_exp and (need_w or need_x):
        assert neg is not None
        em1 = neg.expm1_()
        if need_w:
            sums["exp"] = torch.mv(grad, em1[0])
    if not need_x:
        return None, sums

    jumps = config.has_linear or config.has_exp or config.has_celu_exp
    if single:
        # σ'(x) at x's size, multiplied by the gradient once.
        field = per_edge
        for term, column in ((em1, "exp"), (em1c, "celu_slope")):
            if term is not None:
                field = term.mul_(c[column]) if field is None else field.addcmul_(term, c[column])
        if field is None:
            grad_x = torch.mul(grad, c["base"], out=scratch.take(x.shape))
        else:
            grad_x = field.add_(c["base"]).mul_(grad)
        if jumps:
            above = torch.ops.aten.threshold_backward.grad_input(
                grad, x, 0, grad_input=scratch.take(x.shape)
            )
            grad_x.addcmul_(above, c["pos_minus_base"])
            scratch.give(above)
        if "relu6" in config.present:
            inside = torch.ops.aten.hardtanh_backward.grad_input(
                grad, x, 0, 6, grad_input=scratch.take(x.shape)
            )
            grad_x.addcmul_(inside, c["relu6"])
        return grad_x, sums

    def weighted(column: str) -> Tensor:
        """Σ_e c[column]_e·grad_e, as (1, m)."""
        total = scratch.take(x.shape)
        torch.mv(grad.T, c[column], out=total[0])
        return total

    # Several edges: the gradient enters each shared term once, weighted over the edges.
    grad_x = weighted("base")
    if jumps:
        jump = weighted("pos_minus_base")
        grad_x.add_(torch.ops.aten.threshold_backward.grad_input(jump, x, 0, grad_input=jump))
        scratch.give(jump)
    if "relu6" in config.present:
        inside = weighted("relu6")
        grad_x.add_(torch.ops.aten.hardtanh_backward.grad_input(inside, x, 0, 6, grad_input=inside))
        scratch.give(inside)
    for term, column in ((em1, "exp"), (em1c, "celu_slope")):
        if term is not None:
            slope = weighted(column)
            grad_x.addcmul_(term, slope)
            scratch.give(slope)
    if per_edge is not None:
        grad_x.add_(per_edge)
    return grad_x, sums


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


class _MixedActivation(torch.autograd.Function):
    """Autograd wrapper for k edges: saves ``x``, the (k, n) weights, the two (k,) parameters
    and a seed; backward recomputes the rest.

    The coefficient table (a few numbers per edge) is kept on ``ctx`` rather than recomputed:
    it is derived from the saved inputs and only ever read. Half-precision inputs are
    computed in float32 (one conversion each way) and saved as they came, so the saved bytes
    stay those of ``x``.
    """

    @staticmethod
    def forward(
        ctx: FunctionCtx,
        x: Tensor,
        weights: Tensor,
        prelu_weight: Tensor | None,
        swish_beta: Tensor | None,
        config: _Config,
        layout: _Layout,
        seed: int | None,
    ) -> Tensor:
        dtype = _compute_dtype(x.dtype)
        prelu = prelu_weight.to(dtype) if prelu_weight is not None else None
        coefficients = _coefficients(config, weights.to(dtype), prelu)
        beta = swish_beta.to(dtype) if swish_beta is not None else None
        forward = _forward_batched if layout.batched else _forward
        out = forward(layout.input(x.to(dtype)), config, coefficients, beta, seed, layout.edges)
        params = [t for t in (prelu_weight, swish_beta) if t is not None]
        ctx.save_for_backward(x, weights, *params)
        ctx.config = config  # type: ignore[attr-defined]
        ctx.layout = layout  # type: ignore[attr-defined]
        ctx.seed = seed  # type: ignore[attr-defined]
        ctx.coefficients = coefficients  # type: ignore[attr-defined]
        return layout.output(out).to(x.dtype)

    @staticmethod
    def backward(
        ctx: FunctionCtx, grad: Tensor
    ) -> tuple[Tensor | None, Tensor | None, Tensor | None, Tensor | None, None, None, None]:
        config: _Config = ctx.config  # type: ignore[attr-defined]
        layout: _Layout = ctx.layout  # type: ignore[attr-defined]
        seed: int | None = ctx.seed  # type: ignore[attr-defined]
        c: dict[str, Tensor] = ctx.coefficients  # type: ignore[attr-defined]
        x, weights, *params = ctx.saved_tensors  # type: ignore[attr-defined]
        prelu_weight = params.pop(0) if "prelu" in config.present else None
        swish_beta = params.pop(0) if "swish" in config.present else None
        # False for absent parameters: the public functions pass None for them.
        need_x, need_w, need_prelu, need_beta = ctx.needs_input_grad[:4]  # type: ignore[attr-defined]
        grads: list[Tensor | None] = [None, None, None, None]
        with torch.no_grad():
            dtype = _compute_dtype(x.dtype)
            prelu = prelu_weight.to(dtype) if prelu_weight is not None else None
            beta = swish_beta.to(dtype) if swish_beta is not None else None
            grad_x, sums = _backward(
                layout.edge_major(grad.to(dtype)),
                layout.flat_input(x.to(dtype)),
                config,
                c,
                beta,
                seed,
                (need_x, need_w, need_prelu, need_beta),
                layout.batched,
            )
            if grad_x is not None:
                grads[0] = layout.unflatten_input(grad_x).to(x.dtype)
            if need_w:
                columns = [sums[column] for column in config.forward_columns]
                if prelu is not None:
                    columns.append(sums["neg_minus_pos"] * prelu)
                to_weights = _basis(config, dtype, x.device).to_weights
                grads[1] = torch.mm(torch.stack(columns, dim=1), to_weights).to(weights.dtype)
            if prelu_weight is not None and need_prelu:
                w_prelu = weights[:, config.names.index("prelu")].to(dtype)
                grads[2] = (sums["neg_minus_pos"] * w_prelu).to(prelu_weight.dtype)
            if swish_beta is not None and need_beta:
                grads[3] = (sums["beta"] * c["swish"]).to(swish_beta.dtype)
        if torch.is_grad_enabled():  # create_graph=True: guard against double backward
            present = [g for g in grads if g is not None]
            anchors = [x, weights, *(t for t in (prelu_weight, swish_beta) if t is not None)]
            guarded = iter(_DoubleBackwardGuard.apply(len(present), *present, *anchors))
            grads = [None if g is None else next(guarded) for g in grads]
        return grads[0], grads[1], grads[2], grads[3], None, None, None


def _config(
    names: tuple[str, ...],
    present: frozenset[str],
    training: bool,
    options: tuple[float, float, float, float, float],
) -> _Config:
    rrelu_lower, rrelu_upper, leaky_slope, elu_alpha, celu_alpha = map(float, options)
    return _Config(
        names=names,
        present=present,
        training=training,
        rrelu_lower=rrelu_lower,
        rrelu_upper=rrelu_upper,
        leaky_slope=leaky_slope,
        elu_alpha=elu_alpha,
        celu_alpha=celu_alpha,
    )


def grouped_mixed_activation(
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
    """The mixed activations of k edges that share the input ``x``, in one call.

    Cell edges that leave the same node see the same ``x`` but mix it with their own weights
    (a row of β), PReLU slope and Swish ``b``. Computing them together shares every pass that
    depends on ``x`` alone and replaces k calls' worth of small ops by one call's.

    Args:
        x: input of shape ``(N, C, ...)``, float32 or float64 (float16/bfloat16 are computed
            in float32 and returned in their own dtype); contiguous or channels-last.
        weights: ``(k, n)``; row ``e`` holds edge ``e``'s weights for ``names``;
            differentiable.
        names: a non-empty subset of :data:`ACTIVATION_NAMES`, in any order, no duplicates.
        prelu_weight: ``(k,)``, edge ``e``'s PReLU slope; required iff ``names`` includes
            ``"prelu"``, ignored otherwise; differentiable.
        swish_beta: ``(k,)``, edge ``e``'s ``b`` in ``x·sigmoid(b·x)``; required iff ``names``
            includes ``"swish"``, ignored otherwise; differentiable.
        training, rrelu_lower, rrelu_upper, leaky_slope, elu_alpha, celu_alpha: as for
            :func:`fused_mixed_activation`, shared by all edges.
        generator: source of RReLU's training-mode randomness (default: torch's CPU default
            generator). One seed ``s`` is drawn per call (:func:`draw_rrelu_seed`) and edge
            ``e``'s levels are ``rrelu_levels(x, s + e)``: a single-edge call whose seed draw
            gives ``s + e`` reproduces edge ``e`` exactly. Backward regenerates the same
            levels from ``s``.

    Returns ``(N, k·C, ...)`` in x's dtype, where channels ``[e·C, (e+1)·C)`` are edge ``e``'s
    mixture, equal to ``fused_mixed_activation(x, weights[e], names,
    prelu_weight=prelu_weight[e:e+1], swish_beta=swish_beta[e:e+1], ...)``. For a
    channels-last 4-D ``x`` the result is channels-last (its memory is ``(N, H, W, k, C)``),
    otherwise contiguous (memory ``(N, k, C, ...)``). Gradients flow to ``x`` (summed over
    the edges), to ``weights`` (k, n), and to the (k,) parameters, each in its own input's
    dtype and shape; double backward raises, as for :func:`fused_mixed_activation`.

    Nothing is read back to the host (no device sync), except the seed draw from a CPU
    generator in training mode with RReLU mixed in.
    """
    ordered, present = _validate_grouped(x, weights, names, prelu_weight, swish_beta)
    options = (rrelu_lower, rrelu_upper, leaky_slope, elu_alpha, celu_alpha)
    config = _config(ordered, present, training, options)
    edges = weights.shape[0]
    seed = draw_rrelu_seed(generator) if config.random_rrelu else None
    return _MixedActivation.apply(
        x,
        weights,
        prelu_weight.reshape(edges) if prelu_weight is not None and "prelu" in present else None,
        swish_beta.reshape(edges) if swish_beta is not None and "swish" in present else None,
        config,
        _Layout.of(x, edges, grouped=True),
        seed,
    )


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

    This is :func:`grouped_mixed_activation` for one edge, so it reads nothing back to the
    host either (no device sync): the weights and scalars reach the element-wise passes as
    device tensors.
    """
    ordered, present = _validate(x, weights, names, prelu_weight, swish_beta)
    options = (rrelu_lower, rrelu_upper, leaky_slope, elu_alpha, celu_alpha)
    config = _config(ordered, present, training, options)
    seed = draw_rrelu_seed(generator) if config.random_rrelu else None
    return _MixedActivation.apply(
        x,
        weights.unsqueeze(0),
        prelu_weight.reshape(1) if prelu_weight is not None and "prelu" in present else None,
        swish_beta.reshape(1) if swish_beta is not None and "swish" in present else None,
        config,
        _Layout.of(x, 1, grouped=False),
        seed,
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
