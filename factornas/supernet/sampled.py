"""Sampled-path execution: each edge runs only the op its one-hot weights chose (GDAS).

A relaxation with ``sampled = True`` (``gumbel``) gives the op group one-hot weights in value
(straight-through: ``hard − soft.detach() + soft``). Mixing every path with them would be exact
but as costly as DARTS; here each op runs only for the edges that chose it, on those edges'
modules and weight rows, and its output is multiplied by the chosen weight — 1 in value, so the
output is the op's, while α still gets the soft gradient through it.

Which op each edge chose is a host decision: :func:`sampled_op_paths` reads the argmax of every
sampled op weight of a whole forward pass (both cell types) in **one** host read per pass. It is
the one read a sampled search step makes beyond RReLU's seed (docs/relaxations.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, cast

import torch
from torch import Tensor, nn

from factornas.space.config import CellType
from factornas.supernet.edge import MixedEdge
from factornas.supernet.grouped import mix_factor, run_edges, run_variants
from factornas.supernet.stacked import Edges

if TYPE_CHECKING:
    from factornas.supernet.arch import ArchitectureParameters


def sampled_op_paths(
    arch: ArchitectureParameters, weights: Mapping[CellType, Mapping[str, Tensor]]
) -> dict[CellType, list[int]] | None:
    """Per cell type, the op index each edge runs, when the op group's relaxation samples
    (None otherwise): one host read of the concatenated argmaxes for all cell types."""
    chosen: list[tuple[CellType, Tensor]] = []
    for cell_type, rows in weights.items():
        op = arch.space.cell(cell_type).op.name
        frozen = op in arch.frozen_groups()
        if op in rows and not frozen and arch.relaxations[op].relaxation.sampled:
            chosen.append((cell_type, rows[op]))
    if not chosen:
        return None
    indices = torch.cat([w.detach().argmax(dim=-1) for _, w in chosen]).tolist()
    out: dict[CellType, list[int]] = {}
    start = 0
    for cell_type, w in chosen:
        out[cell_type] = indices[start : start + w.shape[0]]
        start += w.shape[0]
    return out


def run_sampled_edges(
    edges: Sequence[nn.Module], x: Tensor, weights: Mapping[str, Tensor], chosen: Sequence[int]
) -> Tensor:
    """The outputs ``(N, k, C, H', W')`` of k edges sharing input ``x``, edge e running only op
    ``chosen[e]`` scaled by its op weight. Edges other than :class:`MixedEdge` (PC-DARTS's)
    mix every path with the one-hot weights instead: exact, only not cheaper."""
    if any(type(edge) is not MixedEdge for edge in edges):
        return run_edges(edges, x, weights)
    mixed = cast(Sequence[MixedEdge], edges)
    first = mixed[0]
    op_weights = weights[first.cell.op.name]
    plan_of = {plan[0]: p for p, plan in enumerate(first.plans)}
    outputs: list[Tensor | None] = [None] * len(mixed)
    for op in sorted(set(chosen)):
        members = [e for e, c in enumerate(chosen) if c == op]
        scale = op_weights[members, op].view(1, len(members), 1, 1, 1)
        if op in plan_of:
            subset = [mixed[e] for e in members]
            rows = {g: w[members] for g, w in weights.items()}
            y = _run_plan(subset, plan_of[op], x, rows)
        else:  # the zero op: nothing but the gradient-free zero of the right shape
            zero = x[:, :, :: first.stride, :: first.stride].mul(0.0)
            y = zero.unsqueeze(1).expand(zero.shape[0], len(members), *zero.shape[1:])
        for e, out in zip(members, (y * scale).unbind(1), strict=True):
            outputs[e] = out
    return torch.stack(cast(list[Tensor], outputs), dim=1)


def _run_plan(
    edges: Sequence[MixedEdge], plan: int, x: Tensor, weights: Mapping[str, Tensor]
) -> Tensor:
    """One op path (its input factors, variants and output factors) for ``edges``."""
    first, count = edges[0], len(edges)
    for name in first.slots:  # the inner activation reads its edge's weights from a slot
        rows = weights.get(name)
        for e, edge in enumerate(edges):
            edge.slots[name].value = None if rows is None else rows[e]
    _, inputs, combos, _, output_mixtures = first.plans[plan]
    h = Edges(x, count, shared=True)
    for factor in inputs:
        candidates = [list(cast(nn.ModuleList, e.inputs[factor.name])) for e in edges]
        h = mix_factor(factor, h, weights.get(factor.name), candidates)
    y = run_variants(edges, plan, combos, h, weights)
    for name in output_mixtures:
        candidates = [
            list(cast(nn.ModuleList, cast(nn.ModuleDict, e.plans[plan][4])[name])) for e in edges
        ]
        y = mix_factor(first.factor(name), y, weights.get(name), candidates)
    out = y.split()
    if out.shape[1] != count:  # an op that kept the shared input as is (stride-1 identity)
        out = out.expand(out.shape[0], count, *out.shape[2:])
    return out
