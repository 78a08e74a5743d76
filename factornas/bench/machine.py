"""The machine a benchmark ran on, as ``bench compare``'s ``results.json`` and ``bench cost``'s
``--json`` report record it: what a reader needs to compare those timings with theirs.

The load average is taken at the start and, by the benchmark, at the end: the timings of a busy
machine are not those of an idle one.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

import torch
from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer

#: Fields written only when set: ``jobs`` is ``bench compare``'s alone (and absent from results
#: written before ``--jobs``), ``load_average_end`` is set when the benchmark ends.
#: ``launcher`` is set by a ``bench compare`` that did not run its pairs here (ray, slurm).
_OMITTED_WHEN_NONE = ("jobs", "launcher", "load_average_end")


class Machine(BaseModel):
    """The CPU, memory, software and load of the machine, and the threads of each run."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    cpu_model: str
    logical_cpus: int | None
    usable_cpus: int | None
    memory_gib: float | None = Field(description="total memory (None: unknown)")
    torch: str
    python: str
    platform: str
    threads_per_run: int
    load_average_start: list[float] = Field(description="1, 5 and 15 minutes")
    environment: dict[str, str] = Field(description="threading and allocator variables")
    jobs: int | None = Field(None, description="bench compare: (arm, seed) pairs at once")
    launcher: str | None = Field(
        None, description="bench compare: ray or slurm ran the pairs (None: this machine)"
    )
    load_average_end: list[float] | None = None

    @model_serializer(mode="wrap")
    def _omit_unset(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        for key in _OMITTED_WHEN_NONE:
            if data.get(key, 0) is None:
                del data[key]
        return data


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), else what :mod:`platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def memory_total_gib() -> float | None:
    """Total memory in GiB (``/proc/meminfo``); None where that is not readable."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return None


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages now."""
    return list(os.getloadavg())


def describe_machine(threads: int) -> Machine:
    """This machine now, its load average as the start's, for runs of ``threads`` threads."""
    affinity = getattr(os, "sched_getaffinity", None)
    tuning = {
        k: v for k, v in os.environ.items() if k.startswith(("MALLOC_", "OMP_", "MKL_", "KMP_"))
    }
    return Machine(
        cpu_model=cpu_model(),
        logical_cpus=os.cpu_count(),
        usable_cpus=len(affinity(0)) if affinity else os.cpu_count(),
        memory_gib=memory_total_gib(),
        torch=torch.__version__,
        python=platform.python_version(),
        platform=platform.platform(),
        threads_per_run=threads,
        load_average_start=load_average(),
        environment=tuning,
    )
