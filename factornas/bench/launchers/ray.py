"""``--launcher ray``: each (arm, seed) pair is one Ray task, with ``--cpus-per-job`` CPUs and
``--gpus-per-job`` GPUs reserved for it.

The task runs the pair exactly as the local launcher does (its search and retraining in worker
processes of their own, into the pair's run directories), so on a cluster every node must see
``--out`` at the same path (a shared file system) and have factornas installed. Ray schedules
the tasks as resources free up; ``--jobs`` caps how many are submitted at once (default: all).
A task whose Ray worker dies (a node lost, a worker killed) is retried once and resumes from
its run's checkpoint; a pair that still fails is reported with the others' numbers. The driver
holds no state of its own: killed, it is resumed by the same command, which reads back what
finished.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from factornas.bench.launchers.extras import require
from factornas.bench.launchers.launcher import LaunchTask, OnOutcome, Outcome

T = TypeVar("T")
#: Retries of a task whose worker process died (not of one whose pair failed: that would fail
#: the same way again).
WORKER_RETRIES = 1


def _timed(task: LaunchTask[T]) -> tuple[T, float]:
    """What a Ray worker runs: the task and its own wall seconds (the rest is Ray's)."""
    started = time.perf_counter()
    return task(), time.perf_counter() - started


def _why(error: BaseException) -> str:
    """A failed task in one line: the pair's own error where Ray wraps one, else Ray's."""
    cause = getattr(error, "cause", None)
    return str(cause) if cause is not None and str(cause) else str(error)


@dataclass(frozen=True)
class RayLauncher:
    """Ray tasks on the cluster at ``address`` (None: the one ``RAY_ADDRESS`` names, or a Ray
    started here for this comparison); a Ray already initialized in this process is used."""

    address: str | None = None
    cpus_per_job: float = 1.0
    gpus_per_job: float = 0.0
    jobs: int | None = None
    name: str = "ray"
    outputs: tuple[str, ...] = ()

    def _connect(self) -> Any:
        ray = require("ray", "ray", "ray")
        if not ray.is_initialized():
            ray.init(address=self.address, include_dashboard=False, log_to_driver=False)
        return ray

    def run(self, tasks: Sequence[LaunchTask[T]], on_outcome: OnOutcome[T]) -> list[Outcome[T]]:
        ray = self._connect()
        remote = ray.remote(
            num_cpus=self.cpus_per_job, num_gpus=self.gpus_per_job, max_retries=WORKER_RETRIES
        )(_timed)
        ended: dict[int, Outcome[T]] = {}
        running: dict[Any, int] = {}
        waiting = list(enumerate(tasks))
        limit = self.jobs or len(tasks)  # None: all at once, as the cluster's resources allow
        while waiting or running:
            while waiting and len(running) < limit:
                index, task = waiting.pop(0)
                running[remote.remote(task)] = index
            (ready,), _ = ray.wait(list(running), num_returns=1)
            index = running.pop(ready)
            try:
                result, seconds = ray.get(ready)
                ended[index] = Outcome.done(result, seconds)
            except ray.exceptions.RayError as error:
                ended[index] = Outcome.failed(_why(error))
            on_outcome(index, ended[index])
        return [ended[index] for index in range(len(tasks))]
