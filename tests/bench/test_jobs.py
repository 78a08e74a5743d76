"""``factornas bench compare --jobs N``: pairs run concurrently, results as with ``--jobs 1``."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from factornas.bench.budgets import BUDGETS
from factornas.bench.compare.results import CompareResults
from factornas.bench.compare.run import run_compare
from factornas.bench.compare.settings import CompareSettings
from factornas.bench.jobs import default_threads, run_jobs
from factornas.data import make_fake_fashion_mnist
from tests.bench.test_compare import TINY


def test_threads_split_the_cores_over_the_jobs() -> None:
    assert default_threads(1, cores=16) == 1  # one job: the harness's default
    assert (default_threads(2, cores=16), default_threads(3, cores=16)) == (8, 5)
    assert default_threads(4, cores=2) == 1


def test_results_come_back_in_task_order_and_report_in_the_calling_thread() -> None:
    caller = threading.get_ident()
    together = threading.Barrier(3, timeout=30)  # passes only if three tasks run at once
    reports: list[tuple[int, int]] = []

    def task(i: int) -> Any:
        def run() -> int:
            if i < 3:
                together.wait()
            return i * i

        return run

    def done(index: int, result: int, seconds: float) -> None:
        assert threading.get_ident() == caller and seconds >= 0
        reports.append((index, result))

    assert run_jobs([task(i) for i in range(4)], 3, done) == [0, 1, 4, 9]
    assert sorted(reports) == [(0, 0), (1, 1), (2, 4), (3, 9)]


def test_a_failure_is_raised_and_stops_the_rest() -> None:
    started: list[int] = []

    def task(i: int) -> Any:
        def run() -> int:
            started.append(i)
            if i == 0:
                raise RuntimeError("pair 0 failed")
            time.sleep(0.05)
            return i

        return run

    with pytest.raises(RuntimeError, match="pair 0 failed"):
        run_jobs([task(i) for i in range(6)], 2, lambda *_: None)
    assert len(started) < 6


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
def test_two_jobs_give_what_one_job_gives(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    data = make_fake_fashion_mnist(tmp_path / "fmnist", train_size=64, test_size=20).resolve()
    settings = CompareSettings(
        space="adarts", baselines=(), seeds=2, sizes=TINY, budget="quick", data=data
    )  # two pairs, run side by side under --jobs 2
    assert BUDGETS["quick"] != TINY  # the overrides are part of the settings
    one = run_compare(settings, tmp_path / "one", jobs=1)
    two = run_compare(settings, tmp_path / "two", jobs=2)
    assert (one.machine.jobs, two.machine.jobs) == (1, 2)
    assert _outcome(two) == _outcome(one)
