"""Two CPU processes under torchrun (gloo) hold identical architecture weights."""

from __future__ import annotations

import json
import os
import socket
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


#: ``factornas`` whose rank 0 is SIGKILLed right after its Nth checkpoint write, N from the
#: ``DIE_AFTER`` environment variable (0: never): a node's process lost mid-run.
DYING_CLI = """
import os, signal, sys
from factornas.cli import main
from factornas.search import loop
after, real, calls = int(os.environ["DIE_AFTER"]), loop.save_checkpoint, []
def save(path, state):
    real(path, state)
    calls.append(path)
    if len(calls) == after:
        os.kill(os.getpid(), signal.SIGKILL)
loop.save_checkpoint = save
sys.exit(main(sys.argv[1:]))
"""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def two_nodes(agent: list[str], env: dict[str, str], logs: Path) -> list[int]:
    """Two torchrun agents of one process each, as two nodes meeting at a c10d rendezvous on
    loopback (what docs/search.md's multi-node command runs on each node); their exit
    statuses. Each node's output goes to ``logs/node<i>.log`` (a pipe could fill and stall)."""
    rendezvous = [
        sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--nproc-per-node", "1",
        "--rdzv-backend", "c10d", "--rdzv-endpoint", f"127.0.0.1:{free_port()}",
        "--rdzv-id", "factornas-test",
    ]  # fmt: skip
    logs.mkdir(exist_ok=True)
    nodes = []
    for index in range(2):
        with open(logs / f"node{index}.log", "wb") as log:
            nodes.append(
                subprocess.Popen(
                    [*rendezvous, *agent], env=env, stdout=log, stderr=subprocess.STDOUT
                )
            )
    try:
        return [node.wait(timeout=240) for node in nodes]
    finally:
        for node in nodes:
            if node.poll() is None:
                node.kill()
                node.wait()


@pytest.mark.slow
def test_two_nodes_resumed_after_one_is_killed_write_the_uninterrupted_metrics(
    tmp_path: Path,
) -> None:
    """Two nodes of one gloo process each (c10d rendezvous over loopback): every rank holds the
    same architecture weights; rank 0's process SIGKILLed right after the checkpoint at an
    epoch's last step, both nodes restarted resume their own running sums and their own
    batch-norm statistics (each rank's are its shard's; the evaluation reads them): every record
    equals the uninterrupted run's, times aside, and so does the genotype."""
    (tmp_path / "dying.py").write_text(DYING_CLI)
    (tmp_path / "tiny.toml").write_text("[data.synthetic]\nsize = 32\nimage = 8\n")
    command = [
        str(tmp_path / "dying.py"), "search", "--preset", "darts", "--dataset", "synthetic",
        "--config", str(tmp_path / "tiny.toml"), "--channels", "2", "--layers", "3",
        "--batch-size", "8", "--eval-batches", "1", "--epochs", "2", "--checkpoint-every", "1",
        "--no-progress", "--device", "cpu",
    ]  # fmt: skip

    def search(out: Path, die_after: int) -> list[int]:
        env = {**os.environ, "OMP_NUM_THREADS": "1", "DIE_AFTER": str(die_after)}
        return two_nodes([*command, "--out", str(out)], env, tmp_path / f"logs-{out.name}")

    def records(out: Path) -> list[dict[str, object]]:
        lines = (out / "metrics.jsonl").read_text().splitlines()
        timing = ("seconds", "step_seconds")
        return [{k: v for k, v in json.loads(line).items() if k not in timing} for line in lines]

    assert search(tmp_path / "reference", 0) == [0, 0]
    summary = json.loads((tmp_path / "reference" / "summary.json").read_text())
    assert (summary["world_size"], summary["rank_arch_max_diff"]) == (2, 0.0)
    # 2 steps an epoch: the epoch's last step. Both nodes end: the killed one, and the other
    # when its next collective finds the peer gone.
    assert 0 not in search(tmp_path / "killed", 2)
    assert (tmp_path / "killed" / "metrics.jsonl").read_text() == ""  # before epoch 0's record
    assert search(tmp_path / "killed", 0) == [0, 0]
    assert records(tmp_path / "killed") == records(tmp_path / "reference")
    resumed = json.loads((tmp_path / "killed" / "summary.json").read_text())
    assert resumed["rank_arch_max_diff"] == 0.0
    assert resumed["genotype"] == summary["genotype"]
