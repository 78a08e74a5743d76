"""``--launcher slurm``: one SLURM job per (arm, seed) pair, submitted as one array by
submitit, with ``--slurm-partition``, ``--slurm-time``, ``--gpus-per-job`` and
``--cpus-per-job`` as the job's resources.

A job runs the pair as the local launcher does, into the pair's run directories, so the nodes
must see ``--out`` at the same path. Without ``--wait`` the command submits and returns; the
ids go to ``OUT/slurm_jobs.json``, and the same command run later collects what finished,
reports it, and submits nothing twice: a pair whose runs finished is read back, one whose job
is still queued or running is waited for (``--wait``) or left pending, and one whose job
failed is reported, its id dropped, so that the next invocation submits it again and it
resumes from its checkpoint. submitit's ``local`` cluster runs the same code short of
``sbatch`` (the tests' way).
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from factornas.bench.launchers.extras import require
from factornas.bench.launchers.launcher import LaunchTask, OnOutcome, Outcome, one_line
from factornas.bench.launchers.local import run_here
from factornas.errors import FactorNASError
from factornas.files import write_atomic

T = TypeVar("T")
#: The submitted jobs, by task key, in the comparison's folder.
JOBS_RECORD = "slurm_jobs.json"
#: SLURM states of a job that ended; one without a result failed (sacct's names).
_ENDED = {
    "BOOT_FAIL", "CANCELLED", "COMPLETED", "DEADLINE", "FAILED", "NODE_FAIL", "OUT_OF_MEMORY",
    "PREEMPTED", "TIMEOUT", "INTERRUPTED", "FINISHED",
}  # fmt: skip
#: What submitit's local cluster says of a job it started in another process.
_LOCAL_UNKNOWN = "NO PROCESS AND NO RESULT"
_TIME = re.compile(r"^(?:(\d+)-)?(\d+)(?::(\d{1,2}))?(?::(\d{1,2}))?$")


def parse_slurm_time(text: str) -> int:
    """``--slurm-time`` in minutes: ``90`` (minutes), ``H:MM``, ``H:MM:SS`` or ``D-H:MM[:SS]``
    (sbatch's forms; seconds round up to a whole minute)."""
    match = _TIME.match(text.strip())
    if match is None:
        raise FactorNASError(f"--slurm-time {text}: give minutes (90), H:MM, H:MM:SS or D-H:MM:SS")
    days, first, second, third = match.groups()
    if second is None:  # minutes alone, or D-H
        minutes = int(first) * (60 if days else 1)
    else:
        seconds = int(third or 0)
        minutes = int(first) * 60 + int(second) + (1 if seconds else 0)
    minutes += int(days or 0) * 24 * 60
    if minutes < 1:
        raise FactorNASError(f"--slurm-time {text}: a job needs at least a minute")
    return minutes


@dataclass(frozen=True)
class SlurmOptions:
    """What each pair's job asks the cluster for."""

    partition: str | None
    minutes: int
    folder: Path
    gpus_per_job: int = 0
    cpus_per_job: int = 1
    #: Array tasks at once (None: as many as the cluster grants).
    jobs: int | None = None
    #: submitit's cluster: ``slurm``, or ``local`` to run the jobs on this machine.
    cluster: str = "slurm"


def make_executor(options: SlurmOptions) -> Any:
    """The submitit executor of ``options`` (its sbatch script is what a job is sent with)."""
    submitit = require("submitit", "slurm", "slurm")
    try:
        executor = submitit.AutoExecutor(folder=options.folder, cluster=options.cluster)
    except RuntimeError as error:  # submitit's SLURM executor looks for srun first
        raise FactorNASError(
            f"--launcher slurm: {error} Run it where sbatch and srun are (a login node), or "
            "add --slurm-cluster local to rehearse on this machine"
        ) from None
    parameters: dict[str, Any] = {
        "name": "factornas-bench",
        "timeout_min": options.minutes,
        "gpus_per_node": options.gpus_per_job,
        "cpus_per_task": options.cpus_per_job,
        "tasks_per_node": 1,
        "nodes": 1,
    }
    if options.partition is not None:
        parameters["slurm_partition"] = options.partition
    if options.jobs is not None:
        parameters["slurm_array_parallelism"] = options.jobs
    executor.update_parameters(**parameters)
    return executor


def _pid_alive(job_id: str) -> bool:
    """submitit's local cluster names a job by its controller's process id."""
    try:
        os.kill(int(job_id), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True


@dataclass(frozen=True)
class SlurmLauncher:
    """Submits the unfinished pairs, records their job ids, and collects what ended."""

    options: SlurmOptions
    record: Path
    wait: bool = False
    name: str = "slurm"

    @property
    def jobs(self) -> int | None:
        return self.options.jobs

    @property
    def outputs(self) -> tuple[str, ...]:
        """The job record, and submitit's folder where it is the comparison's own."""
        folder = self.options.folder
        inside = folder.parent.resolve() == self.record.parent.resolve()
        return (self.record.name, *((f"{folder.name}/",) if inside else ()))

    def _job(self, job_id: str) -> Any:
        submitit = require("submitit", "slurm", "slurm")
        kind = submitit.LocalJob if self.options.cluster == "local" else submitit.SlurmJob
        return kind(self.options.folder, job_id)

    def _recorded(self) -> dict[str, str]:
        if not self.record.exists():
            return {}
        try:
            value = json.loads(self.record.read_text())
        except ValueError:
            raise FactorNASError(
                f"{self.record} is not valid JSON: delete it to submit every unfinished pair "
                "again (cancel their jobs first)"
            ) from None
        return {str(k): str(v) for k, v in value.items()}

    def _write(self, jobs: dict[str, str]) -> None:
        write_atomic(self.record, json.dumps(jobs, indent=2, sort_keys=True) + "\n")

    @staticmethod
    def _failure(job: Any, error: Exception) -> Outcome[Any]:
        """A job's failure in one line: the pair's own error (submitit quotes the job's
        traceback between dashed lines, then lists the log files), and where its log is."""
        text = str(error)
        quoted = text.split("-" * 22)
        why = one_line(quoted[1] if len(quoted) > 2 else text)
        return Outcome.failed(f"job {job.job_id}: {why} (log: {job.paths.stderr})")

    def _collect(self, job: Any, reattached: bool) -> Outcome[Any]:
        """A job's outcome now: its result or error once it wrote one; failed when it ended
        without one; else pending."""
        if self.wait:
            started = time.perf_counter()
            try:
                return Outcome.done(job.result(), time.perf_counter() - started)
            except Exception as error:  # the job's own failure, or the cluster's
                return self._failure(job, error)
        if job.paths.result_pickle.exists():
            try:
                return Outcome.done(job.result(), 0.0)
            except Exception as error:
                return self._failure(job, error)
        state = str(job.state)
        if state == _LOCAL_UNKNOWN:
            state = "RUNNING" if reattached and _pid_alive(job.job_id) else "FINISHED"
        if state.split()[0] in _ENDED:
            return Outcome.failed(
                f"job {job.job_id} ended {state} without a result (its log: {job.paths.stderr})"
            )
        return Outcome("pending", detail=f"job {job.job_id} {state.lower()}")

    def run(self, tasks: Sequence[LaunchTask[T]], on_outcome: OnOutcome[T]) -> list[Outcome[T]]:
        recorded = self._recorded()
        outcomes: dict[int, Outcome[T]] = {}
        jobs: dict[int, tuple[Any, bool]] = {}
        to_submit: list[int] = []
        for index, task in enumerate(tasks):
            if task.is_done():  # finished, whoever ran it: read back here
                outcomes[index] = run_here(task)
                recorded.pop(task.key, None)
            elif task.key in recorded:
                jobs[index] = (self._job(recorded[task.key]), True)
            else:
                to_submit.append(index)
        if to_submit:
            executor = make_executor(self.options)
            with executor.batch():
                submitted = [executor.submit(tasks[index]) for index in to_submit]
            for index, job in zip(to_submit, submitted, strict=True):
                jobs[index] = (job, False)
                recorded[tasks[index].key] = str(job.job_id)
        self._write(recorded)
        for index, (job, reattached) in jobs.items():
            outcomes[index] = self._collect(job, reattached)
            if outcomes[index].status == "failed":
                recorded.pop(tasks[index].key)  # the next invocation submits it again
        self._write(recorded)
        ordered = [outcomes[index] for index in range(len(tasks))]
        for index, outcome in enumerate(ordered):
            if outcome.status != "pending":
                on_outcome(index, outcome)
        return ordered
