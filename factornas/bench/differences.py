"""Every arm against the first: the mean accuracy difference over seeds, its interval, and a
verdict in words.

Seed-to-seed spread in a short search is often larger than the differences between arms, so
a table of means invites reading noise as a result. Each comparison here pairs the two arms'
runs by seed (same data subset and batch order), takes the differences *first − other*, and
says whether their 95 % t-interval (:mod:`factornas.bench.intervals`) excludes zero.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from factornas.bench.compare.results import ArmResult, Comparison, MetricDifference, PairResult
from factornas.bench.intervals import PairedInterval, paired_interval

#: The interval's confidence level: the usual one, so a reader need not translate.
LEVEL = 0.95
#: What is compared: (key in results, how to read a run's value, label).
METRICS: tuple[tuple[str, Callable[[PairResult], float], str], ...] = (
    ("test_top1", lambda run: run.retrain.test_top1, "retrained test top-1"),
    ("val_top1", lambda run: run.search.val_top1, "supernet val top-1"),
)


def verdict(interval: PairedInterval, first: str, other: str) -> str:
    """E.g. ``adarts ahead by 0.7 ± 2.9 points: within seed noise``."""
    if interval.half_width is None:
        return f"{first} − {other} = {interval.mean:+.1f} points from one seed: no interval"
    if interval.mean == 0:
        lead = f"no difference (0.0 ± {interval.half_width:.1f} points)"
    else:
        ahead = first if interval.mean > 0 else other
        lead = f"{ahead} ahead by {abs(interval.mean):.1f} ± {interval.half_width:.1f} points"
    noise = "beyond seed noise" if interval.excludes_zero else "within seed noise"
    return f"{lead}: {noise}"


def _by_seed(arm: ArmResult, value: Callable[[PairResult], float]) -> dict[int, float]:
    return {run.seed: float(value(run)) for run in arm.runs}


def compare_arms(arms: Sequence[ArmResult], level: float = LEVEL) -> list[Comparison]:
    """One entry per arm after the first: per metric the paired seeds, the differences, the
    interval and the verdict. Seeds only one of the two arms has are left out."""
    first = arms[0]
    comparisons = []
    for other in arms[1:]:
        metrics = {}
        for key, value, label in METRICS:
            ours, theirs = _by_seed(first, value), _by_seed(other, value)
            seeds = sorted(ours.keys() & theirs.keys())
            differences = [ours[s] - theirs[s] for s in seeds]
            if not differences:
                continue
            interval = paired_interval(differences, level)
            metrics[key] = MetricDifference.model_validate(
                {
                    "label": label,
                    "seeds": seeds,
                    "differences": differences,
                    **interval.to_json(),
                    "verdict": verdict(interval, first.key, other.key),
                }
            )
        comparisons.append(Comparison(arm=other.key, against=first.key, metrics=metrics))
    return comparisons
