"""A run interrupted anywhere and resumed writes the metrics an uninterrupted run writes.

Resumed from a checkpoint taken inside an epoch, the search used to record that epoch's
training loss and accuracy over the steps after the checkpoint only (0.0 and 0.0 from a
checkpoint at its last step): the running sums were not checkpointed. Every record of a resumed
run must equal the uninterrupted run's, wall-clock times aside, wherever the run was stopped:
its per-window ``steps`` curves included (the windows an epoch closed before its checkpoint are
checkpointed with its running sums).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from factornas.evaluate import train as train_module
from factornas.evaluate.config import NetworkConfig, RetrainConfig
from factornas.evaluate.train import run_retrain
from factornas.presets.published import published_genotype
from factornas.presets.search import search_preset
from factornas.runtime.metrics import read_metrics
from factornas.search import loop
from factornas.search.config import SearchConfig
from factornas.search.loop import run_search

#: Record fields that measure wall-clock time, which no two runs share.
TIMING = {"seconds", "step_seconds"}
#: 32 synthetic 8×8 images: 2 search steps an epoch (16 train, 16 val, batch 8).
TINY_DATA = {"dataset": "synthetic", "synthetic": {"size": 32, "image": 8}}


class Interrupted(Exception):
    """Stands in for the signal that stops a process at that moment."""


def records(run: Path) -> list[dict[str, Any]]:
    return [
        {k: v for k, v in r.items() if k not in TIMING} for r in read_metrics(run / "metrics.jsonl")
    ]


def interrupting(
    real: Callable[[Path, dict[str, Any]], Any], call: int, before: bool
) -> Callable[[Path, dict[str, Any]], Any]:
    """``real`` (a checkpoint writer) that stops the run at its ``call``-th write: just before
    it (the epoch's record may be written, its checkpoint not) or just after it."""
    calls = 0

    def save(path: Path, state: dict[str, Any]) -> Any:
        nonlocal calls
        calls += 1
        if calls == call and before:
            raise Interrupted
        written = real(path, state)
        if calls == call:
            raise Interrupted
        return written

    return save


def search_config() -> SearchConfig:
    tiny = {"channels": 2, "layers": 3, "batch_size": 8, "epochs": 2, "eval_batches": 1}
    return SearchConfig.model_validate(
        {**search_preset("darts").model_dump(), **tiny, "checkpoint_every": 1, "data": TINY_DATA}
    )


def search(out: Path) -> None:
    run_search(search_config(), out, device="cpu", show_progress=False)


@pytest.fixture(scope="module")
def search_reference(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    out = tmp_path_factory.mktemp("search") / "reference"
    search(out)
    return records(out)


# Writes 1-3 are epoch 0's: after step 1 (mid-epoch), after step 2 (its last step), its end.
@pytest.mark.parametrize(
    ("call", "before"),
    [(1, False), (2, False), (3, True)],
    ids=["mid-epoch", "last-step", "record-without-checkpoint"],
)
def test_a_search_resumed_anywhere_records_the_uninterrupted_metrics(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    search_reference: list[dict[str, Any]],
    call: int,
    before: bool,
) -> None:
    out = tmp_path / "run"
    with monkeypatch.context() as patch:
        patch.setattr(loop, "save_checkpoint", interrupting(loop.save_checkpoint, call, before))
        with pytest.raises(Interrupted):
            search(out)
    search(out)
    assert records(out) == search_reference


@pytest.fixture
def window_every_step(monkeypatch: pytest.MonkeyPatch) -> None:
    """Close a progress window after every step, so that a checkpoint mid-epoch follows one."""
    monkeypatch.setattr(loop.Search, "refresh_every", 1)


@pytest.fixture(scope="module")
def stepwise_reference(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    out = tmp_path_factory.mktemp("stepwise") / "reference"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(loop.Search, "refresh_every", 1)
        search(out)
    return records(out)


def test_a_search_resumed_mid_epoch_records_the_windows_closed_before_it(
    tmp_path: Path, window_every_step: None, stepwise_reference: list[dict[str, Any]]
) -> None:
    assert [[w["step"] for w in r["steps"]] for r in stepwise_reference] == [[0, 1], [2, 3]]
    out = tmp_path / "run"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(loop, "save_checkpoint", interrupting(loop.save_checkpoint, 1, False))
        with pytest.raises(Interrupted):
            search(out)  # stopped after the checkpoint at step 1, after its window closed
    search(out)
    assert records(out) == stepwise_reference


def test_a_checkpoint_without_windows_resumes_them_from_its_sums(
    tmp_path: Path, window_every_step: None, stepwise_reference: list[dict[str, Any]]
) -> None:
    """A checkpoint of a version that kept no windows: the epoch's windows start at it, each
    as the uninterrupted run's."""
    out = tmp_path / "run"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(loop, "save_checkpoint", interrupting(loop.save_checkpoint, 1, False))
        with pytest.raises(Interrupted):
            search(out)
    state = torch.load(out / "checkpoint.pt", weights_only=True)
    del state["step_windows"]
    torch.save(state, out / "checkpoint.pt")
    search(out)
    first, second = records(out)
    assert first["steps"] == stepwise_reference[0]["steps"][1:]
    assert {**first, "steps": None} == {**stepwise_reference[0], "steps": None}
    assert second == stepwise_reference[1]


def test_a_checkpoint_without_the_running_sums_still_resumes(tmp_path: Path) -> None:
    """A checkpoint written before the sums were kept resumes, its epoch's record counting
    the steps after it, as it always did."""
    out = tmp_path / "run"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(loop, "save_checkpoint", interrupting(loop.save_checkpoint, 1, False))
        with pytest.raises(Interrupted):
            search(out)
    state = torch.load(out / "checkpoint.pt", weights_only=True)
    assert state["train_sums"][0, 2] == 8  # one step of batch 8 behind it
    del state["train_sums"]
    torch.save(state, out / "checkpoint.pt")
    search(out)
    assert [r["epoch"] for r in records(out)] == [0, 1]
    assert (out / "summary.json").exists()


def retrain(out: Path) -> None:
    config = RetrainConfig(
        network=NetworkConfig(channels=4, layers=3),
        data={**TINY_DATA, "subset": 16, "test_subset": 8},
        epochs=2,
        batch_size=8,
    )
    run_retrain(published_genotype("darts_v2"), config, out, device="cpu", progress=False)


@pytest.mark.parametrize(("call", "before"), [(1, False), (2, True)], ids=["after", "before"])
def test_a_retraining_resumed_anywhere_records_the_uninterrupted_metrics(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, call: int, before: bool
) -> None:
    """The retraining checkpoints at epoch ends only: stopped after one, or between an
    epoch's record and its checkpoint (the epoch is trained again), it resumes exactly."""
    retrain(tmp_path / "reference")
    out = tmp_path / "run"
    with monkeypatch.context() as patch:
        patch.setattr(
            train_module,
            "save_checkpoint",
            interrupting(train_module.save_checkpoint, call, before),
        )
        with pytest.raises(Interrupted):
            retrain(out)
    retrain(out)
    assert records(out) == records(tmp_path / "reference")


# -- real processes, really signalled ------------------------------------------------------
COMMAND = [
    sys.executable, "-m", "factornas", "search", "--preset", "darts", "--dataset", "synthetic",
    "--channels", "2", "--layers", "3", "--batch-size", "8", "--eval-batches", "1",
    "--epochs", "3", "--checkpoint-every", "1", "--seed", "4", "--no-progress",
]  # fmt: skip
#: The ``--config`` file that makes the synthetic data :data:`TINY_DATA`.
TINY_DATA_TOML = "[data.synthetic]\nsize = 32\nimage = 8\n"
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
SIGNALS = (signal.SIGKILL, signal.SIGTERM, signal.SIGINT)
#: Each signal this many times, at seeded-random moments.
KILLS_PER_SIGNAL = 2


def _written(path: Path) -> tuple[int, int] | None:
    """What identifies one write of ``path`` (it is replaced by a rename), or None."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return stat.st_ino, stat.st_mtime_ns


def _signal_after_a_checkpoint(
    command: list[str], checkpoint: Path, sig: signal.Signals, delay: float
) -> bool:
    """Start ``command``, send it ``sig`` ``delay`` seconds after it next writes
    ``checkpoint``, and wait for it; whether it was still running to receive the signal."""
    before = _written(checkpoint)
    process = subprocess.Popen(command, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while _written(checkpoint) == before and process.poll() is None:
        assert time.monotonic() < deadline, "no checkpoint was written"
        time.sleep(0.01)
    time.sleep(delay)
    signalled = process.poll() is None
    if signalled:
        process.send_signal(sig)
    _, stderr = process.communicate(timeout=120)
    if not (checkpoint.parent / "summary.json").exists():  # stopped inside the run: no trace
        assert b"Traceback" not in stderr, stderr.decode()[-3000:]
    return signalled


@pytest.mark.slow
def test_a_search_signalled_anywhere_and_resumed_records_the_uninterrupted_metrics(
    tmp_path: Path,
) -> None:
    """SIGKILL, SIGTERM and SIGINT, each at moments drawn from a seeded generator, anywhere from
    just after a checkpoint to the next epoch's end; however they land, the resumed run's records
    equal the uninterrupted run's. A run that finishes before every signal was sent is checked,
    and the next signals go to a fresh run."""
    (tmp_path / "tiny.toml").write_text(TINY_DATA_TOML)
    base = [*COMMAND, "--config", str(tmp_path / "tiny.toml")]
    reference = tmp_path / "reference"
    done = subprocess.run([*base, "--out", str(reference)], env=ENV, capture_output=True)
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    expected = records(reference)
    assert len(expected) == 3

    rng = random.Random(20)
    pending = [*SIGNALS] * KILLS_PER_SIGNAL
    runs = 0
    while pending:
        out = tmp_path / f"killed{runs}"
        runs += 1
        command = [*base, "--out", str(out)]
        while pending and not (out / "summary.json").exists():
            if _signal_after_a_checkpoint(
                command, out / "checkpoint.pt", pending[0], rng.uniform(0.0, 1.2)
            ):
                pending.pop(0)
        if not (out / "summary.json").exists():
            resumed = subprocess.run(command, env=ENV, capture_output=True)
            assert resumed.returncode == 0, resumed.stderr.decode()[-3000:]
        assert records(out) == expected, out
