"""Insights API: every figure of the insights page for a period, and its CSV export.

Each handler parses the period, calls one query module with the agent's workspace and
returns its dataclasses (django-ninja schemas read attributes). Lists are paged with
``limit``/``offset`` and say where the next page starts.
"""

from collections.abc import Callable
from dataclasses import fields
from datetime import date, datetime
from typing import Any, Literal
from uuid import UUID

from django.http import HttpResponse, StreamingHttpResponse
from django.utils import timezone
from ninja import Field, Query, Router, Schema
from ninja.errors import HttpError
from pydantic import BaseModel, ConfigDict

from fairdesk.api_auth import current_agent
from fairdesk.cases.queries import case_for
from fairdesk.insights import exports
from fairdesk.insights.models import RootCause
from fairdesk.insights.periods import BadPeriod, resolve_period
from fairdesk.insights.queries import (
    crickets,
    csat,
    parity,
    praise,
    promoters,
    root_causes,
    service_levels,
)
from fairdesk.insights.services import (
    RootCauseInvalid,
    create_root_cause,
    tag_root_cause,
    update_root_cause,
)
from fairdesk.workspaces.models import Agent

router = Router()

Limit = Query(50, ge=1, le=500)
Offset = Query(0, ge=0, le=1_000_000_000)
PARITY_METHOD = (
    "Waits compared on log seconds within (severity, entitlement) strata; the rest is "
    "weighted to the group's case mix; 95% normal-approximation interval of the ratio of "
    "geometric means; flagged when the interval excludes 1 (at least 5 cases each side). "
    "Made-whole and compensation rates: the same strata and weights on 0/1 outcomes, the "
    "difference from the rest in percentage points; flagged when its interval excludes 0."
)


class Period(Schema):
    start: datetime
    end: datetime


def _period(start: datetime | None, end: datetime | None) -> Period:
    try:
        start, end = resolve_period(start, end)
    except BadPeriod as exc:
        raise HttpError(422, str(exc)) from exc
    return Period(start=start, end=end)


def _with_period(period: Period, figure: Any) -> dict[str, Any]:
    """A figure's fields next to its period (a shallow copy: nested dataclasses stay)."""
    return {"period": period, **{f.name: getattr(figure, f.name) for f in fields(figure)}}


def _next(items: list[Any], limit: int, offset: int) -> int | None:
    return offset + limit if len(items) == limit else None


# -- parity ------------------------------------------------------------------------------


class _Figure(BaseModel):
    """A nested part of a large figure, read from the query's dataclasses by pydantic's
    own ``from_attributes`` validation. ninja's ``Schema`` wraps every object in Python
    (a ``DjangoGetter`` per object, a call per attribute): 12 months of parity are some
    23,000 objects, and that took longer than computing them."""

    model_config = ConfigDict(from_attributes=True)


class GeometricMeanOut(_Figure):
    minutes: float
    low: float | None
    high: float | None


class ComparisonOut(_Figure):
    ratio: float
    low: float
    high: float
    flag: str
    cases: int


class SeverityFigureOut(_Figure):
    severity: str
    measured: int
    minutes: float | None


class GroupFigureOut(_Figure):
    group: str
    cases: int
    measured: int
    geometric_mean: GeometricMeanOut | None
    by_severity: list[SeverityFigureOut]
    versus_rest: ComparisonOut | None


class RateOut(_Figure):
    percent: float
    low: float | None
    high: float | None


class RateComparisonOut(_Figure):
    difference: float = Field(description="The group's rate minus the rest's, in points.")
    low: float
    high: float
    flag: str
    cases: int


class SeverityRateOut(_Figure):
    severity: str
    cases: int
    percent: float | None


class RateFigureOut(_Figure):
    group: str
    cases: int = Field(description="Made whole: cases with a proposal; compensation: cases.")
    count: int
    rate: RateOut | None
    by_severity: list[SeverityRateOut]
    versus_rest: RateComparisonOut | None


class WeekOut(_Figure):
    week: date
    first_response: list[GroupFigureOut]
    resolution: list[GroupFigureOut]
    made_whole: list[RateFigureOut]
    compensation: list[RateFigureOut]


class DimensionOut(_Figure):
    dimension: str
    groups: list[str]
    first_response: list[GroupFigureOut]
    resolution: list[GroupFigureOut]
    made_whole: list[RateFigureOut]
    compensation: list[RateFigureOut]
    weeks: list[WeekOut]


class ParityOut(Schema):
    period: Period
    method: str
    dimensions: list[DimensionOut]


# The parity figure as JSON, built straight from the query's dataclasses: the dicts that
# ``ParityOut`` validation and ``model_dump`` made of them, key for key and value for value
# (ints as ``int``, floats as ``float``, as pydantic's lax coercion gives), rendered by the
# API's own renderer — byte for byte the same response (a test compares the two), without
# validating some 23,000 objects a year: that took longer than computing the figures.


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _mean_json(mean: Any) -> dict[str, Any] | None:
    if mean is None:
        return None
    return {
        "minutes": float(mean.minutes),
        "low": _opt_float(mean.low),
        "high": _opt_float(mean.high),
    }


def _versus_json(found: Any, first: str) -> dict[str, Any] | None:
    if found is None:
        return None
    return {
        first: float(getattr(found, first)),
        "low": float(found.low),
        "high": float(found.high),
        "flag": str(found.flag),
        "cases": int(found.cases),
    }


def _group_json(g: parity.GroupFigure) -> dict[str, Any]:
    return {
        "group": str(g.group),
        "cases": int(g.cases),
        "measured": int(g.measured),
        "geometric_mean": _mean_json(g.geometric_mean),
        "by_severity": [
            {
                "severity": str(s.severity),
                "measured": int(s.measured),
                "minutes": _opt_float(s.minutes),
            }
            for s in g.by_severity
        ],
        "versus_rest": _versus_json(g.versus_rest, "ratio"),
    }


def _rate_json(r: parity.RateFigure) -> dict[str, Any]:
    rate = r.rate
    return {
        "group": str(r.group),
        "cases": int(r.cases),
        "count": int(r.count),
        "rate": None
        if rate is None
        else {
            "percent": float(rate.percent),
            "low": _opt_float(rate.low),
            "high": _opt_float(rate.high),
        },
        "by_severity": [
            {"severity": str(s.severity), "cases": int(s.cases), "percent": _opt_float(s.percent)}
            for s in r.by_severity
        ],
        "versus_rest": _versus_json(r.versus_rest, "difference"),
    }


def _figures_json(figures: Any) -> dict[str, Any]:
    return {
        "first_response": [_group_json(g) for g in figures.first_response],
        "resolution": [_group_json(g) for g in figures.resolution],
        "made_whole": [_rate_json(r) for r in figures.made_whole],
        "compensation": [_rate_json(r) for r in figures.compensation],
    }


def parity_json(period: Period, dimensions: tuple[parity.DimensionParity, ...]) -> dict[str, Any]:
    """What ``ParityOut`` gave for these figures (see above)."""
    return {
        "period": {"start": period.start, "end": period.end},
        "method": PARITY_METHOD,
        "dimensions": [
            {
                "dimension": str(d.dimension),
                "groups": [str(g) for g in d.groups],
                **_figures_json(d),
                "weeks": [_week_json(w) for w in d.weeks],
            }
            for d in dimensions
        ],
    }


def _week_json(week: parity.WeekFigures) -> dict[str, Any]:
    return {"week": week.week, **_figures_json(week)}


# The body, rendered in pieces: each list that ends its object (a dimension's weeks, the
# dimensions) is rendered empty, and the pieces are put in its ``[]``. The renderer's own
# ``json.dumps`` writes every piece, so the body is byte for byte what rendering the whole
# ``parity_json`` gives (a test compares the two); a past week's piece, rendered once, is
# kept with its figures (``WeekFigures.kept``): most of a year's 1.4 MB is past weeks, and
# rendering them took longer than reading the year's rows from the cells.
_EMPTY_LAST = "[]}"
_PROBE = {"a": [1, 2], "b": []}
_PROBE_JSON = '{"a": [1, 2], "b": []}'


def _spliced(render: Callable[[Any], str], head: dict[str, Any], items: list[str]) -> str:
    """``render(head)`` with its last value, an empty list, holding the rendered ``items``."""
    found = render(head)
    return f"{found[: -len(_EMPTY_LAST)]}[{', '.join(items)}]}}"


def parity_content(
    render: Callable[[Any], str],
    period: Period,
    dimensions: tuple[parity.DimensionParity, ...],
) -> str:
    """What ``render(parity_json(period, dimensions))`` gives (see above)."""
    if render(_PROBE) != _PROBE_JSON:  # a renderer with other separators: the whole dict
        return render(parity_json(period, dimensions))

    def week_piece(week: parity.WeekFigures) -> str:
        return str(render(_week_json(week)))

    pieces = [
        _spliced(
            render,
            {
                "dimension": str(d.dimension),
                "groups": [str(g) for g in d.groups],
                **_figures_json(d),
                "weeks": [],
            },
            [w.kept("api.json", week_piece) for w in d.weeks],
        )
        for d in dimensions
    ]
    head = {
        "period": {"start": period.start, "end": period.end},
        "method": PARITY_METHOD,
        "dimensions": [],
    }
    return _spliced(render, head, pieces)


@router.get("/parity", response=ParityOut, summary="Fairness parity at equal severity")
def parity_figure(
    request: Any, start: datetime | None = None, end: datetime | None = None
) -> HttpResponse:
    """First-response time, time to resolution, made-whole rate and compensation by channel,
    visibility and follower tier."""
    period = _period(start, end)
    dimensions = parity.parity(current_agent(request).workspace, period.start, period.end)
    from fairdesk.api import api  # the API this router is mounted on (it imports us)

    def render(data: Any) -> str:
        return str(api.renderer.render(request, data, response_status=200))

    return HttpResponse(
        parity_content(render, period, dimensions),
        status=200,
        content_type=api.get_content_type(),
    )


# -- crickets ----------------------------------------------------------------------------


class CricketCountOut(Schema):
    group: str
    messages: int
    due: int
    crickets: int
    rate: float | None


class CricketsOut(Schema):
    period: Period
    by_sentiment: list[CricketCountOut]
    praise: CricketCountOut
    by_channel: list[CricketCountOut]
    by_team: list[CricketCountOut]
    total: CricketCountOut


class CricketOut(Schema):
    message_id: int
    case_id: UUID
    case_reference: str
    channel: str
    handle: str
    sentiment: str
    praise: bool
    team: str
    sent_at: datetime
    due_at: datetime
    text: str


class CricketPageOut(Schema):
    period: Period
    items: list[CricketOut]
    next_offset: int | None


@router.get("/crickets", response=CricketsOut, summary="Messages unanswered past their deadline")
def crickets_figure(
    request: Any, start: datetime | None = None, end: datetime | None = None
) -> dict[str, Any]:
    period = _period(start, end)
    report = crickets.crickets(
        current_agent(request).workspace, period.start, period.end, now=timezone.now()
    )
    return _with_period(period, report)


@router.get("/crickets/messages", response=CricketPageOut, summary="The crickets, oldest first")
def cricket_messages(
    request: Any,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int = Limit,
    offset: int = Offset,
) -> dict[str, Any]:
    period = _period(start, end)
    items = crickets.cricket_page(
        current_agent(request).workspace,
        period.start,
        period.end,
        now=timezone.now(),
        limit=limit,
        offset=offset,
    )
    return {"period": period, "items": items, "next_offset": _next(items, limit, offset)}


# -- social promoter score ---------------------------------------------------------------


class PromoterScoreOut(Schema):
    period: Period
    authors: int
    promoters: int
    detractors: int
    converted: int
    sps: float | None
    conversion_hours: float | None = Field(
        description="Median hours from resolution to the converted detractor's promotion."
    )


class SpsMessageOut(Schema):
    message_id: int
    contact_id: int
    handle: str
    channel: str
    stance: str
    sent_at: datetime
    case_id: UUID | None
    case_reference: str
    text: str


class SpsMessagesOut(Schema):
    period: Period
    kind: str
    count: int  # exact unless count_capped: then "at least this many"
    count_capped: bool
    items: list[SpsMessageOut]
    next_offset: int | None


@router.get("/sps", response=PromoterScoreOut, summary="Social Promoter Score")
def sps(request: Any, start: datetime | None = None, end: datetime | None = None) -> Any:
    period = _period(start, end)
    score = promoters.social_promoter_score(
        current_agent(request).workspace, period.start, period.end
    )
    return _with_period(period, score)


@router.get("/sps/{kind}", response=SpsMessagesOut, summary="The messages behind an SPS count")
def sps_messages(
    request: Any,
    kind: Literal["authors", "promoters", "detractors", "converted"],
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int = Limit,
    offset: int = Offset,
) -> dict[str, Any]:
    period = _period(start, end)
    count, items = promoters.sps_messages(
        current_agent(request).workspace,
        period.start,
        period.end,
        kind=kind,
        limit=limit,
        offset=offset,
    )
    cap = promoters.count_cap(limit=limit, offset=offset)
    return {
        "period": period,
        "kind": kind,
        "count": min(count, cap),
        "count_capped": count > cap,
        "items": items,
        "next_offset": offset + limit if offset + limit < count else None,
    }


# -- praise ------------------------------------------------------------------------------


class KudosCountOut(Schema):
    name: str
    kudos: int
    answered: int


class PraiseOut(Schema):
    period: Period
    by_employee: list[KudosCountOut]
    by_team: list[KudosCountOut]


class KudosOut(Schema):
    at: datetime
    employee: str
    manager: str
    case_id: UUID
    case_reference: str
    channel: str
    handle: str
    text: str
    answered: bool


class KudosPageOut(Schema):
    period: Period
    items: list[KudosOut]
    next_offset: int | None


@router.get("/praise", response=PraiseOut, summary="Kudos per employee and per manager's team")
def praise_figure(
    request: Any, start: datetime | None = None, end: datetime | None = None
) -> dict[str, Any]:
    period = _period(start, end)
    report = praise.praise(current_agent(request).workspace, period.start, period.end)
    return {"period": period, "by_employee": report.by_employee, "by_team": report.by_team}


@router.get("/praise/kudos", response=KudosPageOut, summary="The kudos log, latest first")
def kudos(
    request: Any,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int = Limit,
    offset: int = Offset,
) -> dict[str, Any]:
    period = _period(start, end)
    items = praise.kudos_page(
        current_agent(request).workspace, period.start, period.end, limit=limit, offset=offset
    )
    return {"period": period, "items": items, "next_offset": _next(items, limit, offset)}


# -- service levels ----------------------------------------------------------------------


class ComplianceOut(Schema):
    met: int
    breached: int
    pending: int
    rate: float | None


class ServiceLevelOut(Schema):
    group: str
    cases: int
    first_response: ComplianceOut
    resolution: ComplianceOut


class ServiceLevelsOut(Schema):
    period: Period
    by_severity: list[ServiceLevelOut]
    by_team: list[ServiceLevelOut]
    by_channel: list[ServiceLevelOut]
    total: ServiceLevelOut


@router.get("/service-levels", response=ServiceLevelsOut, summary="SLA compliance and breaches")
def service_levels_figure(
    request: Any, start: datetime | None = None, end: datetime | None = None
) -> dict[str, Any]:
    period = _period(start, end)
    report = service_levels.service_levels(
        current_agent(request).workspace, period.start, period.end, now=timezone.now()
    )
    return _with_period(period, report)


# -- CSAT --------------------------------------------------------------------------------


class CsatGroupOut(Schema):
    group: str
    responses: int
    satisfied: int
    satisfied_rate: float | None = Field(description="Share of scores 4 or 5, in percent.")
    mean: float | None


class CsatOut(Schema):
    period: Period
    by_channel: list[CsatGroupOut]
    by_team: list[CsatGroupOut]
    total: CsatGroupOut


def _csat_group(group: csat.CsatGroup) -> dict[str, Any]:
    return {
        "group": group.group,
        "responses": group.responses,
        "satisfied": group.satisfied,
        "satisfied_rate": group.satisfied_rate,
        "mean": group.mean,
    }


@router.get("/csat", response=CsatOut, summary="CSAT after closure, by channel and team")
def csat_figure(
    request: Any, start: datetime | None = None, end: datetime | None = None
) -> dict[str, Any]:
    period = _period(start, end)
    report = csat.csat(current_agent(request).workspace, period.start, period.end)
    return {
        "period": period,
        "by_channel": [_csat_group(g) for g in report.by_channel],
        "by_team": [_csat_group(g) for g in report.by_team],
        "total": _csat_group(report.total),
    }


# -- root causes -------------------------------------------------------------------------


class WeekCountOut(Schema):
    week: date
    cases: int


class CauseOut(Schema):
    key: str
    name: str
    owner: str
    cases: int
    repeats: int
    repeat_share: float | None = Field(description="Repeats over cases, in percent.")
    in_catalogue: bool
    weeks: list[WeekCountOut]


class ClusterCaseOut(Schema):
    case_id: UUID
    case_reference: str
    topic: str
    text: str


class ClusterOut(Schema):
    terms: list[str]
    cases: int
    examples: list[ClusterCaseOut]


class RootCausesOut(Schema):
    period: Period
    repeat_days: int
    cases: int
    tagged: int
    untagged: int
    tagged_share: float | None
    drivers: list[CauseOut]
    causes: list[CauseOut]
    clusters: list[ClusterOut]
    clustered: int = Field(description="Untagged cases the clusters were drawn from.")


@router.get("/root-causes", response=RootCausesOut, summary="Contact drivers and root causes")
def root_cause_figure(
    request: Any, start: datetime | None = None, end: datetime | None = None
) -> dict[str, Any]:
    """Cases by triage topic and by tagged cause, per week, with repeat contacts, and
    clusters of similar untagged cases."""
    period = _period(start, end)
    report = root_causes.root_causes(current_agent(request).workspace, period.start, period.end)
    return {
        **_with_period(period, report),
        "repeat_days": root_causes.REPEAT_DAYS,
        "untagged": report.untagged,
        "tagged_share": report.tagged_share,
    }


class RootCauseOut(Schema):
    slug: str
    name: str
    description: str
    owner: str | None = Field(description="The owner's username.")
    active: bool


class RootCauseIn(Schema):
    name: str = Field(max_length=120)
    slug: str = Field("", max_length=100, description="Defaults to the name's.")
    description: str = Field("", max_length=2000)
    owner: str | None = Field(None, description="An agent's username.")


class RootCausePatch(Schema):
    name: str | None = Field(None, max_length=120)
    description: str | None = Field(None, max_length=2000)
    owner: str | None = Field(None, description='An agent\'s username; "" for no owner.')
    active: bool | None = None


class TagIn(Schema):
    root_cause: str = Field(max_length=100, description='A cause\'s slug; "" clears the tag.')


class TagOut(Schema):
    case_id: UUID
    root_cause: str
    changed: bool


def _cause_out(cause: RootCause) -> RootCauseOut:
    owner = cause.owner.user.username if cause.owner else None
    return RootCauseOut(
        slug=cause.slug,
        name=cause.name,
        description=cause.description,
        owner=owner,
        active=cause.active,
    )


def _supervisor(request: Any) -> Agent:
    agent = current_agent(request)
    if not agent.is_supervisor:
        raise HttpError(403, "Only supervisors change the root-cause catalogue.")
    return agent


def _cause_owner(agent: Agent, username: str) -> Agent:
    owner = Agent.objects.filter(workspace=agent.workspace, user__username=username).first()
    if owner is None:
        raise HttpError(422, f"No agent {username[:50]!r} in this workspace.")
    return owner


@router.get("/root-causes/catalogue", response=list[RootCauseOut], summary="The causes")
def cause_catalogue(request: Any) -> list[RootCauseOut]:
    return [_cause_out(c) for c in root_causes.catalogue(current_agent(request).workspace)]


@router.post("/root-causes/catalogue", response={201: RootCauseOut}, summary="Add a cause")
def add_cause(request: Any, body: RootCauseIn) -> tuple[int, RootCauseOut]:
    agent = _supervisor(request)
    owner = _cause_owner(agent, body.owner) if body.owner else None
    try:
        cause = create_root_cause(
            workspace=agent.workspace,
            name=body.name,
            slug=body.slug,
            description=body.description,
            owner=owner,
        )
    except RootCauseInvalid as error:
        raise HttpError(422, str(error)) from error
    return 201, _cause_out(cause)


@router.patch("/root-causes/catalogue/{slug}", response=RootCauseOut, summary="Change a cause")
def change_cause(request: Any, slug: str, body: RootCausePatch) -> RootCauseOut:
    """Rename, describe, hand over or retire a cause; its slug never changes."""
    agent = _supervisor(request)
    cause = RootCause.objects.filter(workspace=agent.workspace, slug=slug).first()
    if cause is None:
        raise HttpError(404, "No such root cause.")
    try:
        update_root_cause(
            cause=cause,
            name=body.name,
            description=body.description,
            owner=_cause_owner(agent, body.owner) if body.owner else None,
            clear_owner=body.owner == "",
            active=body.active,
        )
    except RootCauseInvalid as error:
        raise HttpError(422, str(error)) from error
    return _cause_out(cause)


@router.put("/cases/{case_id}/root-cause", response=TagOut, summary="Tag a case's root cause")
def tag_case(request: Any, case_id: UUID, body: TagIn) -> TagOut:
    """Another workspace's cause, or a retired one, is refused (422) and nothing changes."""
    agent = current_agent(request)
    case = case_for(workspace=agent.workspace, public_id=case_id)
    try:
        changed = tag_root_cause(case=case, agent=agent, slug=body.root_cause)
    except RootCauseInvalid as error:
        raise HttpError(422, str(error)) from error
    return TagOut(case_id=case.public_id, root_cause=case.root_cause, changed=changed)


# -- exports -----------------------------------------------------------------------------


@router.get(
    "/export/{figure}",
    response={200: None},
    summary="A figure as CSV",
    description="Figures: " + ", ".join(exports.FIGURES) + ".",
)
def export(
    request: Any, figure: str, start: datetime | None = None, end: datetime | None = None
) -> HttpResponse | StreamingHttpResponse:
    if figure not in exports.FIGURES:
        raise HttpError(404, f"No figure {figure!r}. Figures: {', '.join(exports.FIGURES)}.")
    period = _period(start, end)
    scope = exports.Scope(
        current_agent(request).workspace, period.start, period.end, timezone.now()
    )
    return exports.csv_response(figure, scope)
