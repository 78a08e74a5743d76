"""Deriving the discrete architecture from architecture weights (DESIGN §1).

Per intermediate node keep the ``k`` strongest incoming edges, where an edge's strength is its
largest non-zero op weight (times its edge-normalization weight under PC-DARTS); on each kept
edge take the best non-zero op and, for every factor attached to it, that factor's argmax on
this edge. Ties go to the lower index, as in reference DARTS's stable sort.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from factornas.space.config import CellFactors, CellType, SearchSpace
from factornas.space.genotype import CellGenotype, EdgeChoice, Genotype


def _argmax(values: list[float], allowed: list[int]) -> int:
    best = allowed[0]
    for i in allowed[1:]:
        if values[i] > values[best]:
            best = i
    return best


def derive_cell(
    space: SearchSpace,
    cell: CellFactors,
    weights: Mapping[str, torch.Tensor],
    edge_scale: torch.Tensor | None = None,
) -> CellGenotype:
    """One cell's genotype from its ``(num_edges, n)`` weights per searched group."""
    topology = space.topology
    edges = topology.num_edges
    ops = cell.op.candidates
    op_w = weights.get(cell.op.name)
    op_rows = (
        op_w.detach().float().cpu().expand(edges, -1).tolist()
        if op_w is not None
        else [[1.0] * len(ops)] * edges
    )
    non_zero = [i for i, op in enumerate(ops) if not op.is_zero]
    if not non_zero:
        raise ValueError(f"op group {cell.op.name!r} has only the zero op: nothing to derive")
    scale = edge_scale.detach().float().cpu().tolist() if edge_scale is not None else [1.0] * edges
    factor_rows = {
        f.name: weights[f.name].detach().float().cpu().expand(edges, -1).tolist()
        for f in cell.factors
        if f.name in weights
    }

    nodes = []
    offset = 0
    for i in range(topology.steps):
        inputs = i + 2
        strength = [
            max(op_rows[offset + j][k] for k in non_zero) * scale[offset + j] for j in range(inputs)
        ]
        kept = sorted(range(inputs), key=lambda j: -strength[j])[: topology.edges_per_node]
        node = []
        for j in kept:
            e = offset + j
            op = ops[_argmax(op_rows[e], non_zero)]
            if op.parts:  # a flat-twin op: its parts are the factor choices
                op_name = op.parts[0][1]
                factors = dict(op.parts[1:])
            else:
                op_name = op.name
                factors = {}
                for factor in cell.attached(op):
                    rows = factor_rows.get(factor.name)
                    index = (
                        0 if rows is None else _argmax(rows[e], list(range(len(factor.candidates))))
                    )
                    factors[factor.name] = factor.candidates[index].name
            node.append(EdgeChoice(source=j, op=op_name, factors=factors))
        nodes.append(tuple(node))
        offset += inputs
    top = topology.steps + 2
    return CellGenotype(nodes=tuple(nodes), concat=tuple(range(top - topology.multiplier, top)))


def derive_genotype(
    space: SearchSpace,
    weights: Mapping[CellType, Mapping[str, torch.Tensor]],
    edge_scale: Mapping[CellType, torch.Tensor] | None = None,
    max_skips: int | None = None,
    skip_op: str = "skip_connect",
) -> Genotype:
    """The genotype of a space from per-cell-type weights (softmaxed or frozen); with
    ``max_skips``, the normal cell holds at most that many ``skip_op`` edges (P-DARTS)."""
    scales = edge_scale or {}
    cells = {
        ct: derive_cell(space, space.cell(ct), weights[ct], scales.get(ct))
        for ct in space.cell_types
    }
    if max_skips is not None:
        cells["normal"] = cap_skips(
            space, weights["normal"], scales.get("normal"), max_skips, skip_op
        )
    normal_op = space.cell("normal").op
    op_group = normal_op.candidates[0].parts[0][0] if space.flat else normal_op.name
    return Genotype(op_group=op_group, normal=cells["normal"], reduce=cells["reduce"])


def count_skips(cell: CellGenotype, skip_op: str = "skip_connect") -> int:
    """How many of ``cell``'s edges are ``skip_op``."""
    return sum(edge.op == skip_op for _, edge in cell.edges())


def cap_skips(
    space: SearchSpace,
    weights: Mapping[str, torch.Tensor],
    edge_scale: torch.Tensor | None,
    max_skips: int,
    skip_op: str = "skip_connect",
) -> CellGenotype:
    """The normal cell derived with at most ``max_skips`` skip connections (P-DARTS): while it
    holds more, the chosen skip with the smallest weight is struck (its weight set below any
    weight, so it is never chosen again) and the cell derived again: the next-best op or edge
    takes its place."""
    cell = space.cell("normal")
    names = [op.name for op in cell.op.candidates]
    derived = derive_cell(space, cell, weights, edge_scale)
    if skip_op not in names or cell.op.name not in weights:
        return derived
    skip = names.index(skip_op)
    edges = space.topology.num_edges
    op_w = weights[cell.op.name].detach().float().cpu().expand(edges, -1).clone()
    offsets = [sum(i + 2 for i in range(node)) for node in range(space.topology.steps)]
    while count_skips(derived, skip_op) > max_skips:
        skips = [
            offsets[target - 2] + edge.source
            for target, edge in derived.edges()
            if edge.op == skip_op
        ]
        weakest = min(skips, key=lambda e: float(op_w[e, skip]))
        op_w[weakest, skip] = -1.0
        derived = derive_cell(space, cell, {**weights, cell.op.name: op_w}, edge_scale)
    return derived


def has_skip_connect(genotype: Genotype, skip_op: str = "skip_connect") -> bool:
    """The paper's sanity check (§4.2): a normal cell without a skip is discarded."""
    return any(edge.op == skip_op for _, edge in genotype.normal.edges())
