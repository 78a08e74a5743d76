"""What the ``factornas bench`` worker processes share: their entry point and peak memory.

Each worker runs one job given as its single argument in a process of its own, so that its peak
resident set is that job's alone, and reports a user's mistake in the job as one line with exit
status 2, so the parent can show the reason next to the other jobs' results.
"""

from __future__ import annotations

import resource
import sys
from collections.abc import Callable
from typing import Any

from factornas.errors import FactorNASError


def peak_rss_bytes() -> int:
    """This process's peak resident set so far (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak) if sys.platform == "darwin" else int(peak) * 1024


def worker_main(argv: list[str] | None, usage: str, job: Callable[[str], Any]) -> int:
    """Run ``job`` on the one command-line argument (``sys.argv`` when ``argv`` is None)."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print(f"usage: {usage}", file=sys.stderr)
        return 2
    try:
        job(args[0])
    except FactorNASError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0
