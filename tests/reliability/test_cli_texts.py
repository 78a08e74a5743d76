"""What the commands print: help with every default, summaries that do not wrap mid-sentence,
an example script that reads ``--help`` as help."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

from factornas.cli import build_parser, main
from tests.reliability.conftest import TINY_TRAIN

ROOT = Path(__file__).parents[2]
EXAMPLE = ROOT / "examples" / "custom_factor_group.py"
VENV = Path(sys.executable).parents[1]


def _subparser(name: str) -> argparse.ArgumentParser:
    action = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices[name]


@pytest.mark.parametrize("command", ["search", "train"])
def test_every_flag_has_help_that_states_its_default(command: str) -> None:
    parser = _subparser(command)
    formatter = parser._get_formatter()
    for action in parser._actions:
        if not action.option_strings or action.required or action.nargs == 0:
            continue  # positional, required, or an on/off switch
        text = formatter._get_help_string(action) or ""
        assert "default" in text, (action.option_strings, text)


def test_search_takes_both_learning_rates() -> None:
    flags = {s for a in _subparser("search")._actions for s in a.option_strings}
    assert {"--lr", "--arch-lr", "--epochs", "--seed", "--schedule", "--order"} <= flags


@pytest.mark.slow
def test_example_help_is_help_and_starts_nothing(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(EXAMPLE), "--help"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0 and "--overwrite" in result.stdout, result.stderr
    assert list(tmp_path.iterdir()) == []


def test_train_summary_is_one_line_on_a_narrow_terminal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COLUMNS", "40")
    argv = [*TINY_TRAIN, "--genotype", "darts_v2", "--out", str(tmp_path / "run")]
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    summary = next(line for line in lines if line.startswith("darts_v2: "))
    assert "after 1 epoch test top-1" in summary and summary.endswith("%)")


@pytest.mark.slow
@pytest.mark.skipif(
    not (VENV / "bin" / "activate").exists() or not (VENV / "bin" / "factornas").exists(),
    reason="needs a virtual environment with the factornas command",
)
def test_quickstart_rerun_on_a_finished_run_prints_its_genotype(finished: Path) -> None:
    before = {p.name: p.read_bytes() for p in finished.iterdir()}
    result = subprocess.run(
        ["bash", str(ROOT / "scripts" / "quickstart.sh"), str(finished)],
        env={**os.environ, "FACTORNAS_VENV": str(VENV)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert f"{finished} holds a finished search" in result.stdout
    assert "normal cell" in result.stdout and "c_{k-2}" in result.stdout
    assert {p.name: p.read_bytes() for p in finished.iterdir()} == before
