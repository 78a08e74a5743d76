"""``--launcher local`` (the default): the pairs on this machine, ``--jobs N`` at once.

Each pair already runs in processes of its own (:mod:`factornas.bench.compare_worker`), so
running N pairs at once needs only N host threads that start and wait for those processes. A
pair's runs are a pure function of its settings (seeded, their own run directories): the
results equal those of ``--jobs 1`` with the same ``--threads``, in the same order; only the
timings change, as the jobs share the machine. A pair that fails is reported and the others go
on (a comparison of many seeds should not lose its night to one).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import TypeVar

from factornas.bench.launchers.launcher import LaunchTask, OnOutcome, Outcome

T = TypeVar("T")


def run_here(task: LaunchTask[T]) -> Outcome[T]:
    """Run ``task`` in this process; an exception becomes a failed outcome."""
    started = time.perf_counter()
    try:
        result = task()
    except Exception as error:  # any failure of one pair is that pair's, reported with it
        return Outcome.failed(str(error) or type(error).__name__, time.perf_counter() - started)
    return Outcome.done(result, time.perf_counter() - started)


@dataclass(frozen=True)
class LocalLauncher:
    """At most ``jobs`` tasks at a time, started in task order."""

    jobs: int = 1
    name: str = "local"
    outputs: tuple[str, ...] = ()

    def run(self, tasks: Sequence[LaunchTask[T]], on_outcome: OnOutcome[T]) -> list[Outcome[T]]:
        if self.jobs <= 1:
            outcomes = []
            for index, task in enumerate(tasks):
                outcomes.append(run_here(task))
                on_outcome(index, outcomes[-1])
            return outcomes
        ended: dict[int, Outcome[T]] = {}
        with ThreadPoolExecutor(max_workers=self.jobs) as pool:
            futures: dict[Future[Outcome[T]], int] = {
                pool.submit(run_here, task): index for index, task in enumerate(tasks)
            }
            pending = set(futures)
            while pending:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    ended[futures[future]] = future.result()
                    on_outcome(futures[future], ended[futures[future]])
        return [ended[index] for index in range(len(tasks))]
