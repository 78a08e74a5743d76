"""Derivation rules: DARTS's, GDAS's pairs and FairDARTS's threshold, each checked against a
plain transcription of its reference rule on fixed random weights, plus the hand-set cases
that matter (one input kept twice, dropped edges and nodes, the cascade, nothing left), the
P-DARTS skip cap under every rule, and evaluation networks built from what the new rules give.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch
from torch import nn

from factornas.errors import DerivationError
from factornas.evaluate.config import NetworkConfig
from factornas.evaluate.cost import count_parameters, network_params
from factornas.evaluate.network import build_network
from factornas.space import SearchSpace
from factornas.space.config import Topology
from factornas.space.derive import count_skips, derive_cell, derive_genotype
from factornas.space.genotype import CellGenotype, Genotype
from tests.oracles.reference_darts import OPS

ACTS = ("relu", "relu6", "leaky_relu", "prelu", "rrelu", "elu", "celu", "selu", "swish")
ZERO = OPS.index("none")
SKIP = OPS.index("skip_connect")
STEPS, K, EDGES = 4, 2, 14
SEEDS = range(8)
THRESHOLDS = (0.85, 0.93, 0.98)

Gene = list[list[tuple[int, int]]]  # per node: (input, op index) in kept order
Rows = list[list[float]]


# -- plain transcriptions of the reference rules ------------------------------------------------
def ref_darts(rows: Rows, scale: list[float]) -> Gene:
    """DARTS (``model_search.py::genotype``): the two inputs of largest non-zero op weight,
    then the best non-zero op on each."""
    gene, start = [], 0
    for i in range(STEPS):
        n = i + 2
        w = rows[start : start + n]

        def strength(j: int, w: Rows = w, start: int = start) -> float:
            return max(w[j][k] for k in range(len(w[j])) if k != ZERO) * scale[start + j]

        node = []
        for j in sorted(range(n), key=lambda j: -strength(j))[:K]:
            best = None
            for k in range(len(w[j])):
                if k != ZERO and (best is None or w[j][k] > w[j][best]):
                    best = k
            assert best is not None
            node.append((j, best))
        gene.append(node)
        start += n
    return gene


def ref_pairs(rows: Rows, scale: list[float]) -> Gene:
    """GDAS (``genotype()._parse``): every (op, input, weight) of a node but ``none``, sorted
    by weight descending, the first two kept."""
    gene, start = [], 0
    for i in range(STEPS):
        edges = []
        for j in range(2 + i):
            ws = rows[start + j]
            for k in range(len(OPS)):
                if k == ZERO:
                    continue
                edges.append((k, j, ws[k] * scale[start + j]))
        edges = sorted(edges, key=lambda x: -x[-1])
        gene.append([(j, k) for k, j, _ in edges[:K]])
        start += i + 2
    return gene


class NothingLeft(Exception):
    pass


def ref_threshold(rows: Rows, scale: list[float], threshold: float) -> tuple[Gene, list[int]]:
    """FairDARTS (``parse``, ``threshold_sparse``): DARTS's two edges, each kept with its best
    op if that op's weight reaches the threshold; then the evaluation cell's semantics: drop
    edges leaving a node without inputs until nothing changes; concat the nodes with inputs."""
    triples = []  # (op, to, from)
    threshold = float(np.float32(threshold))  # NumPy compares float32 weights in float32
    start = 0
    for i in range(STEPS):
        n = i + 2
        w = rows[start : start + n]

        def strength(j: int, w: Rows = w, start: int = start) -> float:
            return max(w[j][k] for k in range(len(w[j])) if k != ZERO) * scale[start + j]

        for j in sorted(range(n), key=lambda j: -strength(j))[:K]:
            k_best = None
            for k in range(len(w[j])):
                if k != ZERO and (k_best is None or w[j][k] > w[j][k_best]):
                    k_best = k
            assert k_best is not None
            if w[j][k_best] >= threshold:
                triples.append((k_best, i + 2, j))
        start += n
    while True:
        has_inputs = {to for _, to, _ in triples}
        kept = [t for t in triples if t[2] < 2 or t[2] in has_inputs]
        if len(kept) == len(triples):
            break
        triples = kept
    has_inputs = {to for _, to, _ in triples}
    concat = [n for n in range(2, STEPS + 2) if n in has_inputs]
    if not concat:
        raise NothingLeft
    gene = [[(j, k) for k, to, j in triples if to == node] for node in range(2, STEPS + 2)]
    return gene, concat


# -- helpers -----------------------------------------------------------------------------------
def _offset(target: int) -> int:
    return sum(i + 2 for i in range(target - 2))


def _gene(cell: CellGenotype) -> list[list[tuple[int, str]]]:
    return [[(e.source, e.op) for e in node] for node in cell.nodes]


def _named(gene: Gene) -> list[list[tuple[int, str]]]:
    return [[(j, OPS[k]) for j, k in node] for node in gene]


def _check_factors(cell: CellGenotype, act: torch.Tensor) -> None:
    """Every kept conv carries its edge's activation argmax; pools and skips carry none."""
    for target, edge in cell.edges():
        e = _offset(target) + edge.source
        want = {"activation": ACTS[int(act[e].argmax())]} if "conv" in edge.op else {}
        assert edge.factors == want, (target, edge)


def _random(seed: int, squash: str) -> tuple[dict, dict | None]:
    """Op weights (softmax or sigmoid of scaled normals), activation weights and, for odd
    seeds, a PC-DARTS edge-normalization scale per cell type."""
    g = torch.Generator().manual_seed(seed)
    weights, scales = {}, {}
    for ct in ("normal", "reduce"):
        logits = 2.0 * torch.randn(EDGES, len(OPS), generator=g)
        op = logits.softmax(-1) if squash == "softmax" else logits.sigmoid()
        act = torch.randn(EDGES, len(ACTS), generator=g).softmax(-1)
        weights[ct] = {"op": op, "activation": act}
        scales[ct] = 0.5 + torch.rand(EDGES, generator=g)
    return weights, (scales if seed % 2 else None)


def _scale(scales: dict | None, ct: str) -> list[float]:
    return scales[ct].tolist() if scales else [1.0] * EDGES


def _uniform(value: float = 0.1) -> dict[str, torch.Tensor]:
    return {"op": torch.full((EDGES, len(OPS)), value), "activation": torch.full((EDGES, 9), 0.1)}


# -- the rules against their references --------------------------------------------------------
@pytest.mark.parametrize("seed", SEEDS)
def test_darts_rule_matches_reference(adarts: SearchSpace, seed: int) -> None:
    weights, scales = _random(seed, "softmax")
    genotype = derive_genotype(adarts, weights, scales)
    assert genotype == derive_genotype(adarts, weights, scales, rule="darts")
    for ct in ("normal", "reduce"):
        rows = weights[ct]["op"].tolist()
        cell = genotype.cell(ct)
        assert _gene(cell) == _named(ref_darts(rows, _scale(scales, ct)))
        assert cell.concat == (2, 3, 4, 5)
        _check_factors(cell, weights[ct]["activation"])


@pytest.mark.parametrize("seed", SEEDS)
def test_pairs_rule_matches_reference(adarts: SearchSpace, seed: int) -> None:
    weights, scales = _random(seed, "softmax")
    genotype = derive_genotype(adarts, weights, scales, rule="pairs")
    for ct in ("normal", "reduce"):
        rows = weights[ct]["op"].tolist()
        cell = genotype.cell(ct)
        assert _gene(cell) == _named(ref_pairs(rows, _scale(scales, ct)))
        assert cell.concat == (2, 3, 4, 5)
        _check_factors(cell, weights[ct]["activation"])


@pytest.mark.parametrize("threshold", THRESHOLDS)
@pytest.mark.parametrize("seed", SEEDS)
def test_threshold_rule_matches_reference(adarts: SearchSpace, seed: int, threshold: float) -> None:
    weights, scales = _random(seed, "sigmoid")
    try:
        want = {
            ct: ref_threshold(weights[ct]["op"].tolist(), _scale(scales, ct), threshold)
            for ct in ("normal", "reduce")
        }
    except NothingLeft:
        with pytest.raises(DerivationError, match="keeps no edge"):
            derive_genotype(adarts, weights, scales, rule="threshold", threshold=threshold)
        return
    genotype = derive_genotype(adarts, weights, scales, rule="threshold", threshold=threshold)
    for ct, (gene, concat) in want.items():
        cell = genotype.cell(ct)
        assert _gene(cell) == _named(gene)
        assert list(cell.concat) == concat
        _check_factors(cell, weights[ct]["activation"])


def test_the_random_cases_cover_what_the_new_rules_change() -> None:
    """The seeds above are not all trivial: the pairs rule repeats an input, and the threshold
    rule drops an edge, empties a node and sometimes keeps nothing (the hand-set cases below
    pin each of these, and the cascade, exactly)."""
    repeated = dropped_edge = emptied = nothing = 0
    for seed in SEEDS:
        weights, scales = _random(seed, "softmax")
        for ct in ("normal", "reduce"):
            gene = ref_pairs(weights[ct]["op"].tolist(), _scale(scales, ct))
            repeated += any(node[0][0] == node[1][0] for node in gene)
        weights, scales = _random(seed, "sigmoid")
        for threshold in THRESHOLDS:
            for ct in ("normal", "reduce"):
                try:
                    gene, _ = ref_threshold(
                        weights[ct]["op"].tolist(), _scale(scales, ct), threshold
                    )
                except NothingLeft:
                    nothing += 1
                    continue
                dropped_edge += any(len(node) == 1 for node in gene)
                emptied += any(not node for node in gene)
    assert repeated and dropped_edge and emptied and nothing


# -- hand-set cases ----------------------------------------------------------------------------
def test_pairs_rule_keeps_one_input_twice(adarts: SearchSpace) -> None:
    normal = _uniform()
    normal["op"][0, OPS.index("sep_conv_3x3")] = 0.5  # node 2: both picks from input 0
    normal["op"][0, OPS.index("max_pool_3x3")] = 0.4
    normal["op"][1, OPS.index("dil_conv_3x3")] = 0.3
    normal["op"][0, ZERO] = 0.9  # the zero op is never a pick
    normal["activation"][0, ACTS.index("selu")] = 0.7
    weights = {"normal": normal, "reduce": _uniform()}
    genotype = derive_genotype(adarts, weights, rule="pairs")
    node2 = genotype.normal.nodes[0]
    assert [(e.source, e.op, e.factors) for e in node2] == [
        (0, "sep_conv_3x3", {"activation": "selu"}),
        (0, "max_pool_3x3", {}),
    ]
    # DARTS's rule keeps one op per input instead.
    assert _gene(derive_genotype(adarts, weights).normal)[0] == [
        (0, "sep_conv_3x3"),
        (1, "dil_conv_3x3"),
    ]
    # Ties: lower input first, then lower op (the reference's stable sort).
    assert _gene(genotype.reduce) == [[(0, "max_pool_3x3"), (0, "avg_pool_3x3")]] * 4
    # Edge normalization multiplies each pair's weight: demoting edge 0 moves the picks.
    scale = torch.ones(EDGES)
    scale[0] = 0.1
    scaled = derive_genotype(adarts, weights, {"normal": scale}, rule="pairs")
    assert _gene(scaled.normal)[0] == [(1, "dil_conv_3x3"), (1, "max_pool_3x3")]

    assert Genotype.from_json(genotype.to_json()) == genotype
    graph = genotype.to_networkx("normal")
    assert graph.number_of_edges("c_{k-2}", "0") == 2
    ops = {data["op"] for data in graph.get_edge_data("c_{k-2}", "0").values()}
    assert ops == {"sep_conv_3x3", "max_pool_3x3"}


def _threshold_weights(second_cascade: bool) -> dict[str, torch.Tensor]:
    """Sigmoid-like weights (0.1 baseline) where, at threshold 0.85:
    node 2 keeps its edge from c_{k-2} (0.9) and loses the one from c_{k-1} (0.5);
    node 3's best ops (0.8, 0.7) fall short: it is empty;
    node 4's strongest edge comes from node 3 (0.95), its other one (0.6) falls short: empty in
    cascade; node 5 takes node 4 (0.97) and node 2 (0.9, or 0.4 with ``second_cascade``, which
    then empties node 5 as well)."""
    w = _uniform()
    op = w["op"]
    op[0, OPS.index("sep_conv_3x3")] = 0.9
    op[1, SKIP] = 0.5
    op[2, OPS.index("max_pool_3x3")] = 0.8
    op[4, OPS.index("sep_conv_5x5")] = 0.7
    op[5 + 3, OPS.index("dil_conv_3x3")] = 0.95  # node 4 from node 3
    op[5 + 0, SKIP] = 0.6
    op[9 + 4, OPS.index("dil_conv_5x5")] = 0.97  # node 5 from node 4
    op[9 + 2, OPS.index("avg_pool_3x3")] = 0.4 if second_cascade else 0.9  # node 5 from node 2
    w["activation"][0, ACTS.index("swish")] = 0.5
    return w


def test_threshold_rule_drops_edges_nodes_and_cascades(adarts: SearchSpace) -> None:
    weights = {"normal": _threshold_weights(False), "reduce": _threshold_weights(True)}
    genotype = derive_genotype(adarts, weights, rule="threshold")
    normal, reduce = genotype.normal, genotype.reduce
    assert _gene(normal) == [[(0, "sep_conv_3x3")], [], [], [(2, "avg_pool_3x3")]]
    assert normal.concat == (2, 5)
    assert normal.nodes[0][0].factors == {"activation": "swish"}
    assert _gene(reduce) == [[(0, "sep_conv_3x3")], [], [], []]
    assert reduce.concat == (2,)
    # The same weights under DARTS's rule: two edges everywhere.
    assert all(len(node) == 2 for node in derive_genotype(adarts, weights).normal.nodes)
    # A lower threshold keeps node 3's edges (its 0.7 meets 0.7 in float32), and with them
    # nodes 4 and 5.
    low = derive_genotype(adarts, weights, rule="threshold", threshold=0.7)
    assert [len(node) for node in low.normal.nodes] == [1, 2, 1, 2]
    assert low.normal.concat == (2, 3, 4, 5)

    assert Genotype.from_json(genotype.to_json()) == genotype
    graph = genotype.to_networkx("normal")
    assert graph.degree("1") == 0 and graph.degree("2") == 0
    assert graph.in_degree("c_{k}") == 2
    assert "reduce=[('sep_conv_3x3', 0)], reduce_concat=[2]" in genotype.to_darts_string()


def test_threshold_rule_that_keeps_nothing_says_what_to_do(adarts: SearchSpace) -> None:
    weights = {"normal": _uniform(0.6), "reduce": _threshold_weights(True)}
    with pytest.raises(DerivationError) as info:
        derive_genotype(adarts, weights, rule="threshold")
    message = str(info.value)
    assert message == (
        "the threshold rule (weight >= 0.85) keeps no edge of the normal cell: lower "
        "derivation.threshold or derive with rule 'darts'"
    )
    # Node 2's 0.9 (float32) meets the threshold 0.9: the normal cell keeps it.
    weights = {"normal": _threshold_weights(True), "reduce": _uniform(0.6)}
    with pytest.raises(DerivationError, match=r"weight >= 0.9\) keeps no edge of the reduction"):
        derive_genotype(adarts, weights, rule="threshold", threshold=0.9)
    with pytest.raises(DerivationError, match="keeps no edge of the cell"):
        derive_cell(adarts, adarts.cell("normal"), _uniform(0.6), rule="threshold")
    lowered = derive_genotype(adarts, weights, rule="threshold", threshold=0.6)
    assert lowered.reduce.concat == (2, 3, 4, 5)


def test_threshold_rule_needs_an_edge_into_a_concatenated_node(adarts: SearchSpace) -> None:
    """With ``multiplier`` 2 only nodes 4 and 5 are concatenated: edges into nodes 2 and 3
    alone leave the cell without output."""
    space = SearchSpace.model_validate(
        {**adarts.model_dump(), "topology": Topology(steps=4, multiplier=2).model_dump()}
    )
    w = _uniform()
    w["op"][0, SKIP] = 0.9  # node 2 from c_{k-2}, unused by nodes 4 and 5
    with pytest.raises(DerivationError, match="keeps no edge into the normal cell's concat"):
        derive_genotype(space, {"normal": w, "reduce": w}, rule="threshold")
    w["op"][9 + 2, SKIP] = 0.9  # node 5 from node 2
    genotype = derive_genotype(space, {"normal": w, "reduce": w}, rule="threshold")
    assert genotype.normal.concat == (5,)


def test_an_unknown_rule_is_named(adarts: SearchSpace) -> None:
    weights = {"normal": _uniform(), "reduce": _uniform()}
    with pytest.raises(DerivationError, match="unknown derivation rule 'gdas'; use one of"):
        derive_genotype(adarts, weights, rule="gdas")


# -- P-DARTS's skip cap under every rule -------------------------------------------------------
def ref_cap(rule: Callable[[Rows], Gene], rows: Rows, max_skips: int) -> Gene:
    """P-DARTS: while the normal cell holds more than ``max_skips`` skips, strike the chosen
    skip of smallest weight and derive again with the same rule."""
    rows = [list(row) for row in rows]
    while True:
        gene = rule(rows)
        skips = [_offset(i + 2) + j for i, node in enumerate(gene) for j, k in node if k == SKIP]
        if len(skips) <= max_skips:
            return gene
        weakest = min(skips, key=lambda e: rows[e][SKIP])
        rows[weakest][SKIP] = -1.0


@pytest.mark.parametrize("rule", ["darts", "pairs", "threshold"])
def test_skip_cap_rederives_with_the_same_rule(darts: SearchSpace, rule: str) -> None:
    capped_cases = 0
    for seed in SEEDS:
        weights, scales = _random(seed, "sigmoid" if rule == "threshold" else "softmax")
        op = weights["normal"]["op"]
        op[:, SKIP] = op.max(dim=1).values * (1.02 + 0.01 * torch.arange(EDGES))  # skips win
        scale = _scale(scales, "normal")

        def one(rows: Rows, scale: list[float] = scale) -> Gene:
            if rule == "darts":
                return ref_darts(rows, scale)
            if rule == "pairs":
                return ref_pairs(rows, scale)
            return ref_threshold(rows, scale, 0.85)[0]

        for max_skips in (0, 2):
            try:
                if rule == "threshold":  # the reduction cell must keep something too
                    ref_threshold(weights["reduce"]["op"].tolist(), _scale(scales, "reduce"), 0.85)
                want = ref_cap(one, op.tolist(), max_skips)
                free_skips = sum(k == SKIP for node in one(op.tolist()) for _, k in node)
            except NothingLeft:
                with pytest.raises(DerivationError):
                    derive_genotype(darts, weights, scales, max_skips, rule=rule)
                continue
            genotype = derive_genotype(darts, weights, scales, max_skips, rule=rule)
            assert _gene(genotype.normal) == _named(want), (seed, max_skips)
            assert count_skips(genotype.normal) <= max_skips
            capped_cases += free_skips > max_skips
    assert capped_cases >= 4


# -- evaluation networks from the new rules' genotypes -----------------------------------------
def _params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("rule", ["pairs", "threshold"])
def test_evaluation_network_from_a_new_rule_genotype(adarts: SearchSpace, rule: str) -> None:
    if rule == "pairs":
        normal = _uniform()
        normal["op"][0, OPS.index("sep_conv_3x3")] = 0.5
        normal["op"][0, OPS.index("max_pool_3x3")] = 0.4
        weights = {"normal": normal, "reduce": _random(3, "softmax")[0]["reduce"]}
    else:
        weights = {"normal": _threshold_weights(False), "reduce": _threshold_weights(True)}
    genotype = derive_genotype(adarts, weights, rule=rule)
    if rule == "pairs":
        assert [e.source for e in genotype.normal.nodes[0]] == [0, 0]
    else:
        assert not genotype.normal.nodes[1] and genotype.reduce.concat == (2,)

    config = NetworkConfig(channels=4, layers=5, num_classes=10)
    model = build_network(genotype, config)
    logits, aux = model(torch.randn(2, 3, 32, 32))
    assert logits.shape == (2, 10) and aux is not None and aux.shape == (2, 10)
    logits.sum().backward()

    cells = 0
    for cell in model.cells:
        kept = genotype.cell("reduce" if cell.reduction else "normal")
        assert len(cell.edges) == len(kept.edges())
        assert cell.multiplier == len(kept.concat)
        assert _params(cell) == (
            _params(cell.preprocess0)
            + _params(cell.preprocess1)
            + sum(_params(edge) for edge in cell.edges)
        )
        cells += _params(cell)
    aux_params = _params(model.auxiliary_head) if model.auxiliary_head else 0
    assert count_parameters(model) == (_params(model.stem) + cells + _params(model.classifier))
    assert count_parameters(model, auxiliary=True) == count_parameters(model) + aux_params
    assert network_params(genotype, config) == (
        count_parameters(model),
        count_parameters(model, auxiliary=True),
    )
