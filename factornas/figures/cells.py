"""Cell diagrams of a genotype, drawn from its networkx view with plain matplotlib.

DARTS drew cells with graphviz, a system package outside PyPI. Here the layout is computed
directly: nodes sit in columns by their depth in the cell (longest path from the inputs), and
each edge is a straight line or an arc whose bend is chosen greedily so that it clears every
other node and its label box clears the labels and edges already placed. Parallel edges (one
source kept twice with two ops, GDAS's rule) get bends at least :data:`PARALLEL_GAP` apart, so
each is a distinct arc with its own label. An intermediate node without any edge (emptied by
FairDARTS's threshold rule) is left out of the picture; the others keep their numbers. One data
unit is one inch of the figure, so text sizes (in points) can be compared with positions when
placing labels.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import networkx as nx

from factornas.figures.backend import require_matplotlib, save
from factornas.space.genotype import Genotype

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

COLUMN_GAP = 3.4  # inches between node columns: room for a label on every edge
ROW_GAP = 1.7  # inches between nodes of one column
BEND_COST = 0.4  # a straight edge is worth this much collision per unit of bend
PARALLEL_GAP = 0.25  # least difference between the bends of two edges joining the same nodes
LABEL_ROOM = 0.45  # extra inches of column gap per labelled edge beyond three
NODE_RADIUS = 0.3
FONT_SIZE = 8.5
_CHAR_WIDTH = 0.62 * FONT_SIZE / 72  # average glyph width in inches
_LINE_HEIGHT = 1.25 * FONT_SIZE / 72
_LABEL_AT = (0.5, 0.4, 0.6, 0.3, 0.7, 0.22, 0.78)  # where along an edge its label may sit
_BENDS = (0.0, 0.18, -0.18, 0.3, -0.3, 0.42, -0.42, 0.55, -0.55)
_NODE_COLORS = {"input": "#a6cee3", "intermediate": "#fdf1b8", "output": "#b9e3a0"}
_PALETTE = (
    "#1f77b4",
    "#d62728",
    "#2ca02c",
    "#9467bd",
    "#ff7f0e",
    "#8c564b",
    "#e377c2",
    "#17becf",
    "#7f7f7f",
    "#bcbd22",
)

Point = tuple[float, float]


def op_colors(genotype: Genotype) -> dict[str, str]:
    """One color per op name, shared by both cells so an op looks the same in each."""
    names = sorted({e.op for ct in ("normal", "reduce") for _, e in genotype.cell(ct).edges()})
    return {name: _PALETTE[i % len(_PALETTE)] for i, name in enumerate(names)}


def edge_text(op: str, factors: dict[str, str]) -> str:
    """The label of an edge: the op, then its factor choices on a second line."""
    if not factors:
        return op
    return op + "\n" + " · ".join(factors.values())


def drawn_nodes(graph: nx.MultiDiGraph) -> list[str]:
    """The nodes a picture shows, in insertion order: every node except an intermediate node
    without any edge (the threshold rule's emptied nodes compute nothing)."""
    return [
        node
        for node, kind in graph.nodes(data="kind")
        if kind != "intermediate" or graph.degree(node) > 0
    ]


def layout(graph: nx.MultiDiGraph) -> dict[str, Point]:
    """Column = depth from the inputs, rows centered; inputs top-down as c_{k-2}, c_{k-1}.

    A gap between two columns widens with the number of labelled edges ending across it, so a
    crowded gap (two inputs feeding three nodes: six labels) gets room for its labels. Only
    :func:`drawn_nodes` get a position.
    """
    depth: dict[str, int] = {}
    for node in nx.topological_sort(graph):
        depth[node] = 1 + max((depth[p] for p in graph.predecessors(node)), default=-1)
    columns: dict[int, list[str]] = {}
    for node in drawn_nodes(graph):  # insertion order: inputs, intermediates by index, output
        columns.setdefault(depth[node], []).append(node)
    x = 0.0
    positions = {}
    for column in sorted(columns):
        if column:
            labelled = sum(
                1
                for u, v, data in graph.edges(data=True)
                if depth[v] == column and data["op"] != "concat"
            )
            x += COLUMN_GAP + LABEL_ROOM * max(0, labelled - 3)
        nodes = columns[column]
        gap = ROW_GAP
        if column == 0 and len(nodes) > 1:  # inputs span the tallest column: fewer crossings
            gap = max(ROW_GAP, (max(map(len, columns.values())) - 1) * ROW_GAP / (len(nodes) - 1))
        top = (len(nodes) - 1) * gap / 2
        for row, node in enumerate(nodes):
            positions[node] = (x, top - row * gap)
    return positions


@dataclass(frozen=True)
class Box:
    """An axis-aligned rectangle in inches (center, half sizes): a label's footprint."""

    x: float
    y: float
    half_w: float
    half_h: float

    def overlap(self, other: Box) -> float:
        dx = self.half_w + other.half_w - abs(self.x - other.x)
        dy = self.half_h + other.half_h - abs(self.y - other.y)
        return max(dx, 0.0) * max(dy, 0.0)


def _control(a: Point, b: Point, bend: float) -> Point:
    """Control point of matplotlib's ``arc3`` connection (valid at equal x/y scale)."""
    mx, my = (a[0] + b[0]) / 2, (a[1] + b[1]) / 2
    return mx + bend * (b[1] - a[1]), my - bend * (b[0] - a[0])


def _bezier(a: Point, c: Point, b: Point, t: float) -> Point:
    u = 1 - t
    return (
        u * u * a[0] + 2 * u * t * c[0] + t * t * b[0],
        u * u * a[1] + 2 * u * t * c[1] + t * t * b[1],
    )


def _label_box(text: str, at: Point) -> Box:
    lines = text.split("\n")
    width = max(len(line) for line in lines) * _CHAR_WIDTH + 0.16
    height = len(lines) * _LINE_HEIGHT + 0.12
    return Box(at[0], at[1], width / 2, height / 2)


def _curve(a: Point, b: Point, bend: float) -> list[Point]:
    """Points along an edge, its ends (hidden under the nodes) left out."""
    c = _control(a, b, bend)
    return [_bezier(a, c, b, i / 24) for i in range(2, 23)]


def _inside(point: Point, box: Box) -> bool:
    return abs(point[0] - box.x) < box.half_w and abs(point[1] - box.y) < box.half_h


@dataclass
class _Placed:
    """What is already on the canvas: labels and the sampled points of drawn edges."""

    labels: list[Box]
    curves: list[list[Point]]


def _cost(
    a: Point, b: Point, bend: float, at: float, text: str, others: Sequence[Point], placed: _Placed
) -> float:
    """How badly an edge with this bend, and its label at ``at`` along it, collide with what
    is drawn: the edge with other nodes and labels, the label with nodes, labels and edges."""
    curve = _curve(a, b, bend)
    clearance = NODE_RADIUS * 1.6
    cost = BEND_COST * abs(bend) + 0.2 * abs(at - 0.5)  # prefer straight, centred among equals
    for px, py in curve:
        for ox, oy in others:
            cost += 10.0 * max(0.0, clearance - math.hypot(px - ox, py - oy))
    cost += sum(1.0 for point in curve for box in placed.labels if _inside(point, box))
    if text:
        box = _label_box(text, _bezier(a, _control(a, b, bend), b, at))
        cost += sum(8.0 * box.overlap(other) for other in placed.labels)
        nodes = (*others, a, b)
        cost += sum(8.0 * box.overlap(Box(x, y, NODE_RADIUS, NODE_RADIUS)) for x, y in nodes)
        cost += sum(1.0 for points in placed.curves for point in points if _inside(point, box))
    return cost


def _node_label(node: str) -> str:
    return f"${node}$" if node.startswith("c_") else node


@dataclass(frozen=True)
class Route:
    """Where one edge is drawn: its bend (matplotlib ``arc3`` rad) and its label's box."""

    source: str
    target: str
    op: str
    text: str
    bend: float
    label: Box | None
    key: int = 0  # which of the parallel edges between source and target


def route(graph: nx.MultiDiGraph, pos: dict[str, Point]) -> list[Route]:
    """Choose every edge's bend and label position, greedily, long edges first (they have the
    fewest good routes; short ones adapt around them). Parallel edges take bends at least
    :data:`PARALLEL_GAP` apart. Pure geometry, no matplotlib."""
    placed = _Placed(labels=[], curves=[])
    routes = []
    bends: dict[tuple[str, str], list[float]] = {}  # bends taken between two nodes
    order = sorted(
        graph.edges(keys=True, data=True), key=lambda e: -math.dist(pos[e[0]], pos[e[1]])
    )
    for u, v, key, data in order:
        a, b = pos[u], pos[v]
        text = edge_text(data["op"], data["factors"]) if data["op"] != "concat" else ""
        others = [p for n, p in pos.items() if n not in (u, v)]
        taken = bends.setdefault((u, v), [])
        free = [r for r in _BENDS if all(abs(r - t) >= PARALLEL_GAP for t in taken)]
        bend, at = min(
            ((r, t) for r in free or _BENDS for t in (_LABEL_AT if text else (0.5,))),
            key=lambda c: _cost(a, b, c[0], c[1], text, others, placed),
        )
        taken.append(bend)
        placed.curves.append(_curve(a, b, bend))
        label = _label_box(text, _bezier(a, _control(a, b, bend), b, at)) if text else None
        if label is not None:
            placed.labels.append(label)
        routes.append(Route(u, v, data["op"], text, bend, label, key))
    return routes


def draw_cell(ax: Axes, genotype: Genotype, cell_type: str, colors: dict[str, str]) -> None:
    """Draw one cell of ``genotype`` on ``ax`` (whose data units must be inches)."""
    from matplotlib.patches import Circle, FancyArrowPatch

    graph = genotype.to_networkx(cell_type)
    pos = layout(graph)
    for edge in route(graph, pos):
        color = colors.get(edge.op, "#9a9a9a")
        ax.add_patch(
            FancyArrowPatch(
                pos[edge.source],
                pos[edge.target],
                connectionstyle=f"arc3,rad={edge.bend}",
                arrowstyle="-|>",
                mutation_scale=11,
                shrinkA=NODE_RADIUS * 72 + 1,
                shrinkB=NODE_RADIUS * 72 + 1,
                color=color,
                linewidth=1.6 if edge.label else 1.0,
                linestyle="-" if edge.label else (0, (4, 3)),
                zorder=1,
            )
        )
        if edge.label is not None:
            ax.text(
                edge.label.x,
                edge.label.y,
                edge.text,
                ha="center",
                va="center",
                fontsize=FONT_SIZE,
                zorder=3,
                bbox={"boxstyle": "round,pad=0.25", "fc": "white", "ec": color, "lw": 0.9},
            )
    for node, (x, y) in pos.items():
        kind = graph.nodes[node]["kind"]
        ax.add_patch(
            Circle((x, y), NODE_RADIUS, fc=_NODE_COLORS[kind], ec="#333333", lw=1.0, zorder=2)
        )
        ax.text(x, y, _node_label(node), ha="center", va="center", fontsize=10, zorder=4)


def cell_figure(genotype: Genotype, cell_type: str, colors: dict[str, str] | None = None) -> Figure:
    """A figure of one cell, sized so that one data unit is one inch."""
    figure_module = require_matplotlib()
    pos = layout(genotype.to_networkx(cell_type))
    xs = [p[0] for p in pos.values()]
    ys = [p[1] for p in pos.values()]
    margin_x, margin_y = 1.0, 1.3  # room for arcs bulging past the outer nodes
    width = max(xs) - min(xs) + 2 * margin_x
    height = max(ys) - min(ys) + 2 * margin_y
    figure = figure_module.Figure(figsize=(width, height))
    ax = figure.add_axes((0.0, 0.0, 1.0, 1.0))
    ax.set_xlim(min(xs) - margin_x, max(xs) + margin_x)
    ax.set_ylim(min(ys) - margin_y, max(ys) + margin_y)
    ax.set_aspect("equal")
    ax.axis("off")
    draw_cell(ax, genotype, cell_type, colors or op_colors(genotype))
    title = f"{cell_type} cell" if cell_type == "normal" else "reduction cell"
    ax.text(
        min(xs) - margin_x + 0.15,
        max(ys) + margin_y - 0.15,
        f"{title}  (op group: {genotype.op_group})",
        ha="left",
        va="top",
        fontsize=11,
        fontweight="bold",
    )
    return figure


def save_cell_diagrams(
    genotype: Genotype, out_dir: str | Path, formats: Iterable[str] = ("png", "svg")
) -> list[Path]:
    """Write ``cell_normal`` and ``cell_reduce`` diagrams into ``out_dir``; returns the files."""
    require_matplotlib()  # before creating anything: no empty folder when it is missing
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    colors = op_colors(genotype)
    formats = tuple(formats)
    written: list[Path] = []
    for cell_type in ("normal", "reduce"):
        written += save(
            cell_figure(genotype, cell_type, colors), out / f"cell_{cell_type}", formats
        )
    return written
