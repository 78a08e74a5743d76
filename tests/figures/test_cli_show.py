"""``factornas show``: the genotype table, the pictures, and life without matplotlib."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from factornas.cli import main
from factornas.factors.registry import registry
from factornas.plugins import _module_name
from factornas.space.genotype import Genotype

from .conftest import assert_png, needs_matplotlib, svg_texts, write_records


@pytest.mark.slow
@needs_matplotlib
def test_show_prints_the_table_and_writes_every_picture(
    run_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["show", str(run_dir), "--format", "png"]) == 0
    out = capsys.readouterr().out
    for text in ("normal cell", "reduction cell", "op_bare", "normalization", "bn_affine"):
        assert text in out
    assert "c_{k-2} → 0" in out and "wrote 8 pictures" in out
    assert "not registered" not in out  # every group is named
    figures = sorted(p.name for p in (run_dir / "figures").iterdir())
    assert figures == [
        ".factornas",  # the folder is ours: redrawing replaces exactly these
        "arch_normal.png",
        "arch_normal_normalization.png",
        "arch_normal_op_bare.png",
        "arch_reduce.png",
        "arch_reduce_op_bare.png",
        "cell_normal.png",
        "cell_reduce.png",
        "curves.png",
    ]
    assert_png(run_dir / "figures" / "cell_normal.png", min_width=1000)


@needs_matplotlib
def test_show_a_genotype_file_into_another_directory(run_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "pictures"
    genotype = run_dir / "genotype.json"
    assert main(["show", str(genotype), "--out", str(out), "--format", "svg"]) == 0
    assert sorted(p.name for p in out.iterdir()) == [
        ".factornas",
        "cell_normal.svg",
        "cell_reduce.svg",
    ]


def test_without_matplotlib_the_table_is_still_printed(
    run_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # import now fails
    assert main(["show", str(run_dir)]) == 0
    out = capsys.readouterr().out
    assert "sep_conv_3x3" in out and "selu" in out
    hint = [line for line in out.splitlines() if "matplotlib" in line]
    assert len(hint) == 1 and "pip install 'factornas[plot]'" in hint[0]
    assert not (run_dir / "figures").exists()


def test_the_latest_metrics_genotype_stands_in_for_a_missing_file(
    run_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (run_dir / "genotype.json").unlink()
    assert main(["show", str(run_dir), "--no-figures"]) == 0
    assert "dil_conv_3x3" in capsys.readouterr().out


def test_a_directory_without_a_genotype_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["show", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "no genotype.json" in err and "\n" not in err


@needs_matplotlib
def test_a_retraining_s_run_directory_is_shown_with_its_curves(
    tmp_path: Path, genotype: Genotype, capsys: pytest.CaptureFixture[str]
) -> None:
    """``factornas train`` records the genotype it trained in its config.json, not in a
    genotype.json, and its metrics have test numbers instead of search-val ones."""
    run = tmp_path / "retrain"
    run.mkdir()
    saved = {"config": {"epochs": 1}, "genotype": genotype.model_dump(mode="json")}
    (run / "config.json").write_text(json.dumps(saved))
    record = {"epoch": 0, "lr": 0.025, "train_loss": 2.0, "train_top1": 30.0, "test_loss": 1.9}
    write_records(run / "metrics.jsonl", [{**record, "test_top1": 35.0}])
    assert main(["show", str(run), "--format", "png"]) == 0
    out = capsys.readouterr().out
    assert "dil_conv_3x3" in out and "wrote 3 pictures" in out
    assert sorted(p.name for p in (run / "figures").iterdir()) == [
        ".factornas",
        "cell_normal.png",
        "cell_reduce.png",
        "curves.png",
    ]
    assert_png(run / "figures" / "curves.png", min_width=1000)


#: A user's own factor group, defined outside factornas: the plug-in their search imported.
PLUGIN = """
from torch import nn
from factornas import Candidate, FactorGroup, Placement, register_group

register_group(
    FactorGroup(
        "show_test_gate",
        placement=Placement.OUTPUT,
        attach_to={"conv"},
        candidates=[
            Candidate("identity", factory=lambda channels: nn.Identity()),
            Candidate("squeeze_gate", factory=lambda channels: nn.Identity()),
        ],
    )
)
"""


@pytest.fixture
def plugin(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "gate_plugin.py"
    path.write_text(PLUGIN)
    yield path
    if "show_test_gate" in registry:
        registry.unregister("show_test_gate")
    sys.modules.pop(_module_name(path.resolve()), None)


@needs_matplotlib
@pytest.mark.slow
def test_a_plugin_s_group_is_labelled_by_name_with_plugin(
    tmp_path: Path, genotype: Genotype, plugin: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "gated"
    run.mkdir()
    normal = [
        {"group": "op_bare", "candidates": ["skip_connect", "sep_conv_3x3"]},
        {"group": "show_test_gate"},  # its candidates come from the plug-in
    ]
    (run / "config.json").write_text(json.dumps({"space": {"name": "gated", "normal": normal}}))
    rows = [[0.4, 0.6]] * 14
    write_records(
        run / "metrics.jsonl", [{"epoch": 0, "arch": {"normal": {"show_test_gate": rows}}}]
    )
    genotype.save(run / "genotype.json")

    assert main(["show", str(run), "--format", "svg"]) == 0
    hint = [line for line in capsys.readouterr().out.splitlines() if "not registered" in line]
    assert hint == [
        "'show_test_gate' is not registered here, so its candidates are labelled by index: pass "
        "--plugin MODULE_OR_FILE (what registered them for the search) to label them by name"
    ]
    assert "squeeze_gate" not in svg_texts(run / "figures" / "arch_normal_show_test_gate.svg")

    assert main(["show", str(run), "--format", "svg", "--plugin", str(plugin)]) == 0
    assert "not registered" not in capsys.readouterr().out
    for name in ("arch_normal", "arch_normal_show_test_gate"):
        texts = svg_texts(run / "figures" / f"{name}.svg")
        assert "identity" in texts and "squeeze_gate" in texts, name
