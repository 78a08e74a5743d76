"""What every launcher does: run a list of tasks somewhere and say, per task, what came of it.

A failed task is an outcome like a finished one, never an exception: one pair whose worker ran
out of memory or whose cluster job was cancelled must not throw away the numbers of the others
(``bench compare`` reports it next to them and exits with status 3).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, Literal, Protocol, TypeVar

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)

Status = Literal["done", "failed", "pending"]


class LaunchTask(Protocol[T_co]):
    """One pair, picklable so that a Ray worker or a SLURM job can run it."""

    @property
    def key(self) -> str:
        """A name unique among the tasks and stable across invocations, e.g. ``flat/seed2``."""
        ...

    def __call__(self) -> T_co:
        """Run the task (resuming whatever an earlier invocation left) and return its result."""
        ...

    def is_done(self) -> bool:
        """Whether the task already finished, so that calling it only reads its result."""
        ...


@dataclass(frozen=True)
class Outcome(Generic[T]):
    """What came of one task: ``done`` with its ``result``, ``failed`` with why in one line
    (``detail``), or ``pending``: submitted and not yet finished (a SLURM job not waited for;
    ``detail`` names the job)."""

    status: Status
    result: T | None = None
    detail: str = ""
    seconds: float = 0.0

    @staticmethod
    def done(result: T, seconds: float) -> Outcome[T]:
        return Outcome("done", result, seconds=seconds)

    @staticmethod
    def failed(why: str, seconds: float = 0.0) -> Outcome[T]:
        return Outcome("failed", detail=one_line(why), seconds=seconds)


#: Called in the calling thread as each task ends (done or failed): its index and outcome.
OnOutcome = Callable[[int, "Outcome[T]"], None]


class Launcher(Protocol):
    """Runs tasks and returns one :class:`Outcome` per task, in task order."""

    #: The ``--launcher`` value, recorded in ``results.json`` (local: not recorded).
    @property
    def name(self) -> str: ...
    #: Tasks at once (``--jobs``), as ``results.json`` records it (None: as the cluster grants).
    @property
    def jobs(self) -> int | None: ...

    #: What the launcher writes in the comparison's folder, for its ownership marker
    #: (:mod:`factornas.runtime.owned`; a name ending in ``/`` is a folder).
    @property
    def outputs(self) -> tuple[str, ...]: ...

    def run(self, tasks: Sequence[LaunchTask[T]], on_outcome: OnOutcome[T]) -> list[Outcome[T]]: ...


def one_line(text: str) -> str:
    """The last non-empty line of ``text`` (a traceback's is its message), whitespace folded."""
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    return " ".join(lines[-1].split()) if lines else "(no message)"
