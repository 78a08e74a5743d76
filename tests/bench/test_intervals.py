"""The paired t-interval of ``bench compare`` and its verdicts, against hand-computed values."""

from __future__ import annotations

import math

import pytest

from factornas.bench.compare.results import ArmResult, PairResult, RetrainResult, SearchResult
from factornas.bench.differences import compare_arms, verdict
from factornas.bench.intervals import paired_interval, student_t_cdf, student_t_quantile
from factornas.errors import FactorNASError


@pytest.mark.parametrize(
    ("df", "expected"),
    [(1, 12.7062), (2, 4.3027), (3, 3.1824), (4, 2.7764), (10, 2.2281), (30, 2.0423)],
)
def test_the_t_quantile_matches_the_tables(df: int, expected: float) -> None:
    assert student_t_quantile(0.975, df) == pytest.approx(expected, abs=5e-5)


def test_the_t_quantile_at_other_levels_and_in_the_lower_tail() -> None:
    assert student_t_quantile(0.995, 3) == pytest.approx(5.8409, abs=5e-5)
    assert student_t_quantile(0.95, 5) == pytest.approx(2.0150, abs=5e-5)
    assert student_t_quantile(0.025, 2) == pytest.approx(-4.3027, abs=5e-5)
    assert student_t_quantile(0.5, 7) == pytest.approx(0.0, abs=1e-12)
    # Many degrees of freedom: the normal quantile.
    assert student_t_quantile(0.975, 100_000) == pytest.approx(1.95996, abs=1e-4)


def test_the_t_cdf_matches_closed_forms() -> None:
    # df 1 is Cauchy: 1/2 + atan(t)/π; df 2: 1/2 + t / (2·√(2 + t²)).
    for t in (-3.0, -0.5, 0.0, 1.0, 7.5):
        assert student_t_cdf(t, 1) == pytest.approx(0.5 + math.atan(t) / math.pi, abs=1e-12)
        assert student_t_cdf(t, 2) == pytest.approx(0.5 + t / (2 * math.sqrt(2 + t * t)), abs=1e-12)


def test_bad_quantile_arguments_are_refused() -> None:
    with pytest.raises(FactorNASError, match="strictly between 0 and 1"):
        student_t_quantile(1.0, 3)
    with pytest.raises(FactorNASError, match="at least 1 degree of freedom"):
        student_t_quantile(0.975, 0)


def test_the_interval_of_one_two_three() -> None:
    interval = paired_interval([1.0, 2.0, 3.0])
    assert (interval.n, interval.mean, interval.sd) == (3, 2.0, 1.0)
    # t(0.975, 2) · 1 / √3
    assert interval.half_width == pytest.approx(4.302653 / math.sqrt(3), abs=1e-6)
    assert interval.half_width == pytest.approx(2.484, abs=5e-4)
    assert not interval.excludes_zero
    saved = interval.to_json()
    assert saved["low"] == pytest.approx(2.0 - 2.48414, abs=1e-5)
    assert saved["high"] == pytest.approx(2.0 + 2.48414, abs=1e-5)
    assert saved["level"] == 0.95


def test_a_consistent_difference_is_beyond_noise() -> None:
    interval = paired_interval([2.0, 2.5, 3.0])
    # sd 0.5: half-width 4.3027 · 0.5 / √3 = 1.242
    assert interval.half_width == pytest.approx(1.2421, abs=1e-4)
    assert interval.excludes_zero
    assert verdict(interval, "adarts", "flat") == (
        "adarts ahead by 2.5 ± 1.2 points: beyond seed noise"
    )


def test_verdicts_name_the_arm_ahead() -> None:
    assert verdict(paired_interval([1.0, 2.0, 3.0]), "adarts", "flat") == (
        "adarts ahead by 2.0 ± 2.5 points: within seed noise"
    )
    assert verdict(paired_interval([-1.0, -2.0, -3.0]), "adarts", "flat") == (
        "flat ahead by 2.0 ± 2.5 points: within seed noise"
    )
    assert verdict(paired_interval([1.0, -1.0, 0.0]), "a", "b") == (
        "no difference (0.0 ± 2.5 points): within seed noise"
    )
    one = paired_interval([1.5])
    assert one.half_width is None and not one.excludes_zero
    assert verdict(one, "a", "b") == "a − b = +1.5 points from one seed: no interval"


def _arm(key: str, runs: list[tuple[int, float, float]]) -> ArmResult:
    """An arm with only what the comparison reads: its key, and per run the seed and the two
    accuracies (unvalidated: the other fields stay unset)."""
    return ArmResult.model_construct(
        key=key,
        runs=[
            PairResult.model_construct(
                seed=seed,
                search=SearchResult.model_construct(val_top1=val),
                retrain=RetrainResult.model_construct(test_top1=test),
            )
            for seed, val, test in runs
        ],
    )


def test_arms_are_compared_with_the_first_paired_by_seed() -> None:
    first = _arm("adarts", [(0, 80.0, 85.0), (1, 82.0, 84.0), (2, 81.0, 86.0)])
    # Runs in another order, and a seed the first arm lacks: pairing is by seed number.
    other = _arm("flat", [(2, 80.0, 83.0), (0, 79.0, 84.0), (1, 80.0, 83.0), (3, 0.0, 0.0)])
    (comparison,) = compare_arms([first, other])
    assert (comparison.arm, comparison.against) == ("flat", "adarts")
    test = comparison.metrics["test_top1"]
    assert test.seeds == [0, 1, 2]
    assert test.differences == [1.0, 1.0, 3.0]
    assert test.mean == pytest.approx(5 / 3)
    assert test.sd == pytest.approx(math.sqrt(4 / 3))
    assert test.half_width == pytest.approx(4.302653 * math.sqrt(4 / 3) / math.sqrt(3))
    assert test.verdict == "adarts ahead by 1.7 ± 2.9 points: within seed noise"
    val = comparison.metrics["val_top1"]
    assert val.differences == [1.0, 2.0, 1.0]
    assert val.label == "supernet val top-1"
