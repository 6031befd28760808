"""The stratified comparison, checked against values worked out by hand."""

import math

from fairdesk.insights.comparison import (
    FASTER,
    SLOWER,
    Comparison,
    GeometricMean,
    Moments,
    compare,
    geometric_mean,
)


def moments(*logs: float) -> Moments:
    return Moments(len(logs), sum(logs), sum(y * y for y in logs))


def test_moments_add_and_subtract_exactly() -> None:
    a, b = moments(1, 2), moments(3)
    assert a + b == moments(1, 2, 3)
    assert (a + b) - b == a
    assert (a + b).mean == 2.0
    assert (a + b).variance == 1.0


def test_variance_of_equal_values_is_never_negative() -> None:
    same = moments(*[math.log(600)] * 7)
    assert same.variance == 0.0


def test_geometric_mean_of_60_and_240_seconds_is_two_minutes() -> None:
    # ln-mean of 60 s and 240 s is ln 120; sd of the logs is ln 4 / sqrt 2, so the
    # half-width is 1.96 * ln 2 and the interval is 2 min / 3.89 .. 2 min * 3.89.
    mean = geometric_mean(moments(math.log(60), math.log(240)))
    assert mean == GeometricMean(2.0, 0.5, 7.8)


def test_one_case_has_a_mean_but_no_interval_and_none_has_neither() -> None:
    assert geometric_mean(moments(math.log(600))) == GeometricMean(10.0, None, None)
    assert geometric_mean(Moments()) is None


def test_a_group_waiting_e_squared_times_less_is_flagged_faster() -> None:
    # Group logs 1,2,3,2,2 (mean 2, var 0.5), rest 4,3,5,4,4 (mean 4, var 0.5):
    # delta = -2, var = 0.5/5 + 0.5/5 = 0.2, interval -2 -/+ 1.96 * sqrt(0.2).
    group = {"s": moments(1, 2, 3, 2, 2)}
    everyone = {"s": moments(1, 2, 3, 2, 2, 4, 3, 5, 4, 4)}
    assert compare(group, everyone) == Comparison(0.135, 0.056, 0.325, FASTER, 5)
    rest = {"s": moments(4, 3, 5, 4, 4)}
    half = 1.959964 * math.sqrt(0.2)
    assert compare(rest, everyone) == Comparison(
        round(math.exp(2), 3), round(math.exp(2 - half), 3), round(math.exp(2 + half), 3), SLOWER, 5
    )


def test_strata_are_weighted_by_the_groups_own_cases() -> None:
    # Stratum a: group is 1 faster (3 cases); stratum b: group is 1 slower (1 case... not
    # comparable: fewer than two) -> only stratum a counts, and it has too few cases.
    group = {"a": moments(1, 1.5, 2), "b": moments(5)}
    everyone = {"a": moments(1, 1.5, 2, 2, 2.5, 3), "b": moments(5, 4, 4)}
    assert compare(group, everyone) is None
    # With b comparable: weights 3 and 2, deltas -1 and +1 -> delta = (-3 + 2) / 5.
    group = {"a": moments(1, 1.5, 2), "b": moments(5, 5)}
    everyone = {"a": moments(1, 1.5, 2, 2, 2.5, 3), "b": moments(5, 5, 4, 4)}
    result = compare(group, everyone)
    assert result is not None
    assert (result.ratio, result.flag, result.cases) == (round(math.exp(-0.2), 3), "", 5)


def test_equal_service_is_not_flagged() -> None:
    group = {"s": moments(1, 2, 3, 2, 2)}
    everyone = {"s": moments(1, 2, 3, 2, 2, 1, 2, 3, 2, 2)}
    # delta = 0, var = 0.2: the interval exp(-/+ 1.96 * sqrt(0.2)) straddles 1.
    assert compare(group, everyone) == Comparison(1.0, 0.416, 2.403, "", 5)
