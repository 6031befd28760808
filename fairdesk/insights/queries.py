"""Read-only figures for a workspace and a period ``[start, end)``, computed in SQL.

Each function aggregates in the database and returns small frozen dataclasses. An empty
period gives zero counts and ``None`` for every ratio, never a division error.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import (
    Avg,
    Count,
    DurationField,
    Exists,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
    Window,
)
from django.db.models import Case as SqlCase
from django.db.models.functions import RowNumber

from fairdesk.cases.models import Case, DeliveryStatus, Direction, Message, Visibility
from fairdesk.contacts.models import Contact
from fairdesk.workspaces.models import Workspace

UNKNOWN_TIER = "unknown"
TIER_UNDER_1K = "<1k"
TIER_1K = "1k–10k"  # noqa: RUF001 - the en dash is the label shown to people
TIER_10K = "10k–100k"  # noqa: RUF001
TIER_100K = "≥100k"
FOLLOWER_TIERS = (TIER_UNDER_1K, TIER_1K, TIER_10K, TIER_100K, UNKNOWN_TIER)
SENTIMENTS = ("negative", "neutral", "positive")


# -- first response parity ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FirstResponseRow:
    group: str
    cases: int
    answered: int
    median_minutes: float | None
    mean_minutes: float | None


@dataclass(frozen=True, slots=True)
class FirstResponseReport:
    by_channel: list[FirstResponseRow]
    by_tier: list[FirstResponseRow]


def _tier_expression() -> SqlCase:
    return SqlCase(
        When(followers__isnull=True, then=Value(UNKNOWN_TIER)),
        When(followers__lt=1_000, then=Value(TIER_UNDER_1K)),
        When(followers__lt=10_000, then=Value(TIER_1K)),
        When(followers__lt=100_000, then=Value(TIER_10K)),
        default=Value(TIER_100K),
    )


def _cases_in_period(workspace: Workspace, start: datetime, end: datetime) -> QuerySet[Case]:
    """Cases first raised in the period, with their first-response wait and reach tier.

    The tier is the follower count of the identity that wrote the case's first inbound
    message, as it is stored on that identity.
    """
    first_author_followers = (
        Message.objects.filter(case=OuterRef("pk"), direction=Direction.INBOUND)
        .order_by("sent_at", "id")
        .values("identity__follower_count")[:1]
    )
    return (
        Case.objects.filter(workspace=workspace, first_inbound_at__gte=start)
        .filter(first_inbound_at__lt=end)
        .annotate(
            followers=Subquery(first_author_followers),
            tier=_tier_expression(),
            wait=ExpressionWrapper(
                F("first_response_at") - F("first_inbound_at"), output_field=DurationField()
            ),
        )
    )


def _minutes(value: timedelta | None) -> float | None:
    return None if value is None else round(value.total_seconds() / 60, 1)


def _medians(cases: QuerySet[Case], group: str) -> dict[str, float]:
    """Median wait per group: SQL ranks the answered waits, Python averages the middle one or two.

    One code path for SQLite and PostgreSQL (SQLite has no ``percentile_cont``); at most two
    rows per group leave the database.
    """
    ranked = (
        cases.filter(first_response_at__isnull=False)
        .annotate(
            rank=Window(RowNumber(), partition_by=[F(group)], order_by=F("wait").asc()),
            size=Window(Count("id"), partition_by=[F(group)]),
        )
        .annotate(double_rank=F("rank") * 2)
        .filter(double_rank__gte=F("size"), double_rank__lte=F("size") + 2)
        .values_list(group, "wait")
    )
    middles: dict[str, list[timedelta]] = {}
    for key, wait in ranked:
        middles.setdefault(key, []).append(wait)
    return {
        key: sum(w.total_seconds() for w in waits) / len(waits) / 60
        for key, waits in middles.items()
    }


def _grouped(cases: QuerySet[Case], group: str) -> dict[str, FirstResponseRow]:
    medians = _medians(cases, group)
    rows = (
        cases.values(group)
        .annotate(
            n=Count("id"),
            answered=Count("id", filter=Q(first_response_at__isnull=False)),
            mean=Avg("wait"),
        )
        .order_by(group)
    )
    result = {}
    for row in rows:
        key = row[group]
        median = medians.get(key)
        result[key] = FirstResponseRow(
            group=key,
            cases=row["n"],
            answered=row["answered"],
            median_minutes=None if median is None else round(median, 1),
            mean_minutes=_minutes(row["mean"]),
        )
    return result


def first_response_parity(
    workspace: Workspace, start: datetime, end: datetime
) -> FirstResponseReport:
    """Minutes to first response by channel of origin and by follower tier.

    Fairness means these groups look alike: neither reach nor channel buys a faster answer.
    """
    cases = _cases_in_period(workspace, start, end)
    by_channel = _grouped(cases, "origin_channel")
    by_tier = _grouped(cases, "tier")
    return FirstResponseReport(
        by_channel=[by_channel[key] for key in sorted(by_channel)],
        by_tier=[
            by_tier.get(tier) or FirstResponseRow(tier, 0, 0, None, None) for tier in FOLLOWER_TIERS
        ],
    )


# -- digital crickets --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CricketsRow:
    sentiment: str
    messages: int
    unanswered: int
    rate: float | None  # percent unanswered


def crickets(workspace: Workspace, start: datetime, end: datetime) -> list[CricketsRow]:
    """Share of inbound, non-spam customer messages with no later reply on their case.

    A reply counts once it was queued or sent; one held by the tone guard or that failed
    to send did not answer anyone.
    """
    later_reply = Message.objects.filter(
        case=OuterRef("case"),
        direction=Direction.OUTBOUND,
        sent_at__gt=OuterRef("sent_at"),
    ).exclude(delivery_status__in=[DeliveryStatus.HELD, DeliveryStatus.FAILED])
    rows = (
        Message.objects.filter(
            workspace=workspace,
            direction=Direction.INBOUND,
            is_spam=False,
            case__isnull=False,
            sent_at__gte=start,
            sent_at__lt=end,
        )
        .values("sentiment")
        .annotate(
            n=Count("id"),
            unanswered=Count("id", filter=~Exists(later_reply)),
        )
        .order_by("sentiment")
    )
    counted = {(row["sentiment"] or "unknown"): row for row in rows}
    order = [*SENTIMENTS, *sorted(k for k in counted if k not in SENTIMENTS)]
    result = []
    for sentiment in order:
        row = counted.get(sentiment)
        n = row["n"] if row else 0
        unanswered = row["unanswered"] if row else 0
        rate = round(100 * unanswered / n, 1) if n else None
        result.append(CricketsRow(sentiment, n, unanswered, rate))
    return result


# -- social promoter score ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PromoterScore:
    authors: int
    promoters: int
    detractors: int
    sps: float | None


def social_promoter_score(workspace: Workspace, start: datetime, end: datetime) -> PromoterScore:
    """SPS = 100 x (promoters - detractors) / contacts who wrote in public in the period.

    A promoter said something that promotes us and nothing that detracts; anyone who
    detracted at least once is a detractor.
    """
    public = Message.objects.filter(
        workspace=workspace,
        identity__contact=OuterRef("pk"),
        direction=Direction.INBOUND,
        visibility=Visibility.PUBLIC,
        is_spam=False,
        sent_at__gte=start,
        sent_at__lt=end,
    )
    promoted = Exists(public.filter(stance="promotes"))
    detracted = Exists(public.filter(stance="detracts"))
    totals = (
        Contact.objects.filter(workspace=workspace)
        .filter(Exists(public))
        .aggregate(
            authors=Count("id"),
            promoters=Count("id", filter=Q(promoted) & ~Q(detracted)),
            detractors=Count("id", filter=Q(detracted)),
        )
    )
    authors, promoters, detractors = totals["authors"], totals["promoters"], totals["detractors"]
    sps = round(100 * (promoters - detractors) / authors, 1) if authors else None
    return PromoterScore(authors, promoters, detractors, sps)
