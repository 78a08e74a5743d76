"""Cell diagrams: valid PNG and SVG for both cells, every edge labelled, labels kept apart."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from factornas.figures.cells import (
    NODE_RADIUS,
    PARALLEL_GAP,
    Box,
    edge_text,
    layout,
    route,
    save_cell_diagrams,
)
from factornas.space.genotype import Genotype

from .conftest import assert_png, needs_matplotlib, svg_texts


@needs_matplotlib
def test_both_cells_are_written_as_png_and_svg_with_every_edge_label(
    tmp_path: Path, genotype: Genotype
) -> None:
    written = save_cell_diagrams(genotype, tmp_path / "figs")
    assert sorted(p.name for p in written) == [
        "cell_normal.png",
        "cell_normal.svg",
        "cell_reduce.png",
        "cell_reduce.svg",
    ]
    for cell_type in ("normal", "reduce"):
        assert_png(tmp_path / "figs" / f"cell_{cell_type}.png", min_width=1000)
        texts = svg_texts(tmp_path / "figs" / f"cell_{cell_type}.svg")
        for _, edge in genotype.cell(cell_type).edges():
            for line in edge_text(edge.op, edge.factors).split("\n"):
                assert line in texts, (cell_type, line)
    normal = svg_texts(tmp_path / "figs" / "cell_normal.svg")
    assert "selu · bn_affine" in normal and "swish · gn" in normal


@needs_matplotlib
def test_svg_output_is_deterministic(tmp_path: Path, genotype: Genotype) -> None:
    first = save_cell_diagrams(genotype, tmp_path / "a", formats=("svg",))
    second = save_cell_diagrams(genotype, tmp_path / "b", formats=("svg",))
    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in second]


@pytest.mark.parametrize("cell_type", ["normal", "reduce"])
def test_layout_flows_left_to_right_and_labels_stay_clear(
    genotype: Genotype, cell_type: str
) -> None:
    graph = genotype.to_networkx(cell_type)
    pos = layout(graph)
    assert all(pos[u][0] < pos[v][0] for u, v in graph.edges())
    assert pos["c_{k-2}"][1] > pos["c_{k-1}"][1]  # inputs top-down, as DARTS draws them
    routes = route(graph, pos)
    labels = [r.label for r in routes if r.label is not None]
    assert len(labels) == len(genotype.cell(cell_type).edges())  # concat edges carry none
    assert all(a.overlap(b) == 0 for a, b in itertools.combinations(labels, 2))
    nodes = [Box(x, y, NODE_RADIUS, NODE_RADIUS) for x, y in pos.values()]
    assert all(label.overlap(node) == 0 for label in labels for node in nodes)


def _edge(source: int, op: str) -> dict[str, object]:
    return {"source": source, "op": op, "factors": {"activation": "selu"} if "conv" in op else {}}


@pytest.fixture
def sparse() -> Genotype:
    """Node 0 takes c_{k-2} twice (GDAS's pairs rule); node 1 has no edge (FairDARTS's
    threshold rule), node 2 one; the reduction cell keeps node 0 alone."""
    normal = {
        "nodes": [
            [_edge(0, "sep_conv_3x3"), _edge(0, "max_pool_3x3")],
            [],
            [_edge(2, "dil_conv_3x3")],
            [_edge(4, "skip_connect"), _edge(1, "sep_conv_5x5")],
        ],
        "concat": [2, 4, 5],
    }
    reduce = {"nodes": [[_edge(1, "max_pool_3x3")], [], [], []], "concat": [2]}
    return Genotype.model_validate({"normal": normal, "reduce": reduce})


def test_parallel_edges_get_distinct_arcs_and_an_empty_node_is_left_out(sparse: Genotype) -> None:
    graph = sparse.to_networkx("normal")
    pos = layout(graph)
    assert "1" not in pos and set(pos) == set(graph) - {"1"}
    routes = route(graph, pos)
    parallel = [r for r in routes if (r.source, r.target) == ("c_{k-2}", "0")]
    assert sorted(r.key for r in parallel) == [0, 1]
    assert abs(parallel[0].bend - parallel[1].bend) >= PARALLEL_GAP
    assert {r.op for r in parallel} == {"sep_conv_3x3", "max_pool_3x3"}
    labels = [r.label for r in routes if r.label is not None]
    assert len(labels) == len(sparse.normal.edges())
    assert all(a.overlap(b) == 0 for a, b in itertools.combinations(labels, 2))
    assert all(pos[u][0] < pos[v][0] for u, v in graph.edges())


@needs_matplotlib
def test_a_sparse_cell_renders(tmp_path: Path, sparse: Genotype) -> None:
    written = save_cell_diagrams(sparse, tmp_path / "figs")
    assert len(written) == 4
    assert_png(tmp_path / "figs" / "cell_normal.png", min_width=600)
    assert_png(tmp_path / "figs" / "cell_reduce.png", min_width=300)
    lines = svg_texts(tmp_path / "figs" / "cell_normal.svg").split("\n")
    for text in ("sep_conv_3x3", "max_pool_3x3", "dil_conv_3x3", "sep_conv_5x5", "0", "2", "3"):
        assert text in lines, text
    assert lines.count("1") == 1  # only c_{k-1}'s subscript: the empty node is not drawn
    reduce = svg_texts(tmp_path / "figs" / "cell_reduce.svg").split("\n")
    assert "0" in reduce and "3" not in reduce
    assert reduce.count("1") == reduce.count("2") == 1  # c_{k-1}, c_{k-2}: nodes 1, 2 empty
