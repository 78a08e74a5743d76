"""``factornas space``: the numbers the paper states, and clean failures."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from factornas.cli import main
from factornas.presets import SPACE_PRESETS


def test_darts_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["space", "--preset", "darts", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["size"] == 1_076_746_950_455_072_400
    assert info["weights"] == 1_930_618
    assert info["arch_parameters"] == 224


def test_adarts_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["space", "--preset", "adarts", "--json", "--channels", "8"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["size"] == (180 * 39**8) ** 2
    assert info["arch_parameters"] == 476
    assert isinstance(info["weights"], int)


@pytest.mark.slow
def test_rich_output_mentions_the_size(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["space", "--preset", "flat40", "--channels", "4", "--layers", "3"]) == 0
    out = capsys.readouterr().out
    assert "928,065,701,226,489,928,470,584,096,400" in out
    assert "choices per kept edge: 39" in out


@pytest.mark.slow
def test_unknown_preset_exits_2_with_one_line() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "factornas", "space", "--preset", "nope"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: unknown space preset 'nope'; choose one of: {', '.join(SPACE_PRESETS)}"
    ]
