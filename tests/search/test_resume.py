"""Checkpoints and resume: a search killed with SIGKILL at any moment and resumed ends exactly
where an uninterrupted one does."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from factornas.runtime.owned import claim
from factornas.runtime.rundir import RunDir
from factornas.space.genotype import Genotype

COMMAND = [
    sys.executable,
    "-m",
    "factornas",
    "search",
    "--preset",
    "adarts",
    "--dataset",
    "synthetic",
    "--subset",
    "96",
    "--epochs",
    "3",
    "--channels",
    "4",
    "--layers",
    "3",
    "--batch-size",
    "16",
    "--checkpoint-every",
    "1",
    "--eval-batches",
    "1",
    "--seed",
    "5",
    "--no-progress",
]
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def _search(out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*COMMAND, "--out", str(out)], capture_output=True, text=True, env=ENV, check=False
    )


def _arch(run: Path) -> dict[str, torch.Tensor]:
    state = torch.load(run / "checkpoint.pt", weights_only=True)
    return {k: v for k, v in state["network"].items() if k.startswith("arch.")}


@pytest.mark.slow
def test_sigkill_at_any_moment_then_resume_matches_uninterrupted(tmp_path: Path) -> None:
    reference = tmp_path / "reference"
    assert _search(reference).returncode == 0

    killed = tmp_path / "killed"
    rng = random.Random(0)
    kills = 0
    for _ in range(3):  # kill it up to three times, at random moments
        process = subprocess.Popen(
            [*COMMAND, "--out", str(killed)],
            env=ENV,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 120
        while not (killed / "checkpoint.pt").exists() and time.monotonic() < deadline:
            if process.poll() is not None:
                break
            time.sleep(0.05)
        time.sleep(rng.uniform(0.0, 1.5))
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            kills += 1
        process.wait()
    assert kills >= 1
    result = _search(killed) if not (killed / "summary.json").exists() else None
    assert result is None or result.returncode == 0, result.stderr if result else ""

    a, b = _arch(reference), _arch(killed)
    assert a.keys() == b.keys() and a
    for key in a:
        assert (a[key] - b[key]).abs().max().item() <= 1e-6, key
    assert Genotype.load(reference / "genotype.json") == Genotype.load(killed / "genotype.json")
    epochs = [
        json.loads(line)["epoch"] for line in (killed / "metrics.jsonl").read_text().splitlines()
    ]
    assert epochs == [0, 1, 2]


@pytest.mark.slow
def test_finished_run_is_never_overwritten_silently(tmp_path: Path) -> None:
    out = tmp_path / "run"
    fast = [*COMMAND, "--epochs", "1", "--out", str(out)]
    assert subprocess.run(fast, env=ENV, capture_output=True, check=False).returncode == 0
    before = (out / "genotype.json").read_text()
    again = subprocess.run(fast, env=ENV, capture_output=True, text=True, check=False)
    assert again.returncode == 2
    assert again.stderr.strip().splitlines() == [
        f"error: {out} holds a finished run: choose another --out, or pass --overwrite to "
        "replace it"
    ]
    assert (out / "genotype.json").read_text() == before


@pytest.mark.slow
def test_checkpoint_of_another_config_is_not_resumed(tmp_path: Path) -> None:
    out = tmp_path / "run"
    claim(out, "search").record(["checkpoint.pt", "config.json"])
    (out / "checkpoint.pt").write_bytes(b"")
    (out / "config.json").write_text("{}")
    result = subprocess.run(
        [*COMMAND, "--out", str(out)], env=ENV, capture_output=True, text=True, check=False
    )
    assert result.returncode == 2
    assert "holds a checkpoint of a different configuration" in result.stderr


def test_a_run_written_before_a_setting_existed_still_resumes(tmp_path: Path) -> None:
    """A config.json without a setting added since (here ``precision``) is read with that
    setting's default, so the run resumes instead of being refused as another config."""
    from factornas.presets.search import search_preset
    from factornas.runtime.rundir import RunDirError, prepare_run_dir
    from factornas.search.config import SearchConfig
    from factornas.search.loop import _current_config

    def prepare(config: dict) -> RunDir:
        starting = SearchConfig.model_validate(config)
        return prepare_run_dir(
            tmp_path / "run",
            config,
            kind="search",
            normalize=lambda saved: _current_config(saved, starting),
        )

    config = search_preset("adarts").model_dump(mode="json")
    prepare(config).release()
    assert "precision" in config and config["step_order"] == "weights_first"
    older = {k: v for k, v in config.items() if k not in ("precision", "step_order")}
    (tmp_path / "run" / "config.json").write_text(json.dumps(older))
    (tmp_path / "run" / "checkpoint.pt").write_bytes(b"")
    again = prepare(config)
    assert again.resuming  # both missing settings read at their defaults: as the run ran
    again.release()
    # The derivation changes no step: a run may be finished under another rule.
    rederived = {**config, "derivation": {"rule": "threshold", "threshold": 0.5}}
    (tmp_path / "run" / "config.json").write_text(json.dumps(older))
    resumed = prepare(rederived)
    assert resumed.resuming
    resumed.release()
    changed = {**config, "epochs": config["epochs"] + 1}
    with pytest.raises(RunDirError, match="different configuration"):
        prepare(changed)
