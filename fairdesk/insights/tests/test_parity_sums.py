"""Parity's figures added up as plain sums equal those of the ``Moments`` it replaced.

The reference below is the computation as it was (a ``Moments`` per addition, every
figure built at once), run on random rows shaped like ``moment_rows`` and the cells: the
new one must give the same figures, float for float, week for week. No database."""

import random
from collections import OrderedDict, defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from fairdesk.insights.comparison import (
    Moments,
    compare,
    compare_rates,
    geometric_mean,
    occurrences,
    rate,
)
from fairdesk.insights.queries import parity as parity_module
from fairdesk.insights.queries.expressions import FOLLOWER_TIERS
from fairdesk.insights.queries.parity import (
    METRICS,
    RATES,
    SEVERITIES,
    DimensionParity,
    GroupFigure,
    RateFigure,
    SeverityFigure,
    SeverityRate,
    WeekFigures,
    _groups,
    figures_of,
)

Stratum = tuple[str, str]
Cells = dict[str, dict[Stratum, Moments]]


# -- the reference: the computation as it was ---------------------------------------------


@dataclass(slots=True)
class _Tally:
    cases: dict[str, dict[Stratum, int]]
    moments: dict[str, Cells]


def _new_tally() -> _Tally:
    return _Tally(defaultdict(dict), {m: defaultdict(dict) for m in (*METRICS, *RATES)})


def _week(value: date | datetime) -> date:
    return value.astimezone(UTC).date() if isinstance(value, datetime) else value


def _add(into: dict[Any, Any], more: dict[Any, Any], zero: Any) -> None:
    for key, value in more.items():
        into[key] = into.get(key, zero) + value


def _tallies(rows: list[dict[str, Any]]) -> dict[date, _Tally]:
    weeks: dict[date, _Tally] = {}
    for row in rows:
        tally = weeks.setdefault(_week(row["period"]), _new_tally())
        stratum = (row["severity"], row["entitlement"])
        _add(tally.cases[row["bucket"]], {stratum: row["cases"]}, 0)
        found = {
            metric: Moments(
                row[f"{metric}_n"], row[f"{metric}_sum"] or 0.0, row[f"{metric}_squares"] or 0.0
            )
            for metric in METRICS
        }
        found["made_whole"] = occurrences(row["proposed"], row["made_whole"])
        found["compensation"] = occurrences(row["cases"], row["compensated"])
        for metric, moments in found.items():
            _add(tally.moments[metric][row["bucket"]], {stratum: moments}, Moments())
    return weeks


def _period_tally(weeks: dict[date, _Tally]) -> _Tally:
    total = _new_tally()
    for tally in weeks.values():
        for group, cells in tally.cases.items():
            _add(total.cases[group], cells, 0)
        for metric in (*METRICS, *RATES):
            for group, moments in tally.moments[metric].items():
                _add(total.moments[metric][group], moments, Moments())
    return total


def _everyone(cells: Cells) -> dict[Stratum, Moments]:
    everyone: dict[Stratum, Moments] = {}
    for group_cells in cells.values():
        _add(everyone, group_cells, Moments())
    return everyone


def _figures(tally: _Tally, metric: str, groups: tuple[str, ...]) -> tuple[GroupFigure, ...]:
    cells = tally.moments[metric]
    everyone = _everyone(cells)
    figures = []
    for group in groups:
        mine = cells.get(group, {})
        total = sum(mine.values(), Moments())
        by_severity = []
        for severity in SEVERITIES:
            moments = sum((m for (s, _), m in mine.items() if s == severity), Moments())
            mean = geometric_mean(moments)
            by_severity.append(SeverityFigure(severity, moments.n, mean.minutes if mean else None))
        figures.append(
            GroupFigure(
                group=group,
                cases=sum(tally.cases.get(group, {}).values()),
                measured=total.n,
                geometric_mean=geometric_mean(total),
                by_severity=tuple(by_severity),
                versus_rest=compare(mine, everyone),
            )
        )
    return tuple(figures)


def _rate_figures(tally: _Tally, metric: str, groups: tuple[str, ...]) -> tuple[RateFigure, ...]:
    cells = tally.moments[metric]
    everyone = _everyone(cells)
    figures = []
    for group in groups:
        mine = cells.get(group, {})
        total = sum(mine.values(), Moments())
        by_severity = []
        for severity in SEVERITIES:
            moments = sum((m for (s, _), m in mine.items() if s == severity), Moments())
            found = rate(moments)
            by_severity.append(SeverityRate(severity, moments.n, found.percent if found else None))
        figures.append(
            RateFigure(
                group=group,
                cases=total.n,
                count=round(total.total),
                rate=rate(total),
                by_severity=tuple(by_severity),
                versus_rest=compare_rates(mine, everyone),
            )
        )
    return tuple(figures)


def reference(dimension: str, rows: list[dict[str, Any]]) -> DimensionParity:
    weeks = _tallies(rows)
    period = _period_tally(weeks)
    groups = _groups(dimension, period)  # type: ignore[arg-type]  # only reads .cases
    return DimensionParity(
        dimension=dimension,
        groups=groups,
        first_response=_figures(period, "first_response", groups),
        resolution=_figures(period, "resolution", groups),
        made_whole=_rate_figures(period, "made_whole", groups),
        compensation=_rate_figures(period, "compensation", groups),
        weeks=tuple(
            WeekFigures(
                week,
                _figures(weeks[week], "first_response", groups),
                _figures(weeks[week], "resolution", groups),
                _rate_figures(weeks[week], "made_whole", groups),
                _rate_figures(weeks[week], "compensation", groups),
            )
            for week in sorted(weeks)
        ),
    )


# -- random rows ---------------------------------------------------------------------------

GROUPS = {
    "channel": ("x", "email", "mastodon", "phone", "bluesky"),
    "visibility": ("public", "private", "unknown"),
    "tier": FOLLOWER_TIERS,
}
MONDAY = datetime(2026, 1, 5, tzinfo=UTC)


def _moments(rng: random.Random, n: int) -> tuple[float | None, float | None]:
    if n == 0:
        return (None, None) if rng.random() < 0.5 else (0.0, 0.0)  # SUM of nothing
    logs = [rng.lognormvariate(1.5, 0.6) * rng.choice((1, 2, 5)) for _ in range(n)]
    return sum(logs), sum(y * y for y in logs)


def random_rows(dimension: str, seed: int) -> list[dict[str, Any]]:
    """Rows per (week, group, stratum) as the live query and the cells return them: some
    keys twice (a week read partly live, partly from the cells), in no particular order,
    weeks as dates (cells) or datetimes (live), tiny and large cells, identical waits."""
    rng = random.Random(seed)
    rows = []
    for _ in range(rng.choice((0, 3, 60, 400))):
        cases = rng.choice((1, 1, 2, 3, 7, 40, 300))
        first, resolved = rng.randint(0, cases), rng.randint(0, cases)
        first_sum, first_squares = _moments(rng, first)
        if rng.random() < 0.05 and first >= 2:  # every wait the same: zero variance
            first_sum, first_squares = first * 4.2, first * 4.2 * 4.2
        resolution_sum, resolution_squares = _moments(rng, resolved)
        proposed = rng.randint(0, cases)
        week = MONDAY + timedelta(weeks=rng.randint(0, 12))
        rows.append(
            {
                "period": week if rng.random() < 0.5 else week.date(),
                "bucket": rng.choice(GROUPS[dimension]),
                "severity": rng.choice((*SEVERITIES, "urgent")),  # one not shown
                "entitlement": rng.choice(("standard", "premium")),
                "cases": cases,
                "first_response_n": first,
                "first_response_sum": first_sum,
                "first_response_squares": first_squares,
                "resolution_n": resolved,
                "resolution_sum": resolution_sum,
                "resolution_squares": resolution_squares,
                "proposed": proposed,
                "made_whole": rng.randint(0, proposed),
                "compensated": rng.randint(0, cases),
            }
        )
    return rows


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("dimension", ["channel", "visibility", "tier"])
def test_the_sums_give_the_figures_the_moments_gave(dimension: str, seed: int) -> None:
    rows = random_rows(dimension, seed)
    expected = reference(dimension, rows)
    found = figures_of(dimension, rows)
    assert found == expected
    # Read in another order (the overview reads only the first response of each week).
    for new, old in zip(found.weeks, expected.weeks, strict=True):
        assert new.compensation == old.compensation
        assert new.first_response == old.first_response


def test_the_random_rows_make_real_comparisons() -> None:
    """The test above is not vacuous: flags, intervals and empty groups all occur."""
    found = [figures_of(d, random_rows(d, seed)) for seed in range(12) for d in GROUPS]
    waits = [f for p in found for w in p.weeks for f in w.first_response]
    rates = [f for p in found for w in p.weeks for f in w.made_whole]
    assert {f.versus_rest.flag for f in waits if f.versus_rest} == {"faster", "slower", ""}
    assert {f.versus_rest.flag for f in rates if f.versus_rest} == {"higher", "lower", ""}
    assert any(f.versus_rest is None for f in waits)
    assert any(p.weeks == () for p in found)  # no rows at all


def _fresh(dimension: str, rows: list[dict[str, Any]]) -> DimensionParity:
    saved = dict(parity_module._WEEKS)
    parity_module._WEEKS.clear()
    try:
        return figures_of(dimension, rows)
    finally:
        parity_module._WEEKS.clear()
        parity_module._WEEKS.update(saved)


def test_a_week_seen_with_the_same_rows_is_reused_and_a_changed_one_recomputed() -> None:
    rows = random_rows("channel", 3)
    first = figures_of("channel", rows)
    again = figures_of("channel", [dict(row) for row in rows])
    assert again == first and all(a is b for a, b in zip(again.weeks, first.weeks, strict=True))
    # One row of one week changes (a late answer): that week, and the period, are computed
    # again from the new rows; the other weeks are the ones already computed.
    changed = [dict(row) for row in rows]
    target = max(range(len(changed)), key=lambda n: changed[n]["first_response_n"])
    changed[target]["first_response_n"] -= 1
    changed[target]["first_response_sum"] -= 2.5
    changed[target]["first_response_squares"] -= 6.25
    found = figures_of("channel", changed)
    assert found == _fresh("channel", changed) != first
    moved = {w.week for w in found.weeks if all(w is not old for old in first.weeks)}
    assert moved == {parity_module._week(changed[target]["period"])}
    # A change of the groups the period lists (a new channel) makes new week figures too.
    extra = [*changed, {**changed[target], "bucket": "carrier pigeon"}]
    assert figures_of("channel", extra) == _fresh("channel", extra)


def test_the_weeks_kept_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parity_module, "_WEEKS_MAX", 5)
    monkeypatch.setattr(parity_module, "_WEEKS", OrderedDict())
    for seed in range(1, 7):
        rows = random_rows("tier", seed)
        assert figures_of("tier", rows) == _fresh("tier", rows)
        assert len(parity_module._WEEKS) <= 5
