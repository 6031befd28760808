"""Insights API: fairness parity, digital crickets and Social Promoter Score for a period."""

from datetime import datetime
from typing import Any

from ninja import Router, Schema
from ninja.errors import HttpError

from fairdesk.api_auth import current_agent
from fairdesk.insights import queries
from fairdesk.insights.periods import BadPeriod, resolve_period

router = Router()


class Period(Schema):
    start: datetime
    end: datetime


class FirstResponseGroup(Schema):
    group: str
    cases: int
    answered: int
    median_minutes: float | None
    mean_minutes: float | None


class FirstResponseOut(Schema):
    period: Period
    by_channel: list[FirstResponseGroup]
    by_tier: list[FirstResponseGroup]


class CricketsGroup(Schema):
    sentiment: str
    messages: int
    unanswered: int
    rate: float | None


class CricketsOut(Schema):
    period: Period
    by_sentiment: list[CricketsGroup]


class PromoterScoreOut(Schema):
    period: Period
    authors: int
    promoters: int
    detractors: int
    sps: float | None


def _period(start: datetime | None, end: datetime | None) -> Period:
    try:
        start, end = resolve_period(start, end)
    except BadPeriod as exc:
        raise HttpError(422, str(exc)) from exc
    return Period(start=start, end=end)


@router.get("/first-response", response=FirstResponseOut, summary="First-response parity")
def first_response(
    request: Any, start: datetime | None = None, end: datetime | None = None
) -> FirstResponseOut:
    """Minutes from first message to first answer, by channel and by follower tier."""
    period = _period(start, end)
    report = queries.first_response_parity(
        current_agent(request).workspace, period.start, period.end
    )
    return FirstResponseOut(
        period=period,
        by_channel=[
            FirstResponseGroup.model_validate(r, from_attributes=True) for r in report.by_channel
        ],
        by_tier=[
            FirstResponseGroup.model_validate(r, from_attributes=True) for r in report.by_tier
        ],
    )


@router.get("/crickets", response=CricketsOut, summary="Unanswered messages by sentiment")
def crickets(
    request: Any, start: datetime | None = None, end: datetime | None = None
) -> CricketsOut:
    period = _period(start, end)
    rows = queries.crickets(current_agent(request).workspace, period.start, period.end)
    return CricketsOut(
        period=period,
        by_sentiment=[CricketsGroup.model_validate(r, from_attributes=True) for r in rows],
    )


@router.get("/sps", response=PromoterScoreOut, summary="Social Promoter Score")
def sps(
    request: Any, start: datetime | None = None, end: datetime | None = None
) -> PromoterScoreOut:
    period = _period(start, end)
    score = queries.social_promoter_score(
        current_agent(request).workspace, period.start, period.end
    )
    return PromoterScoreOut(
        period=period,
        authors=score.authors,
        promoters=score.promoters,
        detractors=score.detractors,
        sps=score.sps,
    )
