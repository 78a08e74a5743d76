"""Each relaxation preset end to end from the CLI on synthetic data; resumed after SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from factornas.space.genotype import Genotype

TINY = [
    *("--dataset", "synthetic", "--subset", "32", "--epochs", "2", "--channels", "4"),
    *("--layers", "3", "--batch-size", "8", "--warmup", "0", "--no-progress"),
]
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
PRESETS = ["gdas", "drnas", "fair_darts", "sdarts_rs", "sdarts_adv", "beta_darts", "adarts_gdas"]
EXPECTED = {  # per preset: the op group's record at the 2nd and last epoch, and a loss term?
    "gdas": ({"relaxation": "gumbel", "temperature": 0.1}, False),
    "drnas": ({"relaxation": "dirichlet"}, True),
    "fair_darts": ({"relaxation": "sigmoid"}, True),
    "sdarts_rs": ({"relaxation": "softmax", "smoothing_epsilon": 0.165}, False),  # 0.03+0.27/2
    "sdarts_adv": ({"relaxation": "softmax", "smoothing_epsilon": 0.165}, False),
    "beta_darts": ({"relaxation": "softmax", "beta_weight": 0.5}, True),  # 50·1/100
    "adarts_gdas": ({"relaxation": "gumbel", "temperature": 0.1}, False),
}


def _search(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "factornas", "search", *args]
    return subprocess.run(command, capture_output=True, text=True, env=ENV, check=False)


def _records(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.slow
@pytest.mark.parametrize("preset", PRESETS)
def test_preset_runs_end_to_end(tmp_path: Path, preset: str) -> None:
    out = tmp_path / preset
    result = _search("--preset", preset, *TINY, "--out", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    Genotype.load(out / "genotype.json")
    last = _records(out)[-1]
    record, has_terms = EXPECTED[preset]
    assert last["relaxations"]["op"] == pytest.approx(record)
    assert ("op" in last["loss_terms"]) == has_terms
    if preset == "adarts_gdas":
        assert last["relaxations"]["activation"] == {"relaxation": "softmax"}


@pytest.mark.slow
def test_the_skip_guard_stops_a_collapsed_search(tmp_path: Path) -> None:
    """Every op fixed to skip_connect: 8 skips ≥ 2 from the first epoch, so DARTS+ stops."""
    config = tmp_path / "guard.toml"
    config.write_text("[skip_guard]\nearly_stop = true\nearly_stop_skips = 2\npatience = 1\n")
    out = tmp_path / "run"
    tiny = [*TINY[:5], "3", *TINY[6:]]  # three epochs
    result = _search(
        "--preset", "adarts", "--config", str(config), "--fix", "op=skip_connect", *tiny,
        "--out", str(out),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    records = _records(out)
    assert len(records) == 1 and records[0]["normal_skips"] == 8
    assert records[0]["stop_reason"].startswith("early stop (DARTS+): the normal cell held 8 ≥ 2")
    assert (
        json.loads((out / "summary.json").read_text())["stop_reason"] == records[0]["stop_reason"]
    )


def _arch(run: Path) -> dict[str, torch.Tensor]:
    state = torch.load(run / "checkpoint.pt", weights_only=True)
    return {k: v for k, v in state["network"].items() if k.startswith("arch.")}


@pytest.mark.slow
@pytest.mark.parametrize("preset", ["gdas", "drnas", "sdarts_rs", "adarts_gdas"])
def test_a_sampled_search_resumes_after_sigkill_with_the_same_result(
    tmp_path: Path, preset: str
) -> None:
    """Gumbel, Dirichlet and smoothing noise come from checkpointed generators: killed after its
    first checkpoint and resumed, the search ends where an uninterrupted one does."""
    args = ["--preset", preset, *TINY, "--checkpoint-every", "1", "--seed", "3"]
    reference = tmp_path / "reference"
    assert _search(*args, "--out", str(reference)).returncode == 0
    killed = tmp_path / "killed"
    command = [sys.executable, "-m", "factornas", "search", *args, "--out", str(killed)]
    process = subprocess.Popen(command, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not (killed / "checkpoint.pt").exists() and time.monotonic() < deadline:
        if process.poll() is not None:
            break
        time.sleep(0.02)
    if process.poll() is None:
        process.send_signal(signal.SIGKILL)
    process.wait()
    if not (killed / "summary.json").exists():
        resumed = _search(*args, "--out", str(killed))
        assert resumed.returncode == 0, resumed.stderr[-3000:]
    a, b = _arch(reference), _arch(killed)
    assert a.keys() == b.keys() and a
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert Genotype.load(reference / "genotype.json") == Genotype.load(killed / "genotype.json")
