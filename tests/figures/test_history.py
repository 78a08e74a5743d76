"""Reading ``metrics.jsonl`` into weight histories, and drawing heatmaps and trajectories."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from factornas.errors import FactorNASError
from factornas.figures.history import (
    candidate_names,
    edge_names,
    history_from_records,
    read_history,
    save_history_figures,
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


def test_edge_names_follow_the_supernet_edge_order() -> None:
    names = edge_names(14)
    assert names[0] == "$c_{k-2}$ → 0" and names[1] == "$c_{k-1}$ → 0"
    assert names[2] == "$c_{k-2}$ → 1" and names[-1] == "2 → 3"
    assert edge_names(4) == ["edge 0", "edge 1", "edge 2", "edge 3"]  # not a DARTS cell


@needs_matplotlib
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
