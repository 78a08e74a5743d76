"""``factornas bench compare --jobs N`` and ``--launcher ray``: pairs run concurrently, results
as with ``--jobs 1`` here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from factornas.bench.budgets import BUDGETS
from factornas.bench.compare.results import CompareResults
from factornas.bench.compare.run import run_compare
from factornas.bench.compare.settings import CompareSettings
from factornas.bench.jobs import default_threads
from factornas.bench.launchers.local import LocalLauncher
from factornas.bench.launchers.ray import RayLauncher
from factornas.data import make_fake_fashion_mnist
from tests.bench.test_compare import TINY


def test_threads_split_the_cores_over_the_jobs() -> None:
    assert default_threads(1, cores=16) == 1  # one job: the harness's default
    assert (default_threads(2, cores=16), default_threads(3, cores=16)) == (8, 5)
    assert default_threads(4, cores=2) == 1


def _outcome(results: CompareResults) -> list[Any]:
    """What the runs found, without their timings."""
    return [
        (
            arm.key,
            [
                (
                    run.seed,
                    run.search.genotype,
                    run.search.val_top1_per_epoch,
                    run.retrain.test_top1,
                    run.retrain.params,
                )
                for run in arm.runs
            ],
        )
        for arm in results.arms
    ]


@pytest.mark.slow
def test_two_jobs_and_ray_give_what_one_job_gives(tmp_path: Path, local_ray: Any) -> None:
    """The same pairs run one at a time here, two at a time here, and as Ray tasks on a local
    Ray of 2 CPUs (one pair at a time: the timing docs/benchmarks.md compares)."""
    pytest.importorskip("matplotlib")
    data = make_fake_fashion_mnist(tmp_path / "fmnist", train_size=64, test_size=20).resolve()
    settings = CompareSettings(
        space="adarts", baselines=(), seeds=2, sizes=TINY, budget="quick", data=data
    )  # two pairs, run side by side under --jobs 2
    assert BUDGETS["quick"] != TINY  # the overrides are part of the settings
    one = run_compare(settings, tmp_path / "one", launcher=LocalLauncher(jobs=1))
    two = run_compare(settings, tmp_path / "two", launcher=LocalLauncher(jobs=2))
    ray = run_compare(settings, tmp_path / "ray", launcher=RayLauncher(jobs=1))
    assert isinstance(one, CompareResults) and isinstance(two, CompareResults)
    assert isinstance(ray, CompareResults)
    assert (one.machine.jobs, two.machine.jobs, ray.machine.jobs) == (1, 2, 1)
    assert (one.machine.launcher, ray.machine.launcher) == (None, "ray")
    assert _outcome(two) == _outcome(one)
    assert _outcome(ray) == _outcome(one)
    assert ray.sweep == one.sweep and ray.sweep is not None
    # The same files: each run directory holds what the local launcher's holds.
    for name in ("genotype.json",):
        search = Path("runs/adarts/seed1/search") / name
        assert (tmp_path / "ray" / search).read_text() == (tmp_path / "one" / search).read_text()
