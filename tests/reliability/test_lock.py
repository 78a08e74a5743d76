"""One process per run directory: a second search or retraining on the same ``--out`` is
refused with one line naming the holder, and a lock left by a killed process is taken over."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from factornas.cli import main
from factornas.runtime.lock import LOCK, RunLock
from factornas.runtime.metrics import read_metrics
from tests.reliability.conftest import TINY_SEARCH, TINY_TRAIN, one_line_error, snapshot

HOLD = (
    "import sys, time; from pathlib import Path; from factornas.runtime.lock import RunLock; "
    "lock = RunLock(Path(sys.argv[1])); print('locked', flush=True); time.sleep(120)"
)


def _cli(*argv: str) -> list[str]:
    return [sys.executable, "-m", "factornas", *argv]


@pytest.mark.slow
def test_a_second_process_is_refused_and_a_dead_holders_lock_is_taken_over(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    out.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(out)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        before = snapshot(out)
        second = subprocess.run(
            _cli(*TINY_SEARCH, "--out", str(out)), capture_output=True, text=True, check=False
        )
        assert second.returncode == 2
        assert second.stderr.splitlines() == [
            f"error: {out} is in use by process {holder.pid} on {socket.gethostname()}: wait "
            "for it to finish, stop it, or choose another --out"
        ]
        assert snapshot(out) == before
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert (out / LOCK).exists()  # a killed holder leaves its lock file behind
    assert main([*TINY_SEARCH, "--out", str(out)]) == 0
    assert [r["epoch"] for r in read_metrics(out / "metrics.jsonl")] == [0]
    assert not (out / LOCK).exists()  # released (and removed) on the way out


def test_train_on_a_directory_in_use_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    out.mkdir()
    lock = RunLock(out)
    try:
        line = one_line_error(capsys, [*TINY_TRAIN, "--genotype", "darts_v2", "--out", str(out)])
    finally:
        lock.release()
    assert line.startswith(f"error: {out} is in use by process {os.getpid()} on ")
    assert list(out.iterdir()) == []


@pytest.mark.slow
def test_two_searches_started_together_run_once(tmp_path: Path) -> None:
    out = tmp_path / "run"
    command = _cli(*TINY_SEARCH, "--out", str(out))
    first = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    time.sleep(0.2)
    second = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    results = [(p.wait(), p.stderr.read() if p.stderr else "") for p in (first, second)]
    assert sorted(code for code, _ in results) == [0, 2], results
    refusal = next(err for code, err in results if code == 2)
    assert len(refusal.splitlines()) == 1 and (
        "is in use by process" in refusal or "holds a finished run" in refusal
    )
    assert [r["epoch"] for r in read_metrics(out / "metrics.jsonl")] == [0]
