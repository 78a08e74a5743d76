"""Every edge leaving one node of a search cell, computed together (grouped execution).

The cell's edges are grouped by *source* node (docs/design-decisions.md says why): the edges
leaving a node share their input, their stride (stride 2 exactly on the edges leaving a
reduction cell's inputs) and their module shapes, and their targets are the later nodes. For
those k edges this module evaluates Eq. 2 as :class:`~factornas.supernet.edge.MixedEdge` does
for one, but each candidate path runs once for all k (:mod:`factornas.supernet.stacked`): the
input factors' mixtures are computed once per node and factor chain (the built-in activation
group mixes all k edges' β in one kernel call), pools once per node, each conv once as a
grouped conv, each BN once over the concatenated channels. The result is ``(N, k, C, H, W)``,
edge ``e``'s output at ``[:, e]``, equal to the per-edge computation up to float rounding.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import cast

import torch
from torch import Tensor, nn

from factornas.factors.base import FactorGroup
from factornas.space.config import ResolvedFactor
from factornas.supernet.edge import MixedEdge
from factornas.supernet.stacked import (
    Edges,
    batch_norm,
    layers,
    norm_settings,
    run_layers,
    run_stacked,
)

#: ``(edges, shared input, weights with one row per edge) -> (N, k, C, H, W)``.
EdgeRunner = Callable[[Sequence[nn.Module], Tensor, Mapping[str, Tensor]], Tensor]
EDGE_RUNNERS: dict[type, EdgeRunner] = {}


def run_edges(edges: Sequence[nn.Module], x: Tensor, weights: Mapping[str, Tensor]) -> Tensor:
    """The outputs of ``edges`` (one source node's, same type) on their shared input ``x``.

    An edge type without a grouped runner (a user's ``edge_factory``) runs edge by edge.
    """
    runner = EDGE_RUNNERS.get(type(edges[0]))
    if runner is None or any(type(e) is not type(edges[0]) for e in edges):
        outputs = [edge(x, {g: w[e] for g, w in weights.items()}) for e, edge in enumerate(edges)]
        return torch.stack(outputs, dim=1)
    return runner(edges, x, weights)


#: The device types whose grouped cells sum with per-channel vectors (:func:`per_channel_sums`):
#: none yet. Measured once on a CPU (one thread, NHWC, 16×8×16×16 per edge, k = 4, 7 terms,
#: forward and backward): 6.76 ms against 3.81 ms for per-edge weights, 224 aten ops against
#: 159 (docs/performance.md); a GPU's choice is the device suite's ``weighted_sums`` stage.
PER_CHANNEL_SUMS: frozenset[str] = frozenset()


def per_channel_sums(x: Tensor) -> bool:
    """Whether the weighted sums of k edges on ``x``'s device take their weights as one
    per-channel vector ``(1, k·C, 1, ...)`` on the edge-stacked ``(N, k·C, ...)`` outputs
    rather than one weight per edge ``(1, k, 1, ...)`` broadcast over ``(N, k, C, ...)`` views
    (:data:`PER_CHANNEL_SUMS`).

    The two are the same products and sums; what differs is the loop torch runs. A (1, k, 1,
    1, 1) weight broadcast over a channels-last output leaves an inner loop of C elements per
    weight, which is why the vectors were expected to be faster; but the vector costs a
    ``repeat_interleave`` per sum and its gradient a reduction per channel and one back over
    each edge's channels, and on a CPU forward and backward together measured slower
    (``benchmarks/weighted_sum_layout.py``).
    """
    return x.device.type in PER_CHANNEL_SUMS


class WeightedSum:
    """``Σ w · y`` per edge, accumulated as the terms come, as ``(N, k, C, ...)``; ``w`` is None
    for weight 1, otherwise one weight per edge shaped ``(1, k, 1, ...)`` (:func:`columns`) or,
    with ``per_channel``, a per-channel vector ``(1, k·C, 1, ...)`` (:func:`columns` with
    ``channels``; see :func:`per_channel_sums`).

    A term is added as soon as it exists, so an op's output is freed once added (nothing else
    holds it when its weight is a constant), and weighted terms accumulate in place into the
    first product, which nothing else holds. With per-channel vectors an edge-stacked term is
    multiplied and added in its own ``(N, k·C, ...)`` shape, into a total that is a view of
    such a tensor; a term shared by the edges is broadcast against the vector viewed as
    ``(1, k, C, 1, ...)``.
    """

    def __init__(self, count: int, per_channel: bool = False) -> None:
        self.count = count
        self.per_channel = per_channel
        self.total: Tensor | None = None

    def add(self, y: Edges, w: Tensor | None) -> None:
        if w is not None and self.per_channel:
            self._add_per_channel(y, w)
            return
        y5, total = y.split(), self.total
        if w is None:
            self.total = y5 if total is None else total + y5
        else:
            self.total = y5 * w if total is None else total.addcmul_(y5, w)

    def _add_per_channel(self, y: Edges, w: Tensor) -> None:
        total, edges, channels = self.total, self.count, y.channels
        if y.shared:  # (N, 1, C, ...) against the vector as (1, k, C, 1, ...)
            y5, w5 = y.split(), w.view(1, edges, channels, *w.shape[2:])
            self.total = y5 * w5 if total is None else total.addcmul_(y5, w5)
        elif total is None:
            self.total = (y.data * w).unflatten(1, (edges, channels))
        elif _merges_edges(total):
            total.flatten(1, 2).addcmul_(y.data, w)  # a view: in place into the total
        else:  # a total that began as a shared term's broadcast product
            total.addcmul_(y.split(), w.view(1, edges, channels, *w.shape[2:]))

    def result(self) -> Tensor:
        total = self.total
        assert total is not None
        if total.shape[1] != self.count:  # every term was one tensor shared by the edges
            total = total.expand(total.shape[0], self.count, *total.shape[2:])
        return total


def _merges_edges(total: Tensor) -> bool:
    """Whether ``(N, k, C, ...)`` flattens to ``(N, k·C, ...)`` as a view (edge blocks laid
    out one after another along the channels)."""
    return (
        total.shape[1] == 1
        or total.shape[2] == 1
        or total.stride(1) == (total.shape[2] * total.stride(2))
    )


def weighted_sum(
    terms: Iterable[tuple[Edges, Tensor | None]], count: int, per_channel: bool = False
) -> Tensor:
    """:class:`WeightedSum` of ``terms``."""
    total = WeightedSum(count, per_channel)
    for y, w in terms:
        total.add(y, w)
    return total.result()


def _as_edges(total: Tensor, count: int) -> Edges:
    return Edges(total.flatten(1, 2), count, shared=False)


def columns(weights: Tensor, dims: int = 5, channels: int | None = None) -> tuple[Tensor, ...]:
    """The ``(k, n)`` weights as n per-edge scales shaped ``(1, k, 1, ...)`` for ``dims``-D
    edge-split tensors: one reshape and one unbind (one stack in backward) instead of a
    column index, a view and a scatter per candidate. With ``channels``, as n per-channel
    vectors ``(1, k·channels, 1, ...)`` for the ``(dims - 1)``-D edge-stacked tensors, each
    edge's weight repeated over its channels (one ``repeat_interleave`` more)."""
    count, n = weights.shape
    if channels is None:
        return weights.t().reshape(n, 1, count, *(1,) * (dims - 2)).unbind(0)
    repeated = weights.t().repeat_interleave(channels, dim=1)
    return repeated.reshape(n, 1, count * channels, *(1,) * (dims - 3)).unbind(0)


def mix_factor(
    factor: ResolvedFactor,
    x: Edges,
    weights: Tensor | None,
    candidates: Sequence[Sequence[nn.Module]],
) -> Edges:
    """One factor's mixture on k edges; ``candidates[e]`` are edge ``e``'s candidate modules
    and ``weights`` their ``(k, n)`` weights (None: a single, fixed candidate).

    A group with its own batched formula (:meth:`FactorGroup.mix_shared`) computes it; a group
    that overrides :meth:`FactorGroup.mix` keeps its own formula, edge by edge; every other
    group is the weighted sum of its candidates, each run for all k edges at once.
    """
    group, count = factor.group, x.count
    by_candidate = [[edge[c] for edge in candidates] for c in range(len(candidates[0]))]
    if weights is None:
        return run_stacked(by_candidate[0], x)
    if x.shared:
        mixed = group.mix_shared(x.data, weights, candidates)
        if mixed is not None:
            return Edges(mixed, count, shared=False)
    if type(group).mix is not FactorGroup.mix:
        outputs = [group.mix(x.block(e), weights[e], candidates[e]) for e in range(count)]
        return Edges(torch.cat(outputs, dim=1), count, shared=False)
    per_channel = per_channel_sums(x.data)
    scales = columns(weights, x.data.dim() + 1, x.channels if per_channel else None)
    terms = ((run_stacked(m, x), scales[c]) for c, m in enumerate(by_candidate))
    return _as_edges(weighted_sum(terms, count, per_channel), count)


def run_variants(
    edges: Sequence[MixedEdge],
    plan: int,
    combos: list[tuple],
    h: Edges,
    weights: Mapping[str, Tensor],
) -> Edges:
    """The op's variant combinations, each weighted by the product of its variants' weights."""
    modules = [cast(nn.ModuleList, edge.plans[plan][3]) for edge in edges]
    if len(combos) == 1:
        return run_stacked([m[0] for m in modules], h)
    dims = h.data.dim() + 1
    per_channel = per_channel_sums(h.data)
    channels = h.channels if per_channel else None
    scales = {
        name: columns(w, dims, channels) for name, w in weights.items() if name in dict(combos[0])
    }
    total = WeightedSum(h.count, per_channel)
    for index, combo in enumerate(combos):
        scale: Tensor | None = None
        for name, i in combo:
            if name in scales:
                scale = scales[name][i] if scale is None else scale * scales[name][i]
        total.add(run_stacked([m[index] for m in modules], h), scale)
    return _as_edges(total.result(), h.count)


def run_mixed_edges(edges: Sequence[nn.Module], x: Tensor, weights: Mapping[str, Tensor]) -> Tensor:
    """k :class:`MixedEdge` outputs on their shared input, ``(N, k, C, H', W')``."""
    mixed = cast(Sequence[MixedEdge], edges)
    first, count = mixed[0], len(mixed)
    for name in first.slots:  # the inner activation reads its edge's weights from a slot
        rows = weights.get(name)
        for e, edge in enumerate(mixed):
            edge.slots[name].value = None if rows is None else rows[e]
    op_weights = weights.get(first.cell.op.name)
    per_channel = per_channel_sums(x)
    channels = x.shape[1] if per_channel else None
    op_scales = None if op_weights is None else columns(op_weights, x.dim() + 1, channels)
    shared = Edges(x, count, shared=True)
    cache: dict[tuple[str, ...], Edges] = {}
    total = WeightedSum(count, per_channel)
    final_norms = _FinalNorms()
    for plan, (index, inputs, combos, _, output_mixtures) in enumerate(first.plans):
        scale = None if op_scales is None else op_scales[index]
        h, key = shared, cast(tuple[str, ...], ())
        for factor in inputs:
            key = (*key, factor.name)
            if key not in cache:
                candidates = [list(cast(nn.ModuleList, e.inputs[factor.name])) for e in mixed]
                cache[key] = mix_factor(factor, h, weights.get(factor.name), candidates)
            h = cache[key]
        if len(combos) == 1 and not output_mixtures:
            chains = [layers(cast(nn.ModuleList, e.plans[plan][3])[0]) for e in mixed]
            if final_norms.defer(scale, chains, h):
                continue
        y = run_variants(mixed, plan, combos, h, weights)
        for name in output_mixtures:
            candidates = [
                list(cast(nn.ModuleList, cast(nn.ModuleDict, e.plans[plan][4])[name]))
                for e in mixed
            ]
            y = mix_factor(first.factor(name), y, weights.get(name), candidates)
        total.add(y, scale)
    final_norms.run(total)
    if total.total is None:  # every op is the zero op
        zero = x[:, :, :: first.stride, :: first.stride].mul(0.0)
        return zero.unsqueeze(1).expand(zero.shape[0], count, *zero.shape[1:])
    return total.result()


class _FinalNorms:
    """The batch norms that end the ops of one node's edges, run as one call.

    Most DARTS ops end in a batch norm (every conv, and the pools during search), and every op
    of a node has the same output shape: normalizing their concatenation once is exact (BN is
    per channel) and replaces six calls, forward and backward, by one.
    """

    def __init__(self) -> None:
        #: Per norm setting: the deferred ops' weights, their norms (every edge's) and their
        #: outputs so far, edge-stacked.
        self.pending: dict[tuple, tuple[list[Tensor | None], list[nn.BatchNorm2d], list[Tensor]]]
        self.pending = {}

    def defer(self, scale: Tensor | None, chains: Sequence[Sequence[nn.Module]], h: Edges) -> bool:
        """Run every layer but a final batch norm now; False (nothing run) for other ops."""
        settings = norm_settings(chains[0][-1])
        if settings is None or any(
            len(c) != len(chains[0]) or norm_settings(c[-1]) != settings for c in chains
        ):
            return False
        body = run_layers([c[:-1] for c in chains], h).stacked()
        scales, norms, bodies = self.pending.setdefault(settings, ([], [], []))
        scales.append(scale)
        norms.extend(cast(nn.BatchNorm2d, c[-1]) for c in chains)
        bodies.append(body)
        return True

    def run(self, total: WeightedSum) -> None:
        """Normalize the deferred ops and add them to ``total``. The bodies are released as
        soon as they are joined: only the joined copy (which BN saves) stays."""
        for scales, norms, bodies in self.pending.values():
            sizes = [body.shape[1] for body in bodies]
            joined = bodies[0] if len(bodies) == 1 else torch.cat(bodies, dim=1)
            bodies.clear()
            pieces = batch_norm(norms, joined).split_with_sizes(sizes, dim=1)
            for scale, piece in zip(scales, pieces, strict=True):
                total.add(Edges(piece, total.count, shared=False), scale)
        self.pending.clear()


EDGE_RUNNERS[MixedEdge] = run_mixed_edges
