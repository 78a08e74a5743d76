"""How the architecture weights moved during a search, read from ``metrics.jsonl``.

Each record of the file holds ``epoch`` and ``arch`` = ``{cell_type: {group: [[softmax row
per edge], ...]}}``. Records are arrays without names; the candidate names come from the run's
``config.json`` when its ``space`` still resolves (custom groups must be registered in this
process; see :func:`candidate_names`), and fall back to the candidates' indices otherwise, so
the figures never fail on the registry state of the reader.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from factornas.errors import FactorNASError
from factornas.factors.registry import registry
from factornas.figures.axes import whole_number_axis
from factornas.figures.backend import require_matplotlib, save
from factornas.runtime.metrics import read_metrics
from factornas.space.config import SearchSpace, Topology

#: Candidate names per cell type and group.
Names = Mapping[str, Mapping[str, Sequence[str]]]


@dataclass
class GroupSeries:
    """One group's softmaxed weights over the epochs that recorded it.

    ``values[k][e][i]`` is candidate ``i`` of edge ``e`` at ``epochs[k]``.
    """

    epochs: list[int]
    values: list[list[list[float]]]


@dataclass(frozen=True)
class ArchHistory:
    """Per cell type and group, the weights of every recorded epoch."""

    series: dict[str, dict[str, GroupSeries]]

    def groups(self, cell_type: str) -> tuple[str, ...]:
        return tuple(self.series.get(cell_type, {}))

    @property
    def cell_types(self) -> tuple[str, ...]:
        return tuple(self.series)

    def __bool__(self) -> bool:
        return any(self.series.values())


def history_from_records(records: Iterable[Mapping[str, Any]]) -> ArchHistory:
    """Collect the ``arch`` field of metrics records, in epoch order (others are skipped).

    A group must keep its shape across epochs: a changed shape means records of two different
    runs were mixed, which would draw a meaningless trajectory.
    """
    rows = sorted((r for r in records if "arch" in r and "epoch" in r), key=lambda r: r["epoch"])
    series: dict[str, dict[str, GroupSeries]] = {}
    for record in rows:
        for cell_type, groups in record["arch"].items():
            for group, value in groups.items():
                entry = series.setdefault(cell_type, {}).setdefault(group, GroupSeries([], []))
                if entry.values and _shape(entry.values[0]) != _shape(value):
                    raise FactorNASError(
                        f"{cell_type} group {group!r} changes shape at epoch {record['epoch']}: "
                        "the metrics file mixes runs"
                    )
                entry.epochs.append(int(record["epoch"]))
                entry.values.append([[float(x) for x in row] for row in value])
    return ArchHistory(series)


def _shape(value: Sequence[Sequence[float]]) -> tuple[int, int]:
    return len(value), len(value[0]) if value else 0


def read_records(path: str | Path) -> list[dict[str, Any]]:
    """The records of a ``metrics.jsonl`` file (a torn last line, mid-write, is ignored; a
    damaged line elsewhere is an error naming it; an unreadable file, one line)."""
    path = Path(path)
    try:
        return read_metrics(path)
    except OSError as error:
        raise FactorNASError(f"cannot read metrics file {path}: {error.strerror}") from None


def read_history(path: str | Path) -> ArchHistory:
    """The history of a ``metrics.jsonl`` file (see :func:`read_records`)."""
    return history_from_records(read_records(path))


def candidate_names(config_path: str | Path) -> dict[str, dict[str, tuple[str, ...]]]:
    """Candidate names per cell type and group from a run's ``config.json``.

    The space is resolved against this process's registry when it can be. A run that used a
    group not registered here (a user's own, defined in their script) still gets the names of
    every other group, and of its own when the space listed them; empty when the file or its
    ``space`` cannot be read at all.
    """
    try:
        raw = json.loads(Path(config_path).read_text())["space"]
    except (OSError, ValueError, KeyError, TypeError, RecursionError):
        return {}
    try:
        space = SearchSpace.model_validate(raw)
    except ValueError:
        return _listed_names(raw)
    return {
        ct: {f.name: f.names for f in space.cell(ct).groups() if f.searched}
        for ct in space.cell_types
    }


def unnamed_groups(config_path: str | Path) -> tuple[str, ...]:
    """Groups of a run's space whose candidates :func:`candidate_names` cannot name: not
    registered in this process, and not listed by the space (a flat twin's fused names need
    every group). Their weights are plotted by candidate index until a plug-in registers them."""
    try:
        raw = json.loads(Path(config_path).read_text())["space"]
        specs = [*raw["normal"], *(raw.get("reduce") or ())]
        unregistered = [s["group"] for s in specs if s["group"] not in registry]
        listed = {s["group"] for s in specs if s.get("candidates") is not None}
        flat = bool(raw.get("flat"))
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError):
        return ()
    unnamed = [g for g in unregistered if flat or g not in listed]
    return tuple(dict.fromkeys(unnamed))


def _listed_names(raw: Any) -> dict[str, dict[str, tuple[str, ...]]]:
    """Names from the group specs themselves: listed candidates, else the registered group's."""
    try:
        specs = {"normal": raw["normal"], "reduce": raw.get("reduce") or raw["normal"]}
        if raw.get("flat"):
            return {}  # fused names need every group resolved
        names: dict[str, dict[str, tuple[str, ...]]] = {}
        for cell_type, groups in specs.items():
            names[cell_type] = {}
            for spec in groups:
                listed = spec.get("candidates")
                if listed is None and spec["group"] in registry:
                    listed = registry.get(spec["group"]).names
                if listed is not None:
                    names[cell_type][spec["group"]] = tuple(listed)
        return names
    except (AttributeError, KeyError, TypeError):
        return {}


def edge_names(num_edges: int) -> list[str]:
    """``source → target`` per supernet edge, with nodes named as in the cell diagrams."""
    steps = 0
    while sum(i + 2 for i in range(steps)) < num_edges:
        steps += 1
    if sum(i + 2 for i in range(steps)) != num_edges:
        return [f"edge {e}" for e in range(num_edges)]
    node = ["$c_{k-2}$", "$c_{k-1}$", *(str(i) for i in range(steps))]
    index = Topology(steps=steps, multiplier=1, edges_per_node=1).edge_index()
    return [f"{node[source]} → {node[target]}" for target, source in index]


def _names(names: Names, cell_type: str, group: str, count: int) -> list[str]:
    given = list(names.get(cell_type, {}).get(group, ()))
    return given if len(given) == count else [str(i) for i in range(count)]


def heatmap_figure(history: ArchHistory, cell_type: str, names: Names) -> Any:
    """Final-epoch weights of every group of one cell type: edges × candidates per panel.

    Colors are centred on the uniform weight 1/n (white), red above and blue below, scaled to
    the panel's largest departure: early in a search every weight is within a percent of
    uniform, and an absolute scale would paint the whole panel one color. The printed values
    get as many decimals as that departure needs to be visible.
    """
    figure_module = require_matplotlib()
    from matplotlib.colors import TwoSlopeNorm

    groups = history.groups(cell_type)
    finals = [history.series[cell_type][g].values[-1] for g in groups]
    widths = [max(len(f[0]), 2) for f in finals]
    edges = len(finals[0])
    figure = figure_module.Figure(
        figsize=(2.2 + sum(0.42 * w + 1.2 for w in widths), 1.6 + 0.3 * edges),
        layout="constrained",
    )
    axes = figure.subplots(1, len(groups), width_ratios=widths, squeeze=False)[0]
    rows = edge_names(edges)
    for ax, group, final in zip(axes, groups, finals, strict=True):
        labels = _names(names, cell_type, group, len(final[0]))
        uniform = 1.0 / len(final[0])
        spread = max(max(abs(v - uniform) for v in row) for row in final) or 1e-6
        norm = TwoSlopeNorm(uniform, max(0.0, uniform - spread), uniform + spread)
        decimals = min(4, max(2, math.ceil(-math.log10(spread))))
        image = ax.imshow(final, cmap="RdBu_r", norm=norm, aspect="auto")
        bar = figure.colorbar(image, ax=ax, shrink=0.6, pad=0.02)
        bar.ax.tick_params(labelsize=7)
        bar.set_label(f"weight (white: 1/{len(final[0])})", fontsize=7)
        ax.set_xticks(range(len(labels)), labels, rotation=60, ha="right", fontsize=7)
        ax.set_yticks(range(len(rows)), rows if ax is axes[0] else [""] * len(rows), fontsize=7)
        ax.set_title(f"{group} (epoch {history.series[cell_type][group].epochs[-1]})", fontsize=9)
        if len(labels) <= 12:
            for e, row in enumerate(final):
                for i, value in enumerate(row):
                    shade = float(norm(value))  # 0 darkest blue, 0.5 white, 1 darkest red
                    color = "white" if abs(shade - 0.5) > 0.3 else "black"
                    ax.text(
                        i,
                        e,
                        f"{value:.{decimals}f}",
                        ha="center",
                        va="center",
                        fontsize=5.5,
                        color=color,
                    )
    title = "normal" if cell_type == "normal" else "reduction"
    figure.suptitle(f"{title} cell: final softmax weights per edge", fontsize=10)
    return figure


#: Above this many candidates a trajectory colors only the strongest few of each edge and
#: greys the rest: forty lines in forty colors (a flat twin's) cannot be told apart.
MAX_COLORED = 10
#: How many of an edge's candidates are colored in its panel, when not all are.
COLORED_PER_EDGE = 3
#: The most candidates with a color, one of tab20's each.
MAX_HIGHLIGHTED = 20
_OTHERS_COLOR = "#c4c4c4"


@dataclass(frozen=True)
class Highlight:
    """Which candidates a trajectory figure draws in color: ``colored`` (in candidate order)
    have a color and a legend entry; ``per_edge[e]`` are those colored in edge ``e``'s panel."""

    colored: list[int]
    per_edge: list[frozenset[int]]


def highlight(series: GroupSeries) -> Highlight:
    """Every candidate, up to :data:`MAX_COLORED`; beyond, on each edge its
    :data:`COLORED_PER_EDGE` strongest at the last epoch (what the genotype takes, and what it
    beat), each with one color across the panels. More than :data:`MAX_HIGHLIGHTED` such
    candidates keep a color only for those strongest on more edges (then by weight)."""
    final = series.values[-1]
    count = len(final[0])
    if count <= MAX_COLORED:
        every = frozenset(range(count))
        return Highlight(list(range(count)), [every] * len(final))
    tops = [_strongest(row, COLORED_PER_EDGE) for row in final]
    edges_led = {i: sum(1 for top in tops if i in top) for top in tops for i in top}
    strongest = {i: max(row[i] for row in final) for i in edges_led}
    kept = sorted(edges_led, key=lambda i: (-edges_led[i], -strongest[i], i))[:MAX_HIGHLIGHTED]
    return Highlight(sorted(kept), [frozenset(top) & frozenset(kept) for top in tops])


def _strongest(row: Sequence[float], k: int) -> list[int]:
    """The ``k`` largest entries' indices, largest first (ties: the lower index)."""
    return sorted(range(len(row)), key=lambda i: (-row[i], i))[:k]


def trajectory_figure(history: ArchHistory, cell_type: str, group: str, names: Names) -> Any:
    """One panel per edge: each candidate's weight over the epochs, one shared legend.

    With more than :data:`MAX_COLORED` candidates each panel colors only its strongest (see
    :func:`highlight`); the others are thin grey lines under them, with one legend entry.
    """
    figure_module = require_matplotlib()

    series = history.series[cell_type][group]
    edges, count = len(series.values[0]), len(series.values[0][0])
    labels = _names(names, cell_type, group, count)
    chosen = highlight(series)
    colored = chosen.colored
    greyed = count > len(colored) or any(len(shown) < count for shown in chosen.per_edge)
    others = "others (grey)"
    legend_labels = [labels[i] for i in colored] + ([others] if greyed else [])
    cols = min(edges, 5)
    grid_rows = math.ceil(edges / cols)
    width = 2.6 * cols
    # Fixed margins in inches instead of a constrained layout: several times faster to save
    # with this many panels. The legend gets as many columns as the widest label lets fit
    # across the figure.
    entries = len(legend_labels)
    legend_cols = max(
        1, min(entries, 10, int((width - 0.4) // _legend_column_inches(legend_labels)))
    )
    legend_rows = math.ceil(entries / legend_cols)
    # The left margin holds weight ticks of five decimals (0.33400: weights near uniform).
    top, bottom, left, right = 0.5, 0.55 + 0.2 * legend_rows, 0.75, 0.15
    height = 1.9 * grid_rows + top + bottom
    figure = figure_module.Figure(figsize=(width, height))
    axes = figure.subplots(
        grid_rows,
        cols,
        sharex=True,
        sharey=True,
        squeeze=False,
        gridspec_kw={
            "left": left / width,
            "right": 1 - right / width,
            "top": 1 - top / height,
            "bottom": bottom / height,
            "hspace": 0.35,
            "wspace": 0.08,
        },
    ).ravel()
    colors = dict(zip(colored, _candidate_colors(len(colored)), strict=True))
    marker = "o" if len(series.epochs) < 8 else None
    rows = edge_names(edges)
    for e, ax in enumerate(axes):
        if e >= edges:
            ax.axis("off")
            continue
        for i in range(count):
            if i not in chosen.per_edge[e]:
                ax.plot(
                    series.epochs,
                    [step[e][i] for step in series.values],
                    color=_OTHERS_COLOR,
                    linewidth=0.6,
                    zorder=1,
                    label=others,
                )
                continue
            ax.plot(
                series.epochs,
                [step[e][i] for step in series.values],
                color=colors[i],
                marker=marker,
                markersize=3,
                linewidth=1.2,
                zorder=2,
                label=labels[i],
            )
        ax.set_title(rows[e], fontsize=8)
        # The lowest panel of each column carries the epoch ticks, even above an empty slot.
        ax.tick_params(labelsize=7, labelbottom=e + cols >= edges)
        ax.grid(alpha=0.3)
    whole_number_axis(axes[0], series.epochs)  # shared by every panel
    by_label: dict[str, Any] = {}
    for ax in axes[:edges]:  # a candidate colored on some edge only has its handle there
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            by_label.setdefault(label, handle)
    figure.legend(
        [by_label[label] for label in legend_labels],
        legend_labels,
        loc="lower center",
        ncol=legend_cols,
        fontsize=7,
    )
    figure.supxlabel("epoch", fontsize=8, y=(0.2 * legend_rows + 0.2) / height)
    title = "normal" if cell_type == "normal" else "reduction"
    shown = f" (in color: each edge's {COLORED_PER_EDGE} strongest)" if greyed else ""
    figure.suptitle(
        f"{title} cell, group {group!r}: softmax weight per edge by epoch{shown}", fontsize=10
    )
    return figure


def _legend_column_inches(labels: Sequence[str]) -> float:
    """Width of one legend column at font size 7: the line sample and padding (about 0.55 in)
    plus the longest label (about 0.058 in per character)."""
    return 0.55 + 0.058 * max((len(label) for label in labels), default=1)


def _candidate_colors(count: int) -> list[Any]:
    """Distinct colors for up to :data:`MAX_HIGHLIGHTED` candidates: tab10, then tab20."""
    from matplotlib import colormaps

    cmap = colormaps["tab10" if count <= 10 else "tab20"]
    return [cmap(i) for i in range(count)]


def save_history_figures(
    history: ArchHistory,
    out_dir: str | Path,
    names: Names | None = None,
    formats: Iterable[str] = ("png", "svg"),
) -> list[Path]:
    """Heatmaps (``arch_<cell>``) and trajectories (``arch_<cell>_<group>``) into ``out_dir``."""
    if not history:
        return []
    require_matplotlib()  # before creating anything: no empty folder when it is missing
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    formats = tuple(formats)
    names = names or {}
    written: list[Path] = []
    for cell_type in history.cell_types:
        if not history.groups(cell_type):
            continue
        written += save(
            heatmap_figure(history, cell_type, names), out / f"arch_{cell_type}", formats
        )
        for group in history.groups(cell_type):
            figure = trajectory_figure(history, cell_type, group, names)
            written += save(figure, out / f"arch_{cell_type}_{group}", formats, tight=False)
    return written
