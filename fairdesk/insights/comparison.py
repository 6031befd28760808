"""Is one group served faster than everyone else at equal severity? (pure Python, no Django)

Method, chosen so the database only has to return sums:

* Waiting times are compared on a log scale, ``y = ln(max(seconds, 1))``: service times
  are skewed, and a ratio ("waits 0.6 times as long") reads better than a difference in
  minutes. The database returns, per group and stratum, the count ``n``, ``Σy`` and
  ``Σy²`` (:class:`Moments`); sums add up, so weeks roll up into a period and "everyone
  else" is the stratum total minus the group.
* A stratum is one (severity, entitlement) cell: the only inputs the fairness policy lets
  change a deadline (DESIGN §5). Comparing within a stratum holds them equal.
* In each stratum with at least two measured cases on both sides, ``δ = mean_group -
  mean_rest`` with Welch's variance ``s²_g/n_g + s²_r/n_r``. The strata are combined with
  the group's own case counts as weights (direct standardisation: "the rest, served as
  if it had this group's severity mix"): ``Δ = Σ n_g δ / Σ n_g`` and
  ``Var Δ = Σ n_g² var / (Σ n_g)²``.
* The 95 % confidence interval is ``Δ ± 1.96 √Var Δ`` (normal approximation on log
  times), reported as the ratio ``exp(Δ)`` of geometric-mean waits with its interval.
  A group is flagged ``faster`` when the whole interval lies below 1 and ``slower`` when
  it lies above 1. Fewer than :data:`MIN_CASES` compared cases on either side gives no
  comparison rather than a noisy one. Nothing is random, so the figures are reproducible.

Rates (made whole, compensated) use the same method on ``y = 1`` when it happened to the
case and ``0`` when not, so ``Σy = Σy²`` is the count: the stratified difference of the
group's rate from everyone else's, in percentage points, with its 95 % interval. A group
is flagged ``higher`` or ``lower`` when the interval excludes 0 (:func:`compare_rates`).
"""

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import TypeVar

Z95 = NormalDist().inv_cdf(0.975)
MIN_CASES = 5
FASTER = "faster"
SLOWER = "slower"
HIGHER = "higher"
LOWER = "lower"
K = TypeVar("K")  # a stratum
# (n, Σy, Σy²) as a plain tuple or list: what the hot loops of ``queries.parity`` add up
# without allocating a ``Moments`` per addition. Same arithmetic, same results.
Sums = Sequence[float]


def _variance(n: float, total: float, squares: float) -> float:
    """Sample variance; rounding in the sums can make a zero variance slightly negative."""
    return max(0.0, (squares - total * total / n) / (n - 1))


@dataclass(frozen=True, slots=True)
class Moments:
    """Count, sum and sum of squares of log-seconds for one cell."""

    n: int = 0
    total: float = 0.0
    squares: float = 0.0

    def __add__(self, other: "Moments") -> "Moments":
        return Moments(self.n + other.n, self.total + other.total, self.squares + other.squares)

    def __sub__(self, other: "Moments") -> "Moments":
        return Moments(self.n - other.n, self.total - other.total, self.squares - other.squares)

    @property
    def mean(self) -> float:
        return self.total / self.n

    @property
    def variance(self) -> float:
        """Sample variance; rounding in the sums can make a zero variance slightly negative."""
        return _variance(self.n, self.total, self.squares)

    @property
    def sums(self) -> tuple[int, float, float]:
        return (self.n, self.total, self.squares)


@dataclass(frozen=True, slots=True)
class GeometricMean:
    """Geometric-mean wait in minutes, with a 95 % interval once there are two cases."""

    minutes: float
    low: float | None
    high: float | None


@dataclass(frozen=True, slots=True)
class Comparison:
    """The group's waits as a multiple of everyone else's, at equal severity."""

    ratio: float
    low: float
    high: float
    flag: str  # FASTER, SLOWER or ""
    cases: int  # the group's cases in the strata compared


def geometric_mean(moments: Moments) -> GeometricMean | None:
    return geometric_mean_of(moments.sums)


def geometric_mean_of(sums: Sums) -> GeometricMean | None:
    """:func:`geometric_mean` of plain (n, Σy, Σy²)."""
    n, total, squares = sums
    if n == 0:
        return None
    mean = total / n
    minutes = round(math.exp(mean) / 60, 1)
    if n < 2:
        return GeometricMean(minutes, None, None)
    half = Z95 * math.sqrt(_variance(n, total, squares) / n)
    return GeometricMean(
        minutes,
        round(math.exp(mean - half) / 60, 1),
        round(math.exp(mean + half) / 60, 1),
    )


def _standardised(
    group: Mapping[K, Sums], everyone: Mapping[K, Sums]
) -> tuple[float, float, int] | None:
    """(Δ, half-width of its 95 % interval, the group's cases compared), see above."""
    difference = variance = 0.0
    mine_total = rest_total = 0
    # The hot loop of a year of weekly parity (~50,000 strata): ``_variance`` inlined, and
    # a stratum too small to compare skipped before any arithmetic. Same operations in
    # the same order, so the same floats.
    for stratum, (n, total, squares) in group.items():
        all_n, all_total, all_squares = everyone[stratum]
        rest_n = all_n - n
        if n < 2 or rest_n < 2:
            continue
        rest_total_y, rest_squares = all_total - total, all_squares - squares
        difference += n * (total / n - rest_total_y / rest_n)
        mine_variance = (squares - total * total / n) / (n - 1)
        rest_variance = (rest_squares - rest_total_y * rest_total_y / rest_n) / (rest_n - 1)
        # max(0.0, v): rounding in the sums can make a zero variance slightly negative
        variance += n**2 * (
            (mine_variance if mine_variance > 0.0 else 0.0) / n
            + (rest_variance if rest_variance > 0.0 else 0.0) / rest_n
        )
        mine_total += int(n)
        rest_total += int(rest_n)
    if mine_total < MIN_CASES or rest_total < MIN_CASES:
        return None
    return difference / mine_total, Z95 * math.sqrt(variance) / mine_total, mine_total


def _as_sums(cells: Mapping[K, Moments]) -> dict[K, Sums]:
    return {stratum: moments.sums for stratum, moments in cells.items()}


def compare(group: Mapping[K, Moments], everyone: Mapping[K, Moments]) -> Comparison | None:
    """Compare ``group`` with ``everyone`` minus the group, stratum by stratum (see above)."""
    return compare_sums(_as_sums(group), _as_sums(everyone))


def compare_sums(group: Mapping[K, Sums], everyone: Mapping[K, Sums]) -> Comparison | None:
    """:func:`compare` of plain (n, Σy, Σy²) per stratum."""
    found = _standardised(group, everyone)
    if found is None:
        return None
    delta, half, cases = found
    low, high = delta - half, delta + half
    flag = FASTER if high < 0 else SLOWER if low > 0 else ""
    return Comparison(
        round(math.exp(delta), 3),
        round(math.exp(low), 3),
        round(math.exp(high), 3),
        flag,
        cases,
    )


@dataclass(frozen=True, slots=True)
class Rate:
    """A share of cases in percent, with a 95 % interval once there are two cases."""

    percent: float
    low: float | None
    high: float | None


@dataclass(frozen=True, slots=True)
class RateComparison:
    """The group's rate minus everyone else's at equal severity, in percentage points."""

    difference: float
    low: float
    high: float
    flag: str  # HIGHER, LOWER or ""
    cases: int


def occurrences(n: int, happened: int) -> Moments:
    """The moments of ``n`` cases of which ``happened`` had it (y = 1) and the rest not."""
    return Moments(n, float(happened), float(happened))


def rate(moments: Moments) -> Rate | None:
    """The share of the cases (``occurrences``) with a normal-approximation interval."""
    return rate_of(moments.sums)


def rate_of(sums: Sums) -> Rate | None:
    """:func:`rate` of plain (n, Σy, Σy²)."""
    n, total, squares = sums
    if n == 0:
        return None
    mean = total / n
    percent = round(100 * mean, 1)
    if n < 2:
        return Rate(percent, None, None)
    half = Z95 * math.sqrt(_variance(n, total, squares) / n)
    return Rate(
        percent,
        round(100 * max(0.0, mean - half), 1),
        round(100 * min(1.0, mean + half), 1),
    )


def compare_rates(
    group: Mapping[K, Moments], everyone: Mapping[K, Moments]
) -> RateComparison | None:
    """Compare the group's rate with everyone else's, stratum by stratum (see above)."""
    return compare_rate_sums(_as_sums(group), _as_sums(everyone))


def compare_rate_sums(group: Mapping[K, Sums], everyone: Mapping[K, Sums]) -> RateComparison | None:
    """:func:`compare_rates` of plain (n, Σy, Σy²) per stratum."""
    found = _standardised(group, everyone)
    if found is None:
        return None
    delta, half, cases = found
    low, high = delta - half, delta + half
    flag = HIGHER if low > 0 else LOWER if high < 0 else ""
    return RateComparison(
        round(100 * delta, 1), round(100 * low, 1), round(100 * high, 1), flag, cases
    )
