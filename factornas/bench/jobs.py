"""The torch threads of each run when ``bench compare --threads`` is not given.

Running several pairs at once is the launchers' job (:mod:`factornas.bench.launchers`); this
says how a machine's cores are shared among the ``--jobs`` pairs that run on it together.
"""

from __future__ import annotations

import os


def default_threads(jobs: int, cores: int | None = None) -> int:
    """The torch threads of each run when ``--threads`` is not given: 1 for one job at a time
    (the harness's default), else the cores split evenly over the ``jobs`` (at least one)."""
    if jobs == 1:
        return 1
    cores = cores if cores is not None else (os.cpu_count() or 1)
    return max(1, cores // jobs)
