"""Deriving the discrete architecture from architecture weights (docs/design-decisions.md).

Three rules read a cell off its weights; each keeps, on every kept edge, the op chosen there and,
for every factor attached to that op, that factor's argmax on this edge.

``"darts"`` (DARTS): per intermediate node keep the ``k`` strongest incoming edges, where an
    edge's strength is its largest non-zero op weight (times its edge-normalization weight under
    PC-DARTS); on each kept edge take the best non-zero op. Ties go to the lower index, as in
    reference DARTS's stable sort.
``"pairs"`` (GDAS): per node rank every (input, non-zero op) pair by its weight (times the
    edge-normalization weight) and keep the ``k`` best pairs, so one input may be kept twice
    with two different ops. Ties go to the lower input, then the lower op (a stable sort).
``"threshold"`` (FairDARTS's ``threshold_sparse``): choose the edges as ``"darts"`` does, but
    keep an edge's best non-zero op only if its weight is at least ``threshold``, otherwise
    drop the edge. A node left without inputs computes nothing: edges leaving it are dropped
    too (in cascade), and the cell concatenates only the nodes that kept an input, as
    FairDARTS's evaluation cell (``DCOCell``) does. Nodes keep their numbering.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from factornas.errors import DerivationError
from factornas.space.config import CellFactors, CellType, SearchSpace
from factornas.space.genotype import CellGenotype, EdgeChoice, Genotype

#: The derivation rules :func:`derive_genotype` knows (see the module docstring).
RULES = ("darts", "pairs", "threshold")
_CELL_NAMES = {"normal": "normal cell", "reduce": "reduction cell"}


def _argmax(values: list[float], allowed: list[int]) -> int:
    best = allowed[0]
    for i in allowed[1:]:
        if values[i] > values[best]:
            best = i
    return best


def _check_rule(rule: str) -> None:
    if rule not in RULES:
        raise DerivationError(
            f"unknown derivation rule {rule!r}; use one of: {', '.join(map(repr, RULES))}"
        )


def derive_cell(
    space: SearchSpace,
    cell: CellFactors,
    weights: Mapping[str, torch.Tensor],
    edge_scale: torch.Tensor | None = None,
    rule: str = "darts",
    threshold: float = 0.85,
) -> CellGenotype:
    """One cell's genotype from its ``(num_edges, n)`` weights per searched group, by ``rule``
    (``"darts"``, ``"pairs"`` or ``"threshold"``; ``threshold`` is used by the last only).

    Raises:
        DerivationError: an unknown rule, or the threshold rule keeps no node to concatenate.
    """
    return _derive_cell(space, cell, weights, edge_scale, rule, threshold, "cell")


def _derive_cell(
    space: SearchSpace,
    cell: CellFactors,
    weights: Mapping[str, torch.Tensor],
    edge_scale: torch.Tensor | None,
    rule: str,
    threshold: float,
    what: str,
) -> CellGenotype:
    _check_rule(rule)
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

    def choice(e: int, j: int, k: int) -> EdgeChoice:
        """Edge ``e`` (from node ``j``) with op ``k`` and its factors' argmax on ``e``."""
        op = ops[k]
        if op.parts:  # a flat-twin op: its parts are the factor choices
            return EdgeChoice(source=j, op=op.parts[0][1], factors=dict(op.parts[1:]))
        factors = {}
        for factor in cell.attached(op):
            rows = factor_rows.get(factor.name)
            index = 0 if rows is None else _argmax(rows[e], list(range(len(factor.candidates))))
            factors[factor.name] = factor.candidates[index].name
        return EdgeChoice(source=j, op=op.name, factors=factors)

    k_edges = topology.edges_per_node
    # Compare in the weights' precision: a float32 weight shown as 0.85 meets threshold 0.85
    # (as NumPy compares a float32 with a Python float in FairDARTS's reference).
    cut = float(torch.tensor(threshold, dtype=torch.float32))
    nodes: list[tuple[EdgeChoice, ...]] = []
    offset = 0
    for i in range(topology.steps):
        inputs = i + 2
        node: list[EdgeChoice] = []
        if rule == "pairs":
            pairs = [(j, k) for j in range(inputs) for k in non_zero]
            ranked = sorted(
                pairs, key=lambda p: -op_rows[offset + p[0]][p[1]] * scale[offset + p[0]]
            )
            node = [choice(offset + j, j, k) for j, k in ranked[:k_edges]]
        else:
            strength = [
                max(op_rows[offset + j][k] for k in non_zero) * scale[offset + j]
                for j in range(inputs)
            ]
            for j in sorted(range(inputs), key=lambda j: -strength[j])[:k_edges]:
                e = offset + j
                k = _argmax(op_rows[e], non_zero)
                if rule == "threshold" and not op_rows[e][k] >= cut:
                    continue
                node.append(choice(e, j, k))
        nodes.append(tuple(node))
        offset += inputs
    top = topology.steps + 2
    concat = tuple(range(top - topology.multiplier, top))
    if rule == "threshold":
        # A node without inputs has no state: drop the edges leaving it. Sources precede their
        # targets, so one pass in node order reaches the fixed point of repeated dropping.
        for i, node_edges in enumerate(nodes):
            nodes[i] = tuple(e for e in node_edges if e.source < 2 or nodes[e.source - 2])
        concat = tuple(n for n in concat if nodes[n - 2])
        if not concat:
            where = f"into the {what}'s concatenated nodes" if any(nodes) else f"of the {what}"
            raise DerivationError(
                f"the threshold rule (weight >= {threshold:g}) keeps no edge {where}: lower "
                "derivation.threshold or derive with rule 'darts'"
            )
    return CellGenotype(nodes=tuple(nodes), concat=concat)


def derive_genotype(
    space: SearchSpace,
    weights: Mapping[CellType, Mapping[str, torch.Tensor]],
    edge_scale: Mapping[CellType, torch.Tensor] | None = None,
    max_skips: int | None = None,
    skip_op: str = "skip_connect",
    rule: str = "darts",
    threshold: float = 0.85,
) -> Genotype:
    """The genotype of a space from per-cell-type weights (softmaxed or frozen) by ``rule``
    (``"darts"``, ``"pairs"`` or ``"threshold"``, see the module docstring); with
    ``max_skips``, the normal cell holds at most that many ``skip_op`` edges (P-DARTS).

    Raises:
        DerivationError: an unknown rule, or the threshold rule leaves a cell with no node.
    """
    _check_rule(rule)
    scales = edge_scale or {}
    cells = {
        ct: _derive_cell(
            space, space.cell(ct), weights[ct], scales.get(ct), rule, threshold, _CELL_NAMES[ct]
        )
        for ct in space.cell_types
    }
    if max_skips is not None:
        cells["normal"] = cap_skips(
            space, weights["normal"], scales.get("normal"), max_skips, skip_op, rule, threshold
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
    rule: str = "darts",
    threshold: float = 0.85,
) -> CellGenotype:
    """The normal cell derived by ``rule`` with at most ``max_skips`` skip connections
    (P-DARTS): while it holds more, the chosen skip with the smallest weight is struck (its
    weight set below any weight, so it is never chosen again) and the cell derived again by
    the same rule: the next-best op or edge takes its place (under the threshold rule, the
    edge may instead be dropped, its next-best op falling short of the threshold)."""
    what = _CELL_NAMES["normal"]
    cell = space.cell("normal")
    names = [op.name for op in cell.op.candidates]
    derived = _derive_cell(space, cell, weights, edge_scale, rule, threshold, what)
    if skip_op not in names or cell.op.name not in weights:
        return derived
    skip = names.index(skip_op)
    edges = space.topology.num_edges
    op_w = weights[cell.op.name].detach().float().cpu().expand(edges, -1).clone()
    offsets = [sum(i + 2 for i in range(node)) for node in range(space.topology.steps)]
    struck: set[int] = set()
    while count_skips(derived, skip_op) > max_skips:
        skips = [
            offsets[target - 2] + edge.source
            for target, edge in derived.edges()
            if edge.op == skip_op and offsets[target - 2] + edge.source not in struck
        ]
        if not skips:  # only struck skips are left (no other non-zero op): nothing to swap in
            break
        weakest = min(skips, key=lambda e: float(op_w[e, skip]))
        op_w[weakest, skip] = -1.0
        struck.add(weakest)
        derived = _derive_cell(
            space, cell, {**weights, cell.op.name: op_w}, edge_scale, rule, threshold, what
        )
    return derived


def has_skip_connect(genotype: Genotype, skip_op: str = "skip_connect") -> bool:
    """The paper's sanity check (§4.2): a normal cell without a skip is discarded."""
    return any(edge.op == skip_op for _, edge in genotype.normal.edges())
