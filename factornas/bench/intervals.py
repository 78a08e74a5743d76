"""Confidence intervals of a mean difference over seeds, with no dependency beyond ``math``.

A comparison runs every arm with the same seeds (same data subset, same batch order), so two
arms are compared *paired by seed*: the per-seed differences carry the arm effect, and the
seed effect they share cancels. With the 3–5 seeds a CPU budget affords, the interval is the
Student-t one, ``mean ± t(1 − (1 − level)/2, n − 1) · sd / √n``: exact for normal differences
and honest about how few seeds there are, where a bootstrap of 3 values has only 10 distinct
resamples and gives intervals far too narrow (docs/benchmarks.md).

The t quantile is computed exactly (the regularized incomplete beta function by its continued
fraction, inverted by bisection) instead of read from a table, so any level and any number of
seeds are covered without scipy.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from factornas.errors import FactorNASError

#: Continued-fraction terms and the relative precision they are evaluated to.
_MAX_TERMS = 300
_EPSILON = 1e-15
#: Bisection steps of the quantile: each halves the bracket, so 200 reach float precision.
_BISECTIONS = 200


def _beta_fraction(a: float, b: float, x: float) -> float:
    """The continued fraction of the incomplete beta function (modified Lentz's method)."""
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    result = d
    for m in range(1, _MAX_TERMS + 1):
        for numerator in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            result *= d * c
        if abs(d * c - 1.0) < _EPSILON:
            break
    return result


def regularized_beta(a: float, b: float, x: float) -> float:
    """``I_x(a, b)``, the regularized incomplete beta function, for ``0 ≤ x ≤ 1``."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = (
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    front = math.exp(log_front)
    # The fraction converges fast only on this side of the mean; use the symmetry otherwise.
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _beta_fraction(a, b, x) / a
    return 1.0 - front * _beta_fraction(b, a, 1.0 - x) / b


def student_t_cdf(t: float, df: int) -> float:
    """``P(T ≤ t)`` for Student's t with ``df`` degrees of freedom."""
    tail = 0.5 * regularized_beta(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t >= 0 else tail


def student_t_quantile(p: float, df: int) -> float:
    """The ``t`` with ``P(T ≤ t) = p``; e.g. ``student_t_quantile(0.975, 2)`` ≈ 4.303."""
    if not 0.0 < p < 1.0:
        raise FactorNASError(f"a quantile needs a probability strictly between 0 and 1, got {p}")
    if df < 1:
        raise FactorNASError(f"Student's t needs at least 1 degree of freedom, got {df}")
    if p < 0.5:
        return -student_t_quantile(1.0 - p, df)
    low, high = 0.0, 1.0
    while student_t_cdf(high, df) < p:
        low, high = high, 2.0 * high
    for _ in range(_BISECTIONS):
        middle = 0.5 * (low + high)
        if middle in (low, high):
            break
        if student_t_cdf(middle, df) < p:
            low = middle
        else:
            high = middle
    return 0.5 * (low + high)


@dataclass(frozen=True)
class PairedInterval:
    """The mean of per-seed differences and its two-sided t-interval (``half_width`` None
    below two differences: one seed says nothing about the spread)."""

    n: int
    mean: float
    sd: float | None
    half_width: float | None
    level: float

    @property
    def excludes_zero(self) -> bool:
        """Whether the interval lies wholly on one side of 0: a difference beyond seed noise."""
        return self.half_width is not None and abs(self.mean) > self.half_width

    def to_json(self) -> dict[str, float | int | None]:
        low = None if self.half_width is None else self.mean - self.half_width
        high = None if self.half_width is None else self.mean + self.half_width
        return {
            "n": self.n,
            "mean": self.mean,
            "sd": self.sd,
            "half_width": self.half_width,
            "low": low,
            "high": high,
            "level": self.level,
        }


def paired_interval(differences: Sequence[float], level: float = 0.95) -> PairedInterval:
    """Mean, sample standard deviation (n − 1) and t-interval half-width of ``differences``."""
    if not differences:
        raise FactorNASError("an interval needs at least one difference (one shared seed)")
    if not 0.0 < level < 1.0:
        raise FactorNASError(f"a confidence level lies strictly between 0 and 1, got {level}")
    n = len(differences)
    mean = statistics.fmean(differences)
    if n < 2:
        return PairedInterval(n, mean, None, None, level)
    sd = statistics.stdev(differences)
    half_width = student_t_quantile(1.0 - (1.0 - level) / 2.0, n - 1) * sd / math.sqrt(n)
    return PairedInterval(n, mean, sd, half_width, level)
