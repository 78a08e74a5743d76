"""Several of ``factornas bench compare``'s (arm, seed) pairs at once (``--jobs N``).

Each pair already runs in processes of its own (:mod:`factornas.bench.compare_worker`), so
running N pairs at once needs only N host threads that start and wait for those processes. A
pair's runs are a pure function of its settings (seeded, their own run directories): the
results equal those of ``--jobs 1`` with the same ``--threads``, in the same order; only the
timings change, as the jobs share the machine.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from typing import TypeVar

T = TypeVar("T")
#: Called in the calling thread as each task finishes: its index, result and wall seconds.
OnDone = Callable[[int, T, float], None]


def default_threads(jobs: int, cores: int | None = None) -> int:
    """The torch threads of each run when ``--threads`` is not given: 1 for one job at a time
    (the harness's default), else the cores split evenly over the ``jobs`` (at least one)."""
    if jobs == 1:
        return 1
    cores = cores if cores is not None else (os.cpu_count() or 1)
    return max(1, cores // jobs)


def _timed(task: Callable[[], T]) -> tuple[T, float]:
    started = time.perf_counter()
    result = task()
    return result, time.perf_counter() - started


def run_jobs(tasks: Sequence[Callable[[], T]], jobs: int, on_done: OnDone[T]) -> list[T]:
    """Run ``tasks`` with at most ``jobs`` at a time, started in order; their results in task
    order. The first failure is raised once the running tasks finish (none starts after it)."""
    if jobs <= 1:
        results = []
        for index, task in enumerate(tasks):
            result, seconds = _timed(task)
            on_done(index, result, seconds)
            results.append(result)
        return results
    done: dict[int, T] = {}
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures: dict[Future[tuple[T, float]], int] = {
            pool.submit(_timed, task): index for index, task in enumerate(tasks)
        }
        pending = set(futures)
        while pending:
            finished, pending = wait(pending, return_when=FIRST_EXCEPTION)
            for future in finished:
                if future.exception() is not None:
                    for waiting in pending:
                        waiting.cancel()
                    raise future.exception()  # type: ignore[misc]
                result, seconds = future.result()
                done[futures[future]] = result
                on_done(futures[future], result, seconds)
    return [done[index] for index in range(len(tasks))]
