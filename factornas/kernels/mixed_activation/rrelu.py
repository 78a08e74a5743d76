"""RReLU's training-mode noise: where it comes from, and how backward gets the same again.

RReLU is the one activation whose value is random. A call's noise comes from one of two
sources, an :class:`RReLUNoise` either way, and forward, backward and the naive reference read
it through the same two methods:

* **a host seed** (CPU inputs): the call draws one integer from the caller's generator
  (:func:`draw_rrelu_seed`, the only host read the kernel makes, of a CPU generator: no device
  sync) and every level is produced by a private generator seeded with it
  (:func:`_draw_levels`). Backward re-seeds and regenerates the same levels, so the noise costs
  no memory between forward and backward, and a 64-bit draw yields four 16-bit levels, which
  keeps the CPU's serial generator cheap.
* **levels drawn on the device** (CUDA inputs): :func:`draw_rrelu_levels` samples the levels
  from the device's own generator (torch's default CUDA generator unless the caller gives
  another of that device) and the autograd function saves them, as ``int16``, for backward.
  Nothing is read on the host, and a CUDA graph that captured the draw replays it with fresh
  numbers every time (torch advances the captured generator's philox offset on each replay), so
  a search with RReLU mixed in can be graphed. Storing instead of regenerating costs 2 bytes per
  element and edge (docs/design-decisions.md gives the arithmetic).

Both give every element a level ``k ~ U{-2**15, …, 2**15 - 1}`` (:data:`RRELU_BITS`), the
k-th level going to the k-th element in memory order; the slope is ``mean + step·k``. Which
source a call uses is :func:`_draws_on_device`'s decision.

Every consumer goes through this module's own attributes (``rrelu.draw_rrelu_seed(...)``,
``rrelu._draws_on_device(...)``, :func:`_fill_levels`, :func:`_edge_levels`), so replacing
:func:`draw_rrelu_seed`, :func:`draw_rrelu_levels`, :func:`_draws_on_device` or
:func:`_draw_levels` on this module (as tests do, to fix the seeds or the noise, or to run the
device path on a CPU) takes effect in every pass.
"""

from __future__ import annotations

from dataclasses import dataclass

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
    default generator (seeded by :func:`torch.manual_seed`). The kernel draws a seed only for
    the inputs whose levels are not drawn on their device (:func:`_draws_on_device`): a CUDA
    seed read back would synchronise the device on every call.
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
    return _in_layout(_draw_levels(like.numel(), seed, like.device), like)


def _in_layout(levels: Tensor, like: Tensor) -> Tensor:
    """Integer ``levels`` in memory order as floating point (float32 for half-precision
    ``like``, else its dtype) in ``like``'s shape and layout."""
    order = _memory_order(like)
    physical = [like.shape[d] for d in order]
    inverse = [order.index(d) for d in range(like.dim())]
    as_float = torch.empty(like.numel(), dtype=_compute_dtype(like.dtype), device=like.device)
    return as_float.copy_(levels).view(physical).permute(inverse)


def _to_slopes(levels: Tensor, lower: float, upper: float, dtype: torch.dtype) -> Tensor:
    step = (upper - lower) * 2.0**-RRELU_BITS
    return levels.mul_(step).add_(0.5 * (lower + upper)).to(dtype)


def rrelu_slopes(like: Tensor, lower: float, upper: float, seed: int) -> Tensor:
    """RReLU's random slopes ``(lower + upper) / 2 + (upper - lower)·k / 2**16`` for ``k`` from
    :func:`rrelu_levels`: uniform on ``[lower, upper)`` in steps of ``(upper - lower) / 2**16``.
    """
    return _to_slopes(rrelu_levels(like, seed), lower, upper, like.dtype)


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


def draw_rrelu_levels(
    like: Tensor, edges: int = 1, generator: torch.Generator | None = None
) -> Tensor:
    """``edges`` rows of RReLU levels for ``like``'s elements, drawn on ``like``'s device.

    The result is ``(edges, like.numel())`` ``int16``: row ``e`` holds edge ``e``'s levels
    ``k ~ U{-2**15, …, 2**15 - 1}`` (:data:`RRELU_BITS`, the host-seeded path's grid), its
    ``i``-th entry for ``like``'s ``i``-th element in memory order. They come from
    ``generator`` (default: the default generator of ``like``'s device), which moves on. The
    function is device-agnostic, so the CPU runs it with a CPU generator in tests; the kernel
    uses it where :func:`_draws_on_device` says so. Under CUDA-graph capture the draw is
    recorded and every replay draws anew, from the default CUDA generator or from one
    registered with the graph.
    """
    levels = torch.empty((edges, like.numel()), dtype=torch.int16, device=like.device)
    return levels.random_(-(2**15), 2**15, generator=generator)


def _draws_on_device(x: Tensor, generator: torch.Generator | None) -> bool:
    """Whether a call on ``x`` draws its levels on x's device (saved for backward) rather than
    a host seed: for every input off the CPU, unless the caller's generator lives elsewhere (a
    CPU generator for a CUDA input keeps the seeded noise it asks for). The CPU keeps its
    seeded levels, four per 64-bit draw of its serial generator and nothing stored."""
    if x.device.type == "cpu":
        return False
    return generator is None or generator.device == x.device


@dataclass(frozen=True)
class RReLUNoise:
    """The RReLU levels of one call's k edges: a host seed (edge ``e``'s levels are those of
    ``seed + e``) or the ``(k, m)`` ``int16`` levels drawn on the device, edge-major, each row
    in the input's memory order (:func:`draw_rrelu_levels`); exactly one of the two is set."""

    seed: int | None = None
    drawn: Tensor | None = None

    def fill(self, buffer: Tensor, edge: int) -> Tensor:
        """``buffer`` (contiguous, the compute dtype, the input's size) filled, in memory
        order, with edge ``edge``'s levels."""
        if self.drawn is not None:
            return buffer.view(-1).copy_(self.drawn[edge])
        assert self.seed is not None
        return _fill_levels(buffer, self.seed + edge)

    def edge_levels(self, x: Tensor, edges: int) -> Tensor:
        """The k edges' levels as ``(k, pre, post)`` in the compute dtype, for ``x`` viewed
        as ``(pre, 1, post)`` in memory order."""
        if self.drawn is not None:
            return self.drawn.view(edges, x.shape[0], x.shape[2]).to(x.dtype)
        assert self.seed is not None
        return _edge_levels(x, self.seed, edges)

    def levels(self, like: Tensor, edge: int = 0) -> Tensor:
        """Edge ``edge``'s levels as floating point in ``like``'s shape and layout, as
        :func:`rrelu_levels` gives them for a seed (the naive reference's view)."""
        if self.drawn is None:
            assert self.seed is not None
            return rrelu_levels(like, self.seed + edge)
        return _in_layout(self.drawn[edge], like)

    def slopes(self, like: Tensor, lower: float, upper: float, edge: int = 0) -> Tensor:
        """Edge ``edge``'s slopes ``(lower + upper) / 2 + (upper - lower)·k / 2**16``, as
        :func:`rrelu_slopes` computes them from a seed."""
        return _to_slopes(self.levels(like, edge), lower, upper, like.dtype)


def draw_noise(x: Tensor, edges: int, generator: torch.Generator | None) -> RReLUNoise:
    """The noise of one training-mode call on ``x`` with ``edges`` edges: levels drawn on x's
    device where :func:`_draws_on_device` says so, a host seed otherwise."""
    if _draws_on_device(x, generator):
        return RReLUNoise(drawn=draw_rrelu_levels(x, edges, generator))
    return RReLUNoise(seed=draw_rrelu_seed(generator))
