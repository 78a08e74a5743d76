"""Genotypes: derivation on hand-set weights, JSON round trip, DARTS text, graph view."""

from __future__ import annotations

import json

import pytest
import torch

from factornas import Genotype, SearchSpace, derive_genotype, has_skip_connect
from factornas.errors import GenotypeError
from factornas.space.genotype import darts_factor_defaults, parse_darts_genotype

DARTS_V2 = (
    "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), "
    "('sep_conv_3x3', 1), ('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), "
    "('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), "
    "('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), "
    "('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])"
)
OPS = (
    "none",
    "max_pool_3x3",
    "avg_pool_3x3",
    "skip_connect",
    "sep_conv_3x3",
    "sep_conv_5x5",
    "dil_conv_3x3",
    "dil_conv_5x5",
)
ACTS = ("relu", "relu6", "leaky_relu", "prelu", "rrelu", "elu", "celu", "selu", "swish")


def _hand_set_weights() -> dict[str, dict[str, torch.Tensor]]:
    """Node 2 (edges 0,1): strong `none` on edge 0 must not count; node 3 (edges 2-4): …"""
    op = torch.full((14, 8), 0.1)
    act = torch.full((14, 9), 0.1)
    op[0, OPS.index("none")] = 0.9  # huge none weight: ignored for strength
    op[0, OPS.index("max_pool_3x3")] = 0.2
    op[1, OPS.index("sep_conv_5x5")] = 0.6
    act[1, ACTS.index("selu")] = 0.5
    op[2, OPS.index("skip_connect")] = 0.7  # node 3 keeps edges 2 (source 0) and 4 (source 2)
    op[3, OPS.index("avg_pool_3x3")] = 0.15
    op[4, OPS.index("dil_conv_3x3")] = 0.65
    act[4, ACTS.index("swish")] = 0.3
    act[4, ACTS.index("prelu")] = 0.29
    return {"normal": {"op": op, "activation": act}, "reduce": {"op": op, "activation": act}}


def test_derivation_picks_edges_ops_and_activations(adarts: SearchSpace) -> None:
    genotype = derive_genotype(adarts, _hand_set_weights())
    node2, node3 = genotype.normal.nodes[0], genotype.normal.nodes[1]
    assert [(e.source, e.op, e.factors) for e in node2] == [
        (1, "sep_conv_5x5", {"activation": "selu"}),
        (0, "max_pool_3x3", {}),
    ]
    assert [(e.source, e.op, e.factors) for e in node3] == [
        (0, "skip_connect", {}),
        (2, "dil_conv_3x3", {"activation": "swish"}),
    ]
    assert genotype.normal.concat == (2, 3, 4, 5)
    assert has_skip_connect(genotype)


def test_edge_scale_changes_which_edges_are_kept(adarts: SearchSpace) -> None:
    weights = _hand_set_weights()
    scale = torch.ones(14)
    scale[1] = 0.1  # PC-DARTS edge normalization demotes edge 1
    genotype = derive_genotype(adarts, weights, {"normal": scale})
    assert [e.source for e in genotype.normal.nodes[0]] == [0, 1]
    assert [e.source for e in genotype.reduce.nodes[0]] == [1, 0]


def test_flat_twin_genotype_maps_back_to_factor_choices(adarts: SearchSpace) -> None:
    flat = adarts.flat_twin()
    names = flat.cell("normal").op.names
    weights = torch.full((14, 40), 0.01)
    weights[:, names.index("sep_conv_3x3+selu")] = 0.5
    genotype = derive_genotype(
        flat, {"normal": {"op_x_activation": weights}, "reduce": {"op_x_activation": weights}}
    )
    edge = genotype.normal.nodes[0][0]
    assert (edge.op, edge.factors) == ("sep_conv_3x3", {"activation": "selu"})
    assert genotype.op_group == "op"


def test_json_round_trip(adarts: SearchSpace, tmp_path) -> None:
    genotype = derive_genotype(adarts, _hand_set_weights())
    path = genotype.save(tmp_path / "genotype.json")
    assert Genotype.load(path) == genotype
    assert not (tmp_path / "genotype.json.tmp").exists()


def test_darts_v2_text_parses_with_relu() -> None:
    genotype = parse_darts_genotype(DARTS_V2, default_factors=darts_factor_defaults())
    first = genotype.normal.nodes[0][0]
    assert (first.source, first.op, first.factors) == (0, "sep_conv_3x3", {"activation": "relu"})
    skip = genotype.normal.nodes[2][1]
    assert (skip.op, skip.factors) == ("skip_connect", {})
    assert genotype.reduce.concat == (2, 3, 4, 5)
    assert genotype.to_darts_string() == DARTS_V2


def test_darts_text_with_range_concat() -> None:
    text = DARTS_V2.replace("normal_concat=[2, 3, 4, 5]", "normal_concat=range(2, 6)")
    assert parse_darts_genotype(text).normal.concat == (2, 3, 4, 5)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "Genotype(normal=__import__('os').system('true'), normal_concat=[2], reduce=[], "
            "reduce_concat=[2])",
            "must be a literal list",
        ),
        (
            "Genotype(normal=[('sep_conv_3x3', 0)], normal_concat=[2, 3, 4, 5], reduce=[], "
            "reduce_concat=[2, 3, 4, 5])",
            "must list 8",
        ),
        ("Genotype(normal=[])", "lacks normal_concat, reduce, reduce_concat"),
        ("Genotype(normal=[", "does not parse"),
        (DARTS_V2.replace("('dil_conv_3x3', 2)", "('dil_conv_3x3', 5)"), "comes after it"),
    ],
)
def test_bad_darts_text_is_refused_with_a_reason(text: str, message: str) -> None:
    with pytest.raises(GenotypeError, match=message):
        parse_darts_genotype(text)


def test_malformed_json_names_the_problem(tmp_path) -> None:
    path = tmp_path / "g.json"
    path.write_text('{"normal": {"nodes": [], "concat": [7]}}')
    with pytest.raises(GenotypeError, match=r"g.json is malformed at normal"):
        Genotype.load(path)
    path.write_text("{not json")
    with pytest.raises(GenotypeError, match="is not valid JSON"):
        Genotype.load(path)
    with pytest.raises(GenotypeError, match="cannot read genotype file"):
        Genotype.load(tmp_path / "missing.json")


def test_networkx_view_has_labelled_edges() -> None:
    genotype = parse_darts_genotype(DARTS_V2, default_factors=darts_factor_defaults())
    graph = genotype.to_networkx("normal")
    assert graph.number_of_nodes() == 7
    assert graph.number_of_edges() == 8 + 4
    assert graph.edges["c_{k-2}", "0", 0]["label"] == "sep_conv_3x3 · relu"
    assert graph.edges["0", "3", 0]["op"] == "dil_conv_3x3"
    assert graph.in_degree("c_{k}") == 4


def _edge(source: int, op: str = "skip_connect") -> dict[str, object]:
    return {"source": source, "op": op, "factors": {}}


def _cell(nodes: list[list[dict[str, object]]], concat: list[int]) -> dict[str, object]:
    return {"nodes": nodes, "concat": concat}


def test_a_node_may_keep_one_source_twice_and_the_graph_shows_both_edges() -> None:
    cell = _cell([[_edge(0), _edge(0, "max_pool_3x3")], [_edge(2), _edge(1)]], [2, 3])
    genotype = Genotype.model_validate({"normal": cell, "reduce": cell})
    assert Genotype.from_json(genotype.to_json()) == genotype
    graph = genotype.to_networkx("normal")
    assert graph.number_of_edges("c_{k-2}", "0") == 2
    assert {d["op"] for d in graph.get_edge_data("c_{k-2}", "0").values()} == {
        "skip_connect",
        "max_pool_3x3",
    }
    assert "('skip_connect', 0), ('max_pool_3x3', 0)" in genotype.to_darts_string()


def test_an_empty_node_is_allowed_when_nothing_reads_it(tmp_path) -> None:
    cell = _cell([[_edge(1)], [], [_edge(2), _edge(0)]], [2, 4])
    genotype = Genotype.model_validate({"normal": cell, "reduce": cell})
    assert Genotype.load(genotype.save(tmp_path / "g.json")) == genotype
    graph = genotype.to_networkx("reduce")
    assert graph.nodes["1"]["kind"] == "intermediate" and graph.degree("1") == 0
    assert graph.in_degree("c_{k}") == 2
    assert genotype.to_darts_string().startswith(
        "Genotype(normal=[('skip_connect', 1), ('skip_connect', 2), ('skip_connect', 0)], "
        "normal_concat=[2, 4]"
    )


@pytest.mark.parametrize(
    ("cell", "message"),
    [
        (
            _cell([[_edge(1)], [], [_edge(3)]], [2, 4]),
            "node 4 takes input from node 3, which has no incoming edge",
        ),
        (
            _cell([[_edge(1)], [], [_edge(2)]], [2, 3, 4]),
            "concat names node 3, which has no incoming edge",
        ),
    ],
)
def test_an_empty_node_that_is_read_is_refused(cell: dict[str, object], message: str) -> None:
    data = json.dumps({"normal": cell, "reduce": _cell([[_edge(0)]], [2])})
    with pytest.raises(GenotypeError, match=message) as info:
        Genotype.from_json(data)
    assert "\n" not in str(info.value) and "malformed at normal" in str(info.value)
