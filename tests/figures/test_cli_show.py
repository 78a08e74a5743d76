"""``factornas show``: the genotype table, the pictures, and life without matplotlib."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from factornas.cli import main

from .conftest import assert_png, needs_matplotlib


@pytest.mark.slow
@needs_matplotlib
def test_show_prints_the_table_and_writes_every_picture(
    run_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["show", str(run_dir), "--format", "png"]) == 0
    out = capsys.readouterr().out
    for text in ("normal cell", "reduction cell", "op_bare", "normalization", "bn_affine"):
        assert text in out
    assert "c_{k-2} → 0" in out and "wrote 7 pictures" in out
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
