"""A local Ray for the launcher tests: started once per test process (about 5 s), 2 CPUs."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


def with_repository_on_path() -> str:
    """PYTHONPATH with the repository first: the workers that Ray and submitit start import
    ``tests.bench.launch_tasks`` (and this checkout's factornas)."""
    return os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])


@pytest.fixture(scope="session")
def local_ray() -> Iterator[Any]:
    ray = pytest.importorskip("ray")
    previous = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = with_repository_on_path()  # inherited by Ray's workers
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield ray
    finally:
        ray.shutdown()
        if previous is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = previous
