"""One search or one retraining of ``factornas bench compare``, in a process of its own.

Each run gets a fresh process so that its peak resident memory (``ru_maxrss``) is its own and
not the high-water mark of every run before it, and so that no allocator cache or thread pool
warmed by one arm speeds up the next. The process writes ``bench_process.json`` into the run
directory: peak RSS, the RSS it started from (interpreter, torch and factornas imported, no
data yet), its wall and CPU seconds and its thread count.

Usage (by the harness): ``python -m factornas.bench.compare_worker JOB.json``, where the job
holds ``task`` (``search`` or ``retrain``), ``out``, ``threads``, ``config``, ``device``
(``cpu``, ``cuda`` or ``cuda:N``: ``bench compare --device``), ``cuda_graphs`` and, for a
retraining, ``genotype``.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

import torch

from factornas.bench.worker import peak_rss_bytes, worker_main
from factornas.errors import FactorNASError
from factornas.files import write_atomic

PROCESS_RECORD = "bench_process.json"


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _run(job: dict[str, Any]) -> None:
    out = Path(job["out"])
    # Jobs written before the harness took a device ran on the CPU.
    device = torch.device(job.get("device", "cpu"))
    graphs = bool(job.get("cuda_graphs", False))
    if job["task"] == "search":
        from factornas.search.config import SearchConfig
        from factornas.search.loop import run_search

        run_search(
            SearchConfig.model_validate(job["config"]),
            out,
            device=str(device),
            show_progress=False,
            cuda_graphs=graphs,
        )
    elif job["task"] == "retrain":
        from factornas.evaluate.config import RetrainConfig
        from factornas.evaluate.data import build_retrain_data
        from factornas.evaluate.train import retrain
        from factornas.space.genotype import Genotype

        config = RetrainConfig.model_validate(job["config"])
        data = build_retrain_data(config, device)
        genotype = Genotype.model_validate(job["genotype"])
        retrain(genotype, config, out, data, device=device, progress=False, cuda_graphs=graphs)
    else:
        raise FactorNASError(f"unknown bench task {job['task']!r}")


def run_job(job: dict[str, Any]) -> dict[str, Any]:
    """Run ``job`` and write its process record next to its outputs; returns the record."""
    torch.set_num_threads(int(job["threads"]))
    start_rss = peak_rss_bytes()
    cpu0, wall0 = _cpu_seconds(), time.perf_counter()
    _run(job)
    record = {
        "task": job["task"],
        "peak_rss_bytes": peak_rss_bytes(),
        "start_rss_bytes": start_rss,
        "wall_seconds": time.perf_counter() - wall0,
        "cpu_seconds": _cpu_seconds() - cpu0,
        "threads": torch.get_num_threads(),
    }
    write_atomic(Path(job["out"]) / PROCESS_RECORD, json.dumps(record, indent=2) + "\n")
    return record


def main(argv: list[str] | None = None) -> int:
    return worker_main(
        argv,
        "python -m factornas.bench.compare_worker JOB.json",
        lambda path: run_job(json.loads(Path(path).read_text())),
    )


if __name__ == "__main__":
    sys.exit(main())
