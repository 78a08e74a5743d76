"""Cell diagrams: valid PNG and SVG for both cells, every edge labelled, labels kept apart."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from factornas.figures.cells import NODE_RADIUS, Box, edge_text, layout, route, save_cell_diagrams
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
    assert all(pos[u][0] < pos[v][0] for u, v in graph.edges)
    assert pos["c_{k-2}"][1] > pos["c_{k-1}"][1]  # inputs top-down, as DARTS draws them
    routes = route(graph, pos)
    labels = [r.label for r in routes if r.label is not None]
    assert len(labels) == len(genotype.cell(cell_type).edges())  # concat edges carry none
    assert all(a.overlap(b) == 0 for a, b in itertools.combinations(labels, 2))
    nodes = [Box(x, y, NODE_RADIUS, NODE_RADIUS) for x, y in pos.values()]
    assert all(label.overlap(node) == 0 for label in labels for node in nodes)
