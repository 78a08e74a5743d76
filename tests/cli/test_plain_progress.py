"""Off a terminal, ``search`` and ``train`` print plain progress lines on stderr (#25): one per
progress window and one per epoch, with the numbers ``metrics.jsonl`` records, a real ETA,
and a line when they resume; ``--quiet`` prints none. ``--threads`` sets torch's threads."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from factornas.cli import main
from factornas.cli import train as train_cli
from factornas.evaluate import train as train_module
from factornas.runtime import wait_policy
from factornas.runtime.metrics import read_metrics
from factornas.runtime.wait_policy import is_command_line, launched_module
from factornas.search import loop

#: 12 synthetic 8×8 images, split in two: 3 search steps of batch 2 an epoch, which the
#: searches here read every 2 steps (a window at step 2 and one at the epoch's last step; the
#: retraining below reads at the real REFRESH_EVERY, 10 steps).
TINY_DATA_TOML = "[data.synthetic]\nsize = 12\nimage = 8\n"
SEARCH_REFRESH = 2
SEARCH = [
    "search", "--preset", "darts", "--dataset", "synthetic", "--channels", "2", "--layers", "3",
    "--batch-size", "2", "--eval-batches", "1", "--epochs", "2", "--checkpoint-every", "2",
    "--device", "cpu",
]  # fmt: skip
WINDOW = re.compile(
    r"^search epoch (\d+)/2 step (\d+)/3: loss (\S+) acc (\S+)% lr (\S+) "
    r"elapsed (\d+:\d\d:\d\d) eta (\d+:\d\d:\d\d)$"
)
EPOCH = re.compile(
    r"^search epoch (\d+)/2: train loss (\S+) acc (\S+)%, val loss (\S+) acc (\S+)% "
    r"elapsed \d+:\d\d:\d\d eta \d+:\d\d:\d\d$"
)
TIMING = {"seconds", "step_seconds"}


@pytest.fixture(autouse=True)
def _search_refresh(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loop.Search, "refresh_every", SEARCH_REFRESH)


@pytest.fixture(scope="module")
def data_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("config") / "tiny.toml"
    path.write_text(TINY_DATA_TOML)
    return path


def search_argv(config: Path, out: Path, *flags: str) -> list[str]:
    return [*SEARCH, "--config", str(config), "--out", str(out), *flags]


def records(run: Path) -> list[dict[str, Any]]:
    return [
        {k: v for k, v in r.items() if k not in TIMING} for r in read_metrics(run / "metrics.jsonl")
    ]


@pytest.fixture(scope="module")
def reference(data_config: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """An uninterrupted search, default progress, stderr captured (not a terminal)."""
    out = tmp_path_factory.mktemp("reference") / "run"
    with pytest.MonkeyPatch.context() as patch:
        lines: list[str] = []
        patch.setattr(sys, "stderr", _Lines(lines))
        patch.setattr(loop.Search, "refresh_every", SEARCH_REFRESH)
        assert main(search_argv(data_config, out)) == 0
    yield out, lines


class _Lines:
    """A non-terminal stderr that keeps what is written, line by line."""

    def __init__(self, lines: list[str]) -> None:
        self.lines, self.partial = lines, ""

    def write(self, text: str) -> int:
        self.partial += text
        *done, self.partial = self.partial.split("\n")
        self.lines.extend(done)
        return len(text)

    def flush(self) -> None:
        return None

    def isatty(self) -> bool:
        return False


def _close(value: str, expected: float, decimals: int) -> bool:
    return abs(float(value) - expected) <= 0.51 * 10**-decimals


@pytest.mark.slow
def test_window_lines_carry_the_recorded_steps(reference: Any) -> None:
    out, lines = reference
    windows = [m for m in map(WINDOW.match, lines) if m]
    recorded = [w for r in read_metrics(out / "metrics.jsonl") for w in r["steps"]]
    assert [w["step"] for w in recorded] == [1, 2, 4, 5]  # global, from 0
    assert [w["epoch"] for w in recorded] == [0, 0, 1, 1]
    assert [(int(m[1]), int(m[2])) for m in windows] == [(1, 2), (1, 3), (2, 2), (2, 3)]
    for match, window in zip(windows, recorded, strict=True):
        assert _close(match[3], window["loss"], 4)
        assert _close(match[4], 100 * window["acc"], 2)
        assert float(match[5]) == pytest.approx(window["lr"], rel=1e-3)
        assert match[7] != "-:--:--"  # a real ETA from the first window on


def test_epoch_lines_carry_the_records(reference: Any) -> None:
    out, lines = reference
    epochs = [m for m in map(EPOCH.match, lines) if m]
    saved = read_metrics(out / "metrics.jsonl")
    assert [int(m[1]) for m in epochs] == [1, 2]
    for match, record in zip(epochs, saved, strict=True):
        assert _close(match[2], record["train_loss"], 4)
        assert _close(match[3], 100 * record["train_acc"], 2)
        assert _close(match[4], record["val_loss"], 4)
        assert _close(match[5], 100 * record["val_acc"], 2)


def test_windows_weigh_up_to_the_epoch(reference: Any) -> None:
    """Weighted by their steps (batches of equal size), an epoch's windows are its record."""
    out, _ = reference
    for record in read_metrics(out / "metrics.jsonl"):
        sizes = [2, 1]
        loss = sum(n * w["loss"] for n, w in zip(sizes, record["steps"], strict=True)) / 3
        assert loss == pytest.approx(record["train_loss"], rel=1e-9)
        assert all(w["lr"] == record["lr"] for w in record["steps"])


def _kill_after_write(module: Any, count: int) -> Any:
    """``module``'s ``save_checkpoint``, stopping the run as Ctrl-C would right after its
    ``count``-th write."""
    real, calls = module.save_checkpoint, []

    def save(path: Path, state: dict[str, Any]) -> Path:
        written = real(path, state)
        calls.append(path)
        if len(calls) == count:
            raise KeyboardInterrupt
        return written

    return save


@pytest.mark.slow
def test_a_resumed_search_says_so_and_records_the_same_steps(
    reference: Any, data_config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Stopped right after the checkpoint at step 2, whose window has just closed, the
    resumed run records that window from the checkpoint and the rest as the uninterrupted one."""
    ref, _ = reference
    out = tmp_path / "run"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(loop, "save_checkpoint", _kill_after_write(loop, 1))
        assert main(search_argv(data_config, out, "--no-progress")) == 130
    capsys.readouterr()
    assert main(search_argv(data_config, out, "--no-progress")) == 0
    err = capsys.readouterr().err.splitlines()
    assert err[0] == f"resuming {out} at epoch 1/2, step 2/3"
    assert [(m[1], m[2]) for m in map(WINDOW.match, err) if m] == [
        ("1", "3"),
        ("2", "2"),
        ("2", "3"),
    ]
    assert records(out) == records(ref)


def test_quiet_prints_no_progress(
    data_config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [*search_argv(data_config, tmp_path / "run", "--quiet"), "--epochs", "1"]
    assert main(argv) == 0
    assert capsys.readouterr().err == ""


def test_train_prints_lines_and_says_where_it_resumes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Stopped after its first epoch's checkpoint, a retraining resumes at the next epoch's
    first step; its lines carry its records (top-1 in %, as the records)."""
    out = tmp_path / "run"
    argv = [
        "train", "--genotype", "darts_v2", "--dataset", "synthetic", "--subset", "48",
        "--epochs", "2", "--batch-size", "4", "--channels", "4", "--layers", "3",
        "--test-subset", "8", "--out", str(out), "--no-progress", "--device", "cpu",
    ]  # fmt: skip
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(train_module, "save_checkpoint", _kill_after_write(train_module, 1))
        assert main(argv) == 130
    capsys.readouterr()
    assert main(argv) == 0
    err = capsys.readouterr().err.splitlines()
    assert err[0] == f"resuming {out} at epoch 2/2, step 0/12"
    first, second = read_metrics(out / "metrics.jsonl")
    assert [w["step"] for w in first["steps"] + second["steps"]] == [9, 11, 21, 23]
    window = re.compile(r"^train epoch 2/2 step (\d+)/12: loss (\S+) acc (\S+)% ")
    windows = [m for m in map(window.match, err) if m]
    assert [m[1] for m in windows] == ["10", "12"]
    for match, step in zip(windows, second["steps"], strict=True):
        assert _close(match[2], step["loss"], 4) and _close(match[3], step["acc"], 2)
    epoch = re.compile(
        r"^train epoch 2/2: train loss (\S+) acc (\S+)%, test loss (\S+) acc (\S+)% "
    )
    (match,) = [m for m in map(epoch.match, err) if m]
    assert _close(match[1], second["train_loss"], 4) and _close(match[2], second["train_top1"], 2)
    assert _close(match[3], second["test_loss"], 4) and _close(match[4], second["test_top1"], 2)


def test_threads_sets_torchs_threads_for_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[int] = []

    def run_retrain(*args: Any, **kwargs: Any) -> Any:
        seen.append(torch.get_num_threads())
        raise KeyboardInterrupt  # enough: the run started with its threads

    monkeypatch.setattr(train_cli, "run_retrain", run_retrain)
    argv = ["train", "--genotype", "darts_v2", "--dataset", "synthetic", "--out", str(tmp_path)]
    before = torch.get_num_threads()
    try:
        assert main([*argv, "--threads", "2"]) == 130
        torch.set_num_threads(before)
        assert main(argv) == 130  # no flag: torch's own, untouched
    finally:
        torch.set_num_threads(before)
    assert seen == [2, before]


def test_threads_is_not_part_of_the_config(
    data_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [*SEARCH, "--config", str(data_config), "--print-config", "json"]
    assert main([*argv, "--threads", "3"]) == 0
    with_threads = capsys.readouterr().out
    assert main(argv) == 0
    assert with_threads == capsys.readouterr().out
    assert torch.get_num_threads() == 1  # printing a config runs nothing, sets nothing


@pytest.mark.slow
def test_the_command_line_sets_a_passive_wait_policy(tmp_path: Path) -> None:
    """``python -m factornas`` sets OMP_WAIT_POLICY=PASSIVE before torch loads: a plug-in, run
    in the command's process, reads it back."""
    probe = tmp_path / "probe.py"
    probe.write_text("import os\nprint('policy', os.environ.get('OMP_WAIT_POLICY'))\n")
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    done = subprocess.run(
        [sys.executable, "-m", "factornas", "search", "--preset", "darts", "--plugin",
         str(probe), "--print-config"],
        capture_output=True, text=True, check=True, env=env,
    )  # fmt: skip
    assert done.stdout.splitlines()[0] == "policy PASSIVE"


@pytest.mark.parametrize(
    ("given", "loaded", "expected"),
    [(None, False, "PASSIVE"), ("ACTIVE", False, "ACTIVE"), (None, True, None)],
    ids=["unset", "the-environment's", "torch-already-loaded"],
)
def test_the_policy_is_set_only_where_it_takes_effect(
    monkeypatch: pytest.MonkeyPatch, given: str | None, loaded: bool, expected: str | None
) -> None:
    monkeypatch.setattr(sys, "argv", ["/venv/bin/factornas", "search"])
    if given is None:
        monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    else:
        monkeypatch.setenv("OMP_WAIT_POLICY", given)
    if not loaded:
        monkeypatch.delitem(sys.modules, "torch")
    wait_policy.prefer_passive()
    assert os.environ.get("OMP_WAIT_POLICY") == expected


@pytest.mark.parametrize(
    ("argv", "orig_argv", "module", "command_line"),
    [
        (["/venv/bin/factornas"], ["/venv/bin/python", "/venv/bin/factornas"], None, True),
        (["-m"], ["python", "-u", "-X", "dev", "-m", "factornas", "search"], "factornas", True),
        (["-m"], ["python", "-mfactornas"], "factornas", True),
        (
            ["-m"],
            ["python", "-m", "factornas.bench.compare_worker"],
            "factornas.bench.compare_worker",
            False,
        ),
        (["run.py", "-m", "factornas"], ["python", "run.py", "-m", "factornas"], None, False),
        (["-c"], ["python", "-c", "import factornas"], None, False),
        ([""], ["python"], None, False),
    ],
)
def test_the_command_line_is_recognised(
    argv: list[str], orig_argv: list[str], module: str | None, command_line: bool
) -> None:
    assert launched_module(orig_argv) == module
    assert is_command_line(argv, orig_argv) is command_line
