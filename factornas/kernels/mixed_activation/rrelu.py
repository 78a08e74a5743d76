"""RReLU's training-mode noise: where it comes from, and how backward gets the same again.

RReLU is the one activation whose value is random. Instead of storing its noise for backward,
a call draws one integer seed from the caller's generator (:func:`draw_rrelu_seed`, the only
host read the kernel makes), and every level of noise is produced by a private generator
seeded with it (:func:`_draw_levels`). Forward, backward, the naive reference
(:func:`rrelu_slopes`) and the tests (:func:`rrelu_levels`) therefore agree bit for bit, and
the noise costs no memory between forward and backward.

Every consumer goes through this module's own attributes (``rrelu.draw_rrelu_seed(...)``,
:func:`_fill_levels`, :func:`_edge_levels`), so replacing :func:`draw_rrelu_seed` or
:func:`_draw_levels` on this module (as tests do, to fix the seeds or the noise) takes effect
in every pass.
"""

from __future__ import annotations

import torch
from torch import Tensor

from factornas.kernels.mixed_activation.layout import _compute_dtype, _memory_order

# Seeds are drawn in [0, 2**63 - 1): every value is a valid ``Generator.manual_seed`` argument.
_SEED_BOUND = 2**63 - 1


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


def rrelu_slopes(like: Tensor, lower: float, upper: float, seed: int) -> Tensor:
    """RReLU's random slopes ``(lower + upper) / 2 + (upper - lower)·k / 2**16`` for ``k`` from
    :func:`rrelu_levels`: uniform on ``[lower, upper)`` in steps of ``(upper - lower) / 2**16``.
    """
    step = (upper - lower) * 2.0**-RRELU_BITS
    return rrelu_levels(like, seed).mul_(step).add_(0.5 * (lower + upper)).to(like.dtype)


def _fill_levels(buffer: Tensor, seed: int) -> Tensor:
    """``buffer`` (contiguous, the compute dtype) filled, in memory order, with the levels of
    ``seed``: those :func:`rrelu_levels` gives a like-shaped tensor in the same layout."""
    return buffer.view(-1).copy_(_draw_levels(buffer.numel(), seed, buffer.device))


def _edge_levels(x: Tensor, seed: int, edges: int) -> Tensor:
    """The k edges' RReLU levels as ``(k, pre, post)`` (x's element order within an edge):
    edge ``e``'s are those of seed ``seed + e``, as a single-edge call draws them."""
    levels = x.new_empty((edges, *x.shape[::2]))
    for edge in range(edges):
        _fill_levels(levels[edge], seed + edge)
    return levels
