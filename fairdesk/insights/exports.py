"""CSV exports of every insights figure, shared by the page and the API.

Message texts, handles, team and employee names are hostile input: a spreadsheet would run
a cell starting with ``=``, ``+``, ``-`` or ``@`` (or a tab or carriage return, which some
spreadsheets strip before those) as a formula. Every text cell gets a leading apostrophe
then (OWASP "CSV injection"); numbers we computed are written as numbers, so a negative
score stays a number. Lists are streamed from the database in chunks.
"""

import csv
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from uuid import UUID

from django.http import StreamingHttpResponse
from django.urls import reverse

from fairdesk.insights.comparison import Comparison, GeometricMean, Rate, RateComparison
from fairdesk.insights.queries import (
    crickets,
    csat,
    parity,
    praise,
    promoters,
    root_causes,
    service_levels,
)
from fairdesk.insights.queries.service_levels import Compliance
from fairdesk.workspaces.models import Workspace

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
Row = Sequence[object]


@dataclass(frozen=True, slots=True)
class Scope:
    workspace: Workspace
    start: datetime
    end: datetime
    now: datetime


def neutralise(value: object) -> object:
    """A cell value safe to open in a spreadsheet (see the module docstring)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, int | float):
        return value
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _case_path(public_id: UUID | None) -> str:
    return reverse("case", args=[public_id]) if public_id else ""


# -- one table per figure ----------------------------------------------------------------


def _interval(mean: GeometricMean | None) -> list[object]:
    return [mean.minutes, mean.low, mean.high] if mean else [None, None, None]


def _versus(comparison: Comparison | None) -> list[object]:
    if comparison is None:
        return [None, None, None, ""]
    return [comparison.ratio, comparison.low, comparison.high, comparison.flag]


PARITY_HEADER = (
    "dimension", "metric", "group", "cases", "measured",
    "geomean_minutes", "geomean_low", "geomean_high",
    *(f"{s}_minutes" for s in parity.SEVERITIES),
    "ratio_vs_rest", "ratio_low", "ratio_high", "flag",
)  # fmt: skip


def _parity(scope: Scope) -> Iterator[Row]:
    for dimension in parity.parity(scope.workspace, scope.start, scope.end):
        for metric in parity.METRICS:
            for figure in getattr(dimension, metric):
                yield [
                    dimension.dimension,
                    metric,
                    figure.group,
                    figure.cases,
                    figure.measured,
                    *_interval(figure.geometric_mean),
                    *(s.minutes for s in figure.by_severity),
                    *_versus(figure.versus_rest),
                ]


OUTCOMES_HEADER = (
    "dimension", "metric", "group", "cases", "count",
    "rate_percent", "rate_low", "rate_high",
    *(f"{s}_percent" for s in parity.SEVERITIES),
    "points_vs_rest", "points_low", "points_high", "flag",
)  # fmt: skip


def _rate(found: Rate | None) -> list[object]:
    return [found.percent, found.low, found.high] if found else [None, None, None]


def _points(comparison: RateComparison | None) -> list[object]:
    if comparison is None:
        return [None, None, None, ""]
    return [comparison.difference, comparison.low, comparison.high, comparison.flag]


def _parity_outcomes(scope: Scope) -> Iterator[Row]:
    """Made-whole rate and compensation per group (metric: made_whole, compensation)."""
    for dimension in parity.parity(scope.workspace, scope.start, scope.end):
        for metric in parity.RATES:
            for figure in getattr(dimension, metric):
                yield [
                    dimension.dimension,
                    metric,
                    figure.group,
                    figure.cases,
                    figure.count,
                    *_rate(figure.rate),
                    *(s.percent for s in figure.by_severity),
                    *_points(figure.versus_rest),
                ]


TREND_HEADER = (
    "week", "dimension", "metric", "group", "cases", "measured", "geomean_minutes",
    "ratio_vs_rest", "ratio_low", "ratio_high", "flag",
)  # fmt: skip


def _parity_trend(scope: Scope) -> Iterator[Row]:
    for dimension in parity.parity(scope.workspace, scope.start, scope.end):
        for week in dimension.weeks:
            for metric in parity.METRICS:
                for figure in getattr(week, metric):
                    mean = figure.geometric_mean
                    yield [
                        week.week,
                        dimension.dimension,
                        metric,
                        figure.group,
                        figure.cases,
                        figure.measured,
                        mean.minutes if mean else None,
                        *_versus(figure.versus_rest),
                    ]


CRICKETS_HEADER = ("breakdown", "group", "messages", "due", "crickets", "rate_percent")


def _crickets(scope: Scope) -> Iterator[Row]:
    report = crickets.crickets(scope.workspace, scope.start, scope.end, now=scope.now)
    breakdowns = (
        ("sentiment", report.by_sentiment),
        ("praise", (report.praise,)),
        ("channel", report.by_channel),
        ("team", report.by_team),
        ("total", (report.total,)),
    )
    for name, counts in breakdowns:
        for c in counts:
            yield [name, c.group, c.messages, c.due, c.crickets, c.rate]


CRICKET_LIST_HEADER = (
    "message_id", "case", "case_path", "channel", "handle", "sentiment", "praise", "team",
    "sent_at", "due_at", "text",
)  # fmt: skip


def _cricket_list(scope: Scope) -> Iterator[Row]:
    for c in crickets.every_cricket(scope.workspace, scope.start, scope.end, now=scope.now):
        yield [
            c.message_id,
            c.case_reference,
            _case_path(c.case_id),
            c.channel,
            c.handle,
            c.sentiment,
            c.praise,
            c.team,
            c.sent_at,
            c.due_at,
            c.text,
        ]


SPS_HEADER = ("authors", "promoters", "detractors", "converted", "sps", "conversion_hours")


def _sps(scope: Scope) -> Iterator[Row]:
    s = promoters.social_promoter_score(scope.workspace, scope.start, scope.end)
    yield [s.authors, s.promoters, s.detractors, s.converted, s.sps, s.conversion_hours]


SPS_MESSAGES_HEADER = (
    "message_id", "contact_id", "handle", "channel", "stance", "sent_at", "case", "case_path",
    "text",
)  # fmt: skip


def _sps_messages(kind: str) -> Callable[[Scope], Iterator[Row]]:
    def rows(scope: Scope) -> Iterator[Row]:
        for m in promoters.every_sps_message(scope.workspace, scope.start, scope.end, kind=kind):
            yield [
                m.message_id,
                m.contact_id,
                m.handle,
                m.channel,
                m.stance,
                m.sent_at,
                m.case_reference,
                _case_path(m.case_id),
                m.text,
            ]

    return rows


PRAISE_HEADER = ("breakdown", "name", "kudos", "answered")


def _praise(scope: Scope) -> Iterator[Row]:
    report = praise.praise(scope.workspace, scope.start, scope.end)
    for name, counts in (("employee", report.by_employee), ("team", report.by_team)):
        for c in counts:
            yield [name, c.name, c.kudos, c.answered]


KUDOS_HEADER = (
    "at", "employee", "manager", "case", "case_path", "channel", "handle", "text", "answered",
)  # fmt: skip


def _kudos(scope: Scope) -> Iterator[Row]:
    for k in praise.every_kudos(scope.workspace, scope.start, scope.end):
        yield [
            k.at,
            k.employee,
            k.manager,
            k.case_reference,
            _case_path(k.case_id),
            k.channel,
            k.handle,
            k.text,
            k.answered,
        ]


SERVICE_LEVELS_HEADER = (
    "breakdown", "group", "cases",
    "first_response_met", "first_response_breached", "first_response_pending",
    "first_response_rate_percent",
    "resolution_met", "resolution_breached", "resolution_pending", "resolution_rate_percent",
)  # fmt: skip


def _compliance(c: Compliance) -> list[object]:
    return [c.met, c.breached, c.pending, c.rate]


def _service_levels(scope: Scope) -> Iterator[Row]:
    report = service_levels.service_levels(scope.workspace, scope.start, scope.end, now=scope.now)
    breakdowns = (
        ("severity", report.by_severity),
        ("team", report.by_team),
        ("channel", report.by_channel),
        ("total", (report.total,)),
    )
    for name, levels in breakdowns:
        for level in levels:
            yield [
                name,
                level.group,
                level.cases,
                *_compliance(level.first_response),
                *_compliance(level.resolution),
            ]


CSAT_HEADER = ("breakdown", "group", "responses", "satisfied", "satisfied_percent", "mean_score")


def _csat(scope: Scope) -> Iterator[Row]:
    report = csat.csat(scope.workspace, scope.start, scope.end)
    breakdowns = (
        ("channel", report.by_channel),
        ("team", report.by_team),
        ("total", [report.total]),
    )
    for name, groups in breakdowns:
        for group in groups:
            yield [
                name,
                group.group,
                group.responses,
                group.satisfied,
                group.satisfied_rate,
                group.mean,
            ]


CAUSES_HEADER = ("key", "name", "owner", "week", "cases", "repeats", "repeat_share_percent")


def _cause_rows(figures: Iterable[root_causes.CauseFigure]) -> Iterator[Row]:
    """Per cause: one row for the period (week empty), then one per week."""
    for f in figures:
        yield [f.key, f.name, f.owner, None, f.cases, f.repeats, f.repeat_share]
        for week in f.weeks:
            yield [f.key, f.name, f.owner, week.week, week.cases, None, None]


def _drivers(scope: Scope) -> Iterator[Row]:
    return _cause_rows(root_causes.driver_counts(scope.workspace, scope.start, scope.end))


def _root_causes(scope: Scope) -> Iterator[Row]:
    return _cause_rows(root_causes.cause_counts(scope.workspace, scope.start, scope.end))


EXPORTS: dict[str, tuple[Sequence[str], Callable[[Scope], Iterator[Row]]]] = {
    "parity": (PARITY_HEADER, _parity),
    "parity-outcomes": (OUTCOMES_HEADER, _parity_outcomes),
    "parity-trend": (TREND_HEADER, _parity_trend),
    "crickets": (CRICKETS_HEADER, _crickets),
    "crickets-list": (CRICKET_LIST_HEADER, _cricket_list),
    "sps": (SPS_HEADER, _sps),
    **{f"sps-{kind}": (SPS_MESSAGES_HEADER, _sps_messages(kind)) for kind in promoters.KINDS},
    "praise": (PRAISE_HEADER, _praise),
    "kudos": (KUDOS_HEADER, _kudos),
    "service-levels": (SERVICE_LEVELS_HEADER, _service_levels),
    "csat": (CSAT_HEADER, _csat),
    "contact-drivers": (CAUSES_HEADER, _drivers),
    "root-causes": (CAUSES_HEADER, _root_causes),
}
FIGURES = tuple(EXPORTS)


class _Echo:
    """A file-like object whose ``write`` hands the line back (Django's streaming CSV recipe)."""

    def write(self, value: str) -> str:
        return value


def csv_lines(header: Sequence[str], rows: Iterable[Row]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(header)
    for row in rows:
        yield writer.writerow([neutralise(value) for value in row])


def csv_response(figure: str, scope: Scope) -> StreamingHttpResponse:
    """The CSV of ``figure`` (one of :data:`FIGURES`) as a download."""
    header, rows = EXPORTS[figure]
    name = f"fairdesk-{figure}-{scope.start:%Y%m%d}-{scope.end:%Y%m%d}.csv"
    response = StreamingHttpResponse(
        csv_lines(header, rows(scope)), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
