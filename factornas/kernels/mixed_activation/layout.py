"""How tensors are laid out and held while the element-wise passes run.

The passes in :mod:`.forward` and :mod:`.backward` never see the caller's tensors directly:
:class:`_Layout` views the input in memory order as ``(pre, 1, post)`` and hands the output
back as the caller expects it (x's own shape for one edge, ``(N, k·C, ...)`` for k), so one
formulation serves contiguous and channels-last inputs, one edge and many. Around that sit the
other decisions about memory: the working precision (:func:`_compute_dtype`), reusable scratch
buffers (:class:`_Scratch`), and whether k edges are mixed edge by edge (CPU) or with
whole-output ops (an accelerator, :func:`_batched`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor


def _compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """float32 for half-precision inputs, whose 8- or 11-bit significands cannot hold the
    2**16 RReLU levels exactly and whose rounding would swamp the fused sums; float32 and
    float64 stay as they are."""
    return torch.promote_types(dtype, torch.float32)


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
    batched: bool = False

    @staticmethod
    def of(x: Tensor, edges: int) -> _Layout:
        order = _memory_order(x)
        return _Layout(order, tuple(x.shape[d] for d in order), edges, _batched(x, edges))

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
        ``(N, k·C, ...)`` for a group (a view either way). With one edge the two coincide, for
        any input (a 0-D or 1-D ``x`` included): the fused kernel is the grouped one at k = 1."""
        shape = self.physical
        if self.edges > 1:
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
