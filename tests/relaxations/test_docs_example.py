"""docs/relaxations.md's own relaxation and stabilizer work as written: registered without
editing factornas, searched from the Python API and from the CLI as a plug-in."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from factornas.presets.search import search_preset
from factornas.relaxations import STABILIZERS, unregister_relaxation
from factornas.search.config import LevelConfig, RelaxationSpec, StabilizerSpec
from factornas.search.loop import run_search

DOC = Path(__file__).parents[2] / "docs" / "relaxations.md"


def _example() -> str:
    section = DOC.read_text().split("## Writing your own", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match is not None
    return match.group(1)


@pytest.fixture
def tempered() -> Iterator[None]:
    exec(compile(_example(), str(DOC), "exec"), {"__name__": "docs_relaxation"})
    try:
        yield
    finally:
        unregister_relaxation("tempered")


def test_the_example_is_about_thirty_lines() -> None:
    assert len(_example().strip().splitlines()) <= 35


@pytest.mark.slow
def test_the_example_relaxation_searches_from_python(tempered: None, tmp_path: Path) -> None:
    spec = RelaxationSpec(name="tempered", options={"tau_start": 3.0})
    config = search_preset("adarts").replace(
        channels=4, layers=3, batch_size=8, epochs=2, arch_warmup_epochs=0,
        data={"dataset": "synthetic", "subset": 32},
        levels=(LevelConfig(group="activation", relaxation=spec),),
    )  # fmt: skip
    result = run_search(config, tmp_path / "run", device="cpu", show_progress=False)
    first, last = result.epochs
    assert first["relaxations"]["activation"] == {"relaxation": "tempered", "temperature": 3.0}
    assert last["relaxations"]["activation"]["temperature"] == 1.0
    assert last["loss_terms"]["activation"] > 0


@pytest.mark.slow
def test_the_example_relaxation_loads_as_a_cli_plugin(tmp_path: Path) -> None:
    plugin = tmp_path / "tempered.py"
    plugin.write_text(_example())
    config = tmp_path / "run.toml"
    config.write_text('[[levels]]\ngroup = "activation"\nrelaxation = { name = "tempered" }\n')
    out = tmp_path / "run"
    command = [
        sys.executable, "-m", "factornas", "search", "--preset", "adarts", "--plugin",
        str(plugin), "--config", str(config), "--dataset", "synthetic", "--subset", "32",
        "--epochs", "2", "--channels", "4", "--layers", "3", "--batch-size", "8",
        "--warmup", "0", "--no-progress", "--out", str(out),
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    last = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])
    assert last["relaxations"]["activation"]["relaxation"] == "tempered"


def _stabilizer_example() -> str:
    section = DOC.read_text().split("## Stabilizers", 1)[1].split("## Writing your own", 1)[0]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match is not None
    return match.group(1)


@pytest.mark.slow
def test_the_example_stabilizer_searches_from_python(tmp_path: Path) -> None:
    exec(compile(_stabilizer_example(), str(DOC), "exec"), {"__name__": "docs_stabilizer"})
    try:
        spread = StabilizerSpec(name="spread", options={"weight": 0.5})
        config = search_preset("adarts").replace(
            channels=4, layers=3, batch_size=8, epochs=1, arch_warmup_epochs=0,
            data={"dataset": "synthetic", "subset": 32},
            levels=(LevelConfig(group="op", stabilizers=(spread,)),),
        )  # fmt: skip
        result = run_search(config, tmp_path / "run", device="cpu", show_progress=False)
    finally:
        STABILIZERS.remove("spread")
    (record,) = result.epochs
    assert record["relaxations"]["op"] == {"relaxation": "softmax", "spread_weight": 0.5}
    assert record["loss_terms"]["op"] > 0
