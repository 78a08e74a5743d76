"""Two CPU processes under torchrun (gloo) hold identical architecture weights."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from factornas.space.genotype import Genotype


@pytest.mark.slow
def test_two_gloo_ranks_agree_on_every_architecture_weight(tmp_path: Path) -> None:
    out = tmp_path / "ddp"
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        "-m",
        "factornas",
        "search",
        "--preset",
        "adarts",
        "--dataset",
        "synthetic",
        "--subset",
        "64",
        "--epochs",
        "2",
        "--channels",
        "4",
        "--layers",
        "3",
        "--batch-size",
        "16",
        "--eval-batches",
        "1",
        "--no-progress",
        "--device",
        "cpu",
        "--out",
        str(out),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        command, capture_output=True, text=True, env=env, timeout=300, check=False
    )
    assert result.returncode == 0, result.stderr[-5000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["world_size"] == 2
    assert summary["rank_arch_max_diff"] == 0.0
    Genotype.load(out / "genotype.json")

    # Rank 0 alone judges the directory: a finished run is refused on every rank, and
    # --overwrite clears it before any other rank could read what it held.
    again = subprocess.run(
        command, capture_output=True, text=True, env=env, timeout=300, check=False
    )
    assert again.returncode != 0
    assert "holds a finished run" in again.stderr
    replaced = subprocess.run(
        [*command, "--overwrite"], capture_output=True, text=True, env=env, timeout=300, check=False
    )
    assert replaced.returncode == 0, replaced.stderr[-5000:]
    assert json.loads((out / "summary.json").read_text())["rank_arch_max_diff"] == 0.0
    # Each rank leaves the gloo group before exiting; a group left to interpreter teardown
    # made a rank abort now and then, finished run or refused one (tests/search/
    # test_process_group.py checks the mechanism deterministically).
    for run in (result, again, replaced):
        assert "terminate called" not in run.stderr, run.stderr[-5000:]


@pytest.mark.slow
def test_two_gloo_ranks_agree_under_a_sampled_relaxation(tmp_path: Path) -> None:
    """GDAS on the op group: each rank samples its own paths (unsampled ops' weights get zero
    gradients), yet the averaged gradients leave every rank with the same α and β."""
    out = tmp_path / "gdas"
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
        "-m", "factornas", "search", "--preset", "adarts_gdas", "--dataset", "synthetic",
        "--subset", "32", "--epochs", "2", "--channels", "4", "--layers", "3",
        "--batch-size", "8", "--warmup", "0", "--eval-batches", "1", "--no-progress",
        "--device", "cpu", "--out", str(out),
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        command, capture_output=True, text=True, env=env, timeout=300, check=False
    )
    assert result.returncode == 0, result.stderr[-5000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["world_size"] == 2 and summary["rank_arch_max_diff"] == 0.0


#: ``factornas`` whose rank 0 dies (``os._exit``, as if killed) right after its Nth checkpoint
#: write, N from the ``DIE_AFTER`` environment variable (0: never).
DYING_CLI = """
import os, sys
from factornas.cli import main
from factornas.search import loop
after, real, calls = int(os.environ["DIE_AFTER"]), loop.save_checkpoint, []
def save(path, state):
    real(path, state)
    calls.append(path)
    if len(calls) == after:
        os._exit(9)
loop.save_checkpoint = save
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.slow
def test_two_gloo_ranks_resumed_mid_epoch_write_the_uninterrupted_metrics(tmp_path: Path) -> None:
    """Killed right after the checkpoint at an epoch's last step, two ranks resume their own
    running sums and their own batch-norm statistics (each rank's are its shard's; the
    evaluation reads them): every record equals the uninterrupted run's, times aside."""
    (tmp_path / "dying.py").write_text(DYING_CLI)
    (tmp_path / "tiny.toml").write_text("[data.synthetic]\nsize = 32\nimage = 8\n")
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
        str(tmp_path / "dying.py"), "search", "--preset", "darts", "--dataset", "synthetic",
        "--config", str(tmp_path / "tiny.toml"), "--channels", "2", "--layers", "3",
        "--batch-size", "8", "--eval-batches", "1", "--epochs", "2", "--checkpoint-every", "1",
        "--no-progress", "--device", "cpu",
    ]  # fmt: skip

    def search(out: Path, die_after: int) -> int:
        env = {**os.environ, "OMP_NUM_THREADS": "1", "DIE_AFTER": str(die_after)}
        done = subprocess.run(
            [*command, "--out", str(out)], capture_output=True, env=env, timeout=300, check=False
        )
        return done.returncode

    def records(out: Path) -> list[dict[str, object]]:
        lines = (out / "metrics.jsonl").read_text().splitlines()
        timing = ("seconds", "step_seconds")
        return [{k: v for k, v in json.loads(line).items() if k not in timing} for line in lines]

    assert search(tmp_path / "reference", 0) == 0
    assert search(tmp_path / "killed", 2) != 0  # 2 steps an epoch: the epoch's last step
    assert (tmp_path / "killed" / "metrics.jsonl").read_text() == ""  # before epoch 0's record
    assert search(tmp_path / "killed", 0) == 0
    assert records(tmp_path / "killed") == records(tmp_path / "reference")
