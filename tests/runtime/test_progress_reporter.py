"""The progress reporters: their ETA is the run's own average pace, a real time from the first
step on however slow the steps are, and the bar prints each epoch's line above itself."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from factornas.runtime import progress
from factornas.runtime.progress import (
    UNKNOWN_TIME,
    BarReporter,
    EpochSummary,
    LineReporter,
    RunShape,
    SilentReporter,
    format_duration,
    make_reporter,
    progress_mode,
)
from factornas.runtime.step_windows import StepRecord, StepWindows

SHAPE = RunShape("search", epochs=3, steps_per_epoch=10, to_percent=100.0)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(progress.time, "perf_counter", fake)
    return fake


def test_the_eta_is_the_average_pace_from_the_first_step(clock: Clock) -> None:
    reporter = LineReporter(SHAPE)
    assert reporter.eta() == UNKNOWN_TIME  # nothing to go by yet
    reporter.advance()
    clock.now += 70.0  # one step of 70 s: rich's 30-second sampling would show nothing
    assert reporter.eta() == format_duration(29 * 70.0) == "0:33:50"
    assert reporter.elapsed() == "0:01:10"


def test_a_resumed_run_times_only_its_own_steps(clock: Clock) -> None:
    reporter = LineReporter(SHAPE, completed=10)  # epoch 0 done before the restart
    for _ in range(5):
        reporter.advance()
    clock.now += 50.0
    assert reporter.eta() == format_duration(10.0 * 15)


def test_lines_name_epoch_and_step_from_one(
    clock: Clock, capsys: pytest.CaptureFixture[str]
) -> None:
    reporter = LineReporter(SHAPE, completed=10)
    reporter.resuming(Path("runs/a"), 1, 0)
    windows = StepWindows()
    record = windows.close(epoch=1, step=19, sums=(23.0, 4.0, 10.0), lr=0.025)
    reporter.advance()
    reporter.window(record)
    reporter.epoch_done(EpochSummary(1, 2.3, 0.4, "val", 2.25, 0.375))
    reporter.resuming(Path("runs/a"), 3, 0)
    assert capsys.readouterr().err.splitlines() == [
        "resuming runs/a at epoch 2/3, step 0/10",
        "search epoch 2/3 step 10/10: loss 2.3000 acc 40.00% lr 0.025 elapsed 0:00:00 eta 0:00:00",
        "search epoch 2/3: train loss 2.3000 acc 40.00%, val loss 2.2500 acc 37.50% elapsed "
        "0:00:00 eta 0:00:00",
        "resuming runs/a after its last epoch (3): finishing it",
    ]


def test_windows_are_differences_of_the_cumulative_sums() -> None:
    windows = StepWindows(accuracy_scale=100.0)
    first = windows.close(epoch=0, step=9, sums=(20.0, 3.0, 10.0), lr=0.1)
    assert not windows.pending(10.0) and windows.pending(12.0)
    second = windows.close(epoch=0, step=11, sums=(23.0, 4.0, 12.0), lr=0.1)
    expected: list[StepRecord] = [
        {"step": 9, "epoch": 0, "loss": 2.0, "acc": 30.0, "lr": 0.1},
        {"step": 11, "epoch": 0, "loss": 1.5, "acc": 50.0, "lr": 0.1},
    ]
    assert [first, second] == expected
    restored = StepWindows.from_state(windows.state(), accuracy_scale=100.0)
    assert restored.records == expected and restored.start == (23.0, 4.0, 12.0)


def test_the_bar_prints_epoch_lines_above_itself_with_a_real_eta(clock: Clock) -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=120)
    with BarReporter(SHAPE, console=console) as reporter:
        reporter.advance()
        clock.now += 90.0
        reporter.window(StepWindows().close(epoch=0, step=0, sums=(2.0, 0.0, 1.0), lr=0.1))
        reporter.epoch_done(EpochSummary(0, 2.0, 0.0, "val", 2.5, 0.125))
        reporter.progress.refresh()
    text = out.getvalue()
    assert "search epoch 1/3: train loss 2.0000 acc 0.00%, val loss 2.5000 acc 12.50%" in text
    assert "eta 0:43:30" in text and "epoch 1/3 loss 2.000 acc 0.0%" in text


def test_modes(monkeypatch: pytest.MonkeyPatch) -> None:
    assert (progress_mode(True), progress_mode(False), progress_mode("lines")) == (
        "auto",
        "off",
        "lines",
    )
    monkeypatch.setattr(progress.sys.stderr, "isatty", lambda: False, raising=False)
    assert isinstance(make_reporter("auto", SHAPE), LineReporter)
    assert isinstance(make_reporter("off", SHAPE), SilentReporter)
    monkeypatch.setattr(progress.sys.stderr, "isatty", lambda: True, raising=False)
    assert isinstance(make_reporter("auto", SHAPE), BarReporter)
    assert isinstance(make_reporter("lines", SHAPE), LineReporter)
