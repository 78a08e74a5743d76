"""Reading ``metrics.jsonl`` into weight histories, and drawing heatmaps and trajectories."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from factornas.errors import FactorNASError
from factornas.figures.history import (
    MAX_HIGHLIGHTED,
    ArchHistory,
    candidate_names,
    edge_names,
    highlight,
    history_from_records,
    read_history,
    save_history_figures,
    trajectory_figure,
    unnamed_groups,
)

from .conftest import arch_record, assert_png, needs_matplotlib, svg_texts


def test_records_become_per_group_series_in_epoch_order() -> None:
    records = [
        {"epoch": 1, "arch": arch_record(1)},
        {"epoch": 0, "arch": arch_record(0)},
        {"epoch": 2, "train_loss": 1.0},  # a record without weights is skipped
    ]
    history = history_from_records(records)
    assert history.cell_types == ("normal", "reduce")
    assert history.groups("normal") == ("op_bare", "normalization")
    series = history.series["normal"]["normalization"]
    assert series.epochs == [0, 1]
    assert series.values[0] == arch_record(0)["normal"]["normalization"]
    assert len(series.values[1]) == 14 and len(series.values[1][0]) == 3


def test_a_group_changing_shape_means_mixed_runs() -> None:
    changed = arch_record(1)
    changed["reduce"]["op_bare"] = [[*row, 0.0] for row in changed["reduce"]["op_bare"]]
    with pytest.raises(FactorNASError, match="changes shape at epoch 1"):
        history_from_records([{"epoch": 0, "arch": arch_record(0)}, {"epoch": 1, "arch": changed}])


def test_a_torn_last_line_is_ignored(run_dir: Path) -> None:
    metrics = run_dir / "metrics.jsonl"
    metrics.write_text(metrics.read_text() + '{"epoch": 3, "arch": {"nor')
    assert read_history(metrics).series["reduce"]["op_bare"].epochs == [0, 1, 2]


def test_candidate_names_come_from_the_run_config(run_dir: Path, tmp_path: Path) -> None:
    names = candidate_names(run_dir / "config.json")
    assert names["normal"] == {
        "op_bare": ("none", "skip_connect", "sep_conv_3x3"),
        "normalization": ("bn", "bn_affine", "gn"),
    }  # the single-candidate activation has no weights, hence no entry
    assert names["reduce"] == {"op_bare": ("max_pool_3x3", "skip_connect")}
    assert candidate_names(tmp_path / "missing.json") == {}


def test_a_group_not_registered_here_keeps_the_names_it_listed(tmp_path: Path) -> None:
    """A user's own group lives in their script: `show` still names what it can."""
    normal = [
        {"group": "op", "candidates": None},
        {"group": "not_registered_here", "candidates": ["a", "b"]},
        {"group": "also_unknown", "candidates": None},
    ]
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"space": {"normal": normal, "reduce": None}}))
    names = candidate_names(config)
    assert names["normal"] == names["reduce"]
    assert names["normal"]["not_registered_here"] == ("a", "b")
    assert names["normal"]["op"][:2] == ("none", "max_pool_3x3")  # registered: resolved here
    assert "also_unknown" not in names["normal"]  # plotted by candidate index
    assert unnamed_groups(config) == ("also_unknown",)  # which `show` names in its hint
    config.write_text(json.dumps({"space": {"normal": normal, "flat": True}}))
    assert unnamed_groups(config) == ("not_registered_here", "also_unknown")  # fused names
    assert unnamed_groups(tmp_path / "missing.json") == ()


def test_edge_names_follow_the_supernet_edge_order() -> None:
    names = edge_names(14)
    assert names[0] == "$c_{k-2}$ → 0" and names[1] == "$c_{k-1}$ → 0"
    assert names[2] == "$c_{k-2}$ → 1" and names[-1] == "2 → 3"
    assert edge_names(4) == ["edge 0", "edge 1", "edge 2", "edge 3"]  # not a DARTS cell


@needs_matplotlib
@pytest.mark.slow
def test_heatmaps_and_trajectories_are_written(run_dir: Path, tmp_path: Path) -> None:
    history = read_history(run_dir / "metrics.jsonl")
    out = tmp_path / "figs"
    names = candidate_names(run_dir / "config.json")
    written = save_history_figures(history, out, names, formats=("png",))
    assert sorted(p.name for p in written) == [
        "arch_normal.png",
        "arch_normal_normalization.png",
        "arch_normal_op_bare.png",
        "arch_reduce.png",
        "arch_reduce_op_bare.png",
    ]
    for path in written:
        assert_png(path)


@needs_matplotlib
@pytest.mark.slow
def test_svg_figures_name_the_candidates(tmp_path: Path) -> None:
    normal = {"normalization": arch_record(0)["normal"]["normalization"]}
    history = history_from_records([{"epoch": 0, "arch": {"normal": normal}}])
    names = {"normal": {"normalization": ("bn", "bn_affine", "gn")}}
    heatmap, trajectories = save_history_figures(history, tmp_path, names, formats=("svg",))
    for path in (heatmap, trajectories):
        assert all(name in svg_texts(path) for name in ("bn", "bn_affine", "gn", "normalization"))
    index_only = save_history_figures(history, tmp_path / "unnamed", formats=("svg",))
    assert "bn_affine" not in svg_texts(index_only[0])  # without names: candidates by index


def test_no_records_no_figures(tmp_path: Path) -> None:
    assert save_history_figures(history_from_records([]), tmp_path) == []


def _led_history(count: int, stride: int, epochs: int = 3) -> ArchHistory:
    """A flat twin's weights on 14 edges: on edge e candidates ``stride · e`` to
    ``stride · e + 2`` pull ahead (the first the fastest) and the rest sink."""
    records = []
    for epoch in range(epochs):
        rows = []
        for e in range(14):
            ahead = [i - stride * e for i in range(count)]
            raw = [1.0 + (0.5 * epoch * (3 - d) if 0 <= d < 3 else 0.0) for d in ahead]
            rows.append([x / sum(raw) for x in raw])
        records.append({"epoch": epoch, "arch": {"normal": {"flat": rows}}})
    return history_from_records(records)


def test_a_flat_twin_colors_each_edge_s_three_strongest() -> None:
    chosen = highlight(_led_history(40, stride=1).series["normal"]["flat"])
    assert chosen.per_edge[0] == {0, 1, 2} and chosen.per_edge[13] == {13, 14, 15}
    # 16 candidates lead somewhere, all within tab20's colors.
    assert chosen.colored == list(range(16))
    few = history_from_records([{"epoch": 0, "arch": arch_record(0)}])
    every = highlight(few.series["normal"]["op_bare"])
    assert every.colored == [0, 1, 2] and all(shown == {0, 1, 2} for shown in every.per_edge)


def test_beyond_twenty_leaders_the_most_frequent_keep_a_color() -> None:
    """Every edge led by three candidates of its own: 42 leaders for 20 colors."""
    chosen = highlight(_led_history(42, stride=3).series["normal"]["flat"])
    assert len(chosen.colored) == MAX_HIGHLIGHTED
    # Each leads one edge: the strongest (each edge's first) come first, then by index.
    assert set(range(0, 42, 3)) <= set(chosen.colored)
    assert all(shown <= set(chosen.colored) for shown in chosen.per_edge)


@needs_matplotlib
def test_the_flat_twin_s_trajectories_grey_all_but_each_edge_s_strongest() -> None:
    names = {"normal": {"flat": tuple(f"op{i}" for i in range(40))}}
    figure = trajectory_figure(_led_history(40, stride=1), "normal", "flat", names)
    panels = [ax for ax in figure.axes if ax.lines]
    assert len(panels) == 14
    for e, ax in enumerate(panels):
        colored = [line for line in ax.lines if line.get_color() != "#c4c4c4"]
        assert {line.get_label() for line in colored} == {f"op{e + i}" for i in range(3)}
        assert len(ax.lines) == 40
    legend = [t.get_text() for t in figure.legends[0].get_texts()]
    assert legend == [*(f"op{i}" for i in range(16)), "others (grey)"]
    assert "each edge's 3 strongest" in figure.texts[-1].get_text()
