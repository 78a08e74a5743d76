"""``--overwrite`` never leaves files of two runs side by side, and results appear only with a
finished summary."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from factornas.cli import main
from factornas.runtime.owned import MARKER, read_marker
from tests.reliability.conftest import TINY_SEARCH, one_line_error

RESULTS = ("summary.json", "genotype.json", "arch_weights.json")


@pytest.mark.slow
def test_a_finished_run_writes_its_results_together_and_no_temp_file(finished: Path) -> None:
    assert all((finished / name).is_file() for name in RESULTS)
    assert json.loads((finished / "summary.json").read_text())["finished"] is True
    assert sorted(p.name for p in finished.iterdir() if p.name.startswith(".")) == [".factornas"]
    recorded = read_marker(finished)["files"]
    assert sorted(recorded) == sorted(p.name for p in finished.iterdir() if p.name != MARKER)


def test_an_overwrite_that_fails_leaves_no_stale_genotype(
    finished: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    line = one_line_error(
        capsys, [*TINY_SEARCH, "--subset", "100000", "--overwrite", "--out", str(finished)]
    )
    assert "--subset 100000 exceeds" in line
    assert sorted(p.name for p in finished.iterdir()) == []  # old run gone, new one never began
    line = one_line_error(capsys, ["info", "--genotype", str(finished)])
    assert line == f"error: {finished} is a directory without a genotype.json"


@pytest.mark.slow
def test_overwrite_replaces_every_file_of_the_old_run_and_none_of_the_users(
    finished: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("matplotlib")
    assert main(["show", str(finished), "--format", "svg"]) == 0  # figures/, recorded
    (finished / "notes.txt").write_text("the user's own")
    (finished / "figures" / "mine.txt").write_text("the user's own too")
    old_config = json.loads((finished / "config.json").read_text())
    assert main([*TINY_SEARCH, "--seed", "9", "--overwrite", "--out", str(finished)]) == 0
    assert json.loads((finished / "config.json").read_text())["seed"] == 9 != old_config["seed"]
    assert sorted(p.name for p in (finished / "figures").iterdir()) == [MARKER, "mine.txt"]
    assert (finished / "notes.txt").read_text() == "the user's own"
    summary = json.loads((finished / "summary.json").read_text())
    genotype = json.loads((finished / "genotype.json").read_text())
    assert summary["genotype"] == genotype
