"""Per-arm statistics over seeds: cost, memory, accuracy, and the agreement of the seeds'
genotypes (:mod:`factornas.bench.stability`)."""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from factornas.bench.arms import Arm
from factornas.bench.compare.results import (
    Agreement,
    ArmResult,
    ArmSummary,
    PairResult,
    SeedInterval,
    Statistic,
    Sweep,
)
from factornas.bench.differences import LEVEL, METRICS
from factornas.bench.intervals import paired_interval
from factornas.bench.stability import stability


def describe(values: list[float]) -> Statistic:
    """Mean and sample standard deviation (n − 1; 0 for a single value) of ``values``."""
    if not values:
        return Statistic(n=0, mean=None, std=None, values=[])
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return Statistic(n=len(values), mean=statistics.fmean(values), std=std, values=values)


def _mib(value: int) -> float:
    return value / 2**20


def summarize_arm(arm: Arm, runs: Sequence[PairResult], groups: tuple[str, ...]) -> ArmSummary:
    """Per-arm statistics over seeds, and the agreement of the seeds' genotypes."""
    searches = [r.search for r in runs]
    processes = [s.process for s in searches if s.process is not None]
    # Fewer than two seeds finished (the others failed): no pair to agree.
    agreement = stability([s.genotype for s in searches], groups) if len(searches) > 1 else None
    return ArmSummary(
        step_seconds=describe([s.step_seconds for s in searches if s.step_seconds is not None]),
        peak_rss_mib=describe([_mib(p.peak_rss_bytes) for p in processes]),
        rss_above_start_mib=describe(
            [_mib(p.peak_rss_bytes - p.start_rss_bytes) for p in processes]
        ),
        search_wall_seconds=describe([p.wall_seconds for p in processes]),
        search_cpu_seconds=describe([p.cpu_seconds for p in processes]),
        val_top1=describe([s.val_top1 for s in searches]),
        test_top1=describe([r.retrain.test_top1 for r in runs]),
        retrain_params=describe([float(r.retrain.params) for r in runs]),
        skip_connect_in_normal=sum(bool(s.skip_connect_in_normal) for s in searches),
        stability=None if agreement is None else Agreement.model_validate(agreement.to_json()),
    )


def sweep_of(arm: ArmResult, level: float = LEVEL) -> Sweep:
    """A seed sweep's numbers: per accuracy the seeds' values and the t-interval of their mean
    (the same interval as an arm difference's, of the values instead of differences)."""
    metrics = {}
    for key, value, label in METRICS:
        values = [float(value(run)) for run in arm.runs]
        if not values:
            continue
        metrics[key] = SeedInterval.model_validate(
            {
                "label": label,
                "seeds": [run.seed for run in arm.runs],
                "values": values,
                **paired_interval(values, level).to_json(),
            }
        )
    return Sweep(arm=arm.key, metrics=metrics)
