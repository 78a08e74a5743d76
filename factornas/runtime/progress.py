"""What a run says while it runs, on stderr: a rich bar on a terminal, plain lines elsewhere.

Under ``nohup``, SLURM or ``2> log`` a bar is useless (and rich draws none), so off a terminal
a run prints a line per progress window (every :data:`REFRESH_EVERY` steps: epoch, step, the
window's loss, accuracy and learning rate, elapsed, ETA) and a line per epoch (training and
held-out loss and accuracy). On a terminal the bar shows the same, and each epoch's line is
printed above it. The ETA is the run's own average (elapsed over the steps this process ran,
times the steps left), so it is a real time from the first window on however slow the steps
are; rich's own estimate needs several steps inside its 30-second sampling window.

Modes: ``"auto"`` (the bar on a terminal, else lines), ``"lines"`` (lines everywhere:
``--no-progress``) and ``"off"`` (nothing: ``--quiet``, every rank but 0, library callers that
pass ``False``).
"""

from __future__ import annotations

import sys
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Literal

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, Task, TextColumn
from rich.table import Column
from rich.text import Text

from factornas.runtime.step_windows import StepRecord

#: Steps between refreshes of a loop's loss and accuracy. A refresh reads the loop's running
#: sums on the host, the one point inside an epoch where the loop waits for the device; each
#: refresh closes a window of ``metrics.jsonl``'s per-step curves (:mod:`.step_windows`).
REFRESH_EVERY = 10

ProgressMode = Literal["auto", "lines", "off"]
UNKNOWN_TIME = "-:--:--"


def progress_mode(progress: bool | ProgressMode) -> ProgressMode:
    """A loop's ``progress`` argument as a mode: ``True`` is ``"auto"``, ``False`` ``"off"``."""
    if progress is True:
        return "auto"
    if progress is False:
        return "off"
    return progress


def format_duration(seconds: float) -> str:
    """``H:MM:SS``, as rich writes elapsed times."""
    whole = max(0, round(seconds))
    return f"{whole // 3600}:{whole // 60 % 60:02d}:{whole % 60:02d}"


@dataclass(frozen=True)
class RunShape:
    """What a reporter needs to know of the run: the lines' first word (``search``,
    ``train``), its epochs and steps per epoch, and the factor that shows its accuracies in %
    (100 for a search's fractions, 1 for a retraining's percentages)."""

    command: str
    epochs: int
    steps_per_epoch: int
    to_percent: float

    @property
    def total_steps(self) -> int:
        return self.epochs * self.steps_per_epoch


@dataclass(frozen=True)
class EpochSummary:
    """An epoch's line: its training loss and accuracy, and the held-out split's (``val`` for
    a search, ``test`` for a retraining), in the units of the epoch record."""

    epoch: int
    train_loss: float
    train_acc: float
    held_out: str
    held_out_loss: float
    held_out_acc: float


class ProgressReporter(ABC):
    """The clock and the texts; subclasses say where the texts go (:meth:`say`).

    ``completed`` is the steps the run had behind it when this process started (a resumed
    run's), which the ETA leaves out of its average.
    """

    def __init__(self, shape: RunShape, completed: int = 0) -> None:
        self.shape = shape
        self.completed = completed
        self._resumed_at = completed
        self._started = time.perf_counter()

    def __enter__(self) -> ProgressReporter:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        return None

    @abstractmethod
    def say(self, line: str) -> None:
        """Print one line of progress."""

    # -- events ----------------------------------------------------------------------------
    def resuming(self, run_dir: Path, epoch: int, step: int) -> None:
        """The run continues ``run_dir`` with ``step`` steps of ``epoch`` (0-based) done."""
        shape = self.shape
        if epoch >= shape.epochs:
            self.say(f"resuming {run_dir} after its last epoch ({shape.epochs}): finishing it")
            return
        self.say(
            f"resuming {run_dir} at epoch {epoch + 1}/{shape.epochs}, "
            f"step {step}/{shape.steps_per_epoch}"
        )

    def advance(self) -> None:
        """One more step done."""
        self.completed += 1

    def window(self, record: StepRecord) -> None:
        """A progress window closed."""
        self.say(self.window_line(record))

    def epoch_done(self, summary: EpochSummary) -> None:
        """An epoch finished, its record written."""
        self.say(self.epoch_line(summary))

    # -- texts -----------------------------------------------------------------------------
    def elapsed(self) -> str:
        return format_duration(time.perf_counter() - self._started)

    def eta(self) -> str:
        """The rest of the run at this process's average pace so far."""
        done = self.completed - self._resumed_at
        if done <= 0:
            return UNKNOWN_TIME
        seconds = time.perf_counter() - self._started
        return format_duration(seconds / done * (self.shape.total_steps - self.completed))

    def epoch_text(self, epoch: int) -> str:
        return f"{self.shape.command} epoch {epoch + 1}/{self.shape.epochs}"

    def window_line(self, record: StepRecord) -> str:
        shape = self.shape
        step = record["step"] - record["epoch"] * shape.steps_per_epoch + 1
        return (
            f"{self.epoch_text(record['epoch'])} step {step}/{shape.steps_per_epoch}: "
            f"loss {record['loss']:.4f} acc {record['acc'] * shape.to_percent:.2f}% "
            f"lr {record['lr']:.4g} elapsed {self.elapsed()} eta {self.eta()}"
        )

    def epoch_line(self, summary: EpochSummary) -> str:
        percent = self.shape.to_percent
        return (
            f"{self.epoch_text(summary.epoch)}: train loss {summary.train_loss:.4f} "
            f"acc {summary.train_acc * percent:.2f}%, {summary.held_out} loss "
            f"{summary.held_out_loss:.4f} acc {summary.held_out_acc * percent:.2f}% "
            f"elapsed {self.elapsed()} eta {self.eta()}"
        )


class SilentReporter(ProgressReporter):
    """Says nothing (``--quiet``, the ranks but 0)."""

    def say(self, line: str) -> None:
        return None


class LineReporter(ProgressReporter):
    """Plain lines on stderr, flushed one by one so a log file shows them as they happen."""

    def say(self, line: str) -> None:
        print(line, file=sys.stderr, flush=True)


class _ClockColumn(ProgressColumn):
    """Elapsed and ETA from the reporter's clock (see the module's note on the ETA)."""

    def __init__(self, reporter: ProgressReporter) -> None:
        super().__init__(table_column=Column(no_wrap=True))
        self.reporter = reporter

    def render(self, task: Task) -> Text:
        return Text(f"{self.reporter.elapsed()} eta {self.reporter.eta()}", style="cyan")


class BarReporter(ProgressReporter):
    """A rich bar on stderr; epoch lines and notes are printed above it."""

    def __init__(self, shape: RunShape, completed: int = 0, console: Console | None = None) -> None:
        super().__init__(shape, completed)
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            _ClockColumn(self),
            TextColumn("{task.fields[stats]}"),
            console=console if console is not None else Console(stderr=True),
        )
        self.task = self.progress.add_task(
            shape.command, total=shape.total_steps, completed=completed, stats=""
        )

    def __enter__(self) -> BarReporter:
        self.progress.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.progress.stop()

    def say(self, line: str) -> None:
        self.progress.console.print(line, highlight=False, soft_wrap=True)

    def advance(self) -> None:
        super().advance()
        self.progress.advance(self.task)

    def window(self, record: StepRecord) -> None:
        acc = record["acc"] * self.shape.to_percent
        epoch = f"epoch {record['epoch'] + 1}/{self.shape.epochs}"
        stats = f"{epoch} loss {record['loss']:.3f} acc {acc:.1f}%"
        self.progress.update(self.task, stats=stats)


def make_reporter(mode: ProgressMode, shape: RunShape, completed: int = 0) -> ProgressReporter:
    """The reporter ``mode`` asks for: ``"auto"`` draws the bar only when stderr is a
    terminal."""
    if mode == "off":
        return SilentReporter(shape, completed)
    if mode == "auto" and sys.stderr.isatty():
        return BarReporter(shape, completed)
    return LineReporter(shape, completed)
