"""Digital crickets: customer messages nobody answered by their deadline.

A message's deadline is its own time plus the SLA target of its case's severity and
entitlement: the first-response target for the message that opened the case, the
next-response target for any later one. It is a cricket once the deadline has passed
(at ``now``) and no reply has been written on its case since the message, to date — an
answer that came late is no longer a cricket (it shows in the service levels). Spam and
messages outside any case are left out. Praise has a deadline like anything else
(DESIGN principle 3); the praise row counts messages triage marked as praise, whatever
their sentiment.

The rate is crickets over messages already due, so messages still inside their deadline
neither help nor hurt. Whole UTC days that ``fairdesk insights rollup`` summed against the
same SLA table are read from ``CricketCell`` (index ``cricket_cell_idx`` (workspace_id,
day)). A day is summed once it has ended; its messages still inside their deadline then
are kept one row per (sent_at, target) and counted due by the reader once their deadline
has passed, so only today (and days changed since the refresh) is queried live, not the
days the longest deadline spans (two, with the default table). The live part is one
query grouped by (sentiment, praise, channel, team), and Python folds the few rows into
the four breakdowns. The list of crickets is always a live, paged query. Live indexes: the
messages of the period through ``message_period_idx`` (workspace_id, sent_at); the reply
check through ``message_reply_idx`` (case_id, sent_at), partial on the delivered replies.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from django.db.models import BooleanField, Count, ExpressionWrapper, F, Q, Sum, Value, When
from django.db.models import Case as SqlCase
from django.db.models.functions import Left, TruncDate

from fairdesk.cases.models import Case, Direction, Message
from fairdesk.insights import coverage
from fairdesk.insights.models import CricketCell, RollupDay
from fairdesk.insights.queries.expressions import Seconds, TargetsTable, replied, target_seconds
from fairdesk.routing.queries import targets_table
from fairdesk.workspaces.models import Workspace

SENTIMENTS = ("negative", "neutral", "positive")
UNKNOWN = "unknown"
NO_TEAM = "no team"
PRAISE = "praise"
EXCERPT = 280


@dataclass(frozen=True, slots=True)
class CricketCount:
    group: str
    messages: int
    due: int  # deadline passed at ``now``
    crickets: int  # due and never answered
    rate: float | None  # percent of due messages that are crickets


@dataclass(frozen=True, slots=True)
class CricketsReport:
    by_sentiment: tuple[CricketCount, ...]
    praise: CricketCount
    by_channel: tuple[CricketCount, ...]
    by_team: tuple[CricketCount, ...]
    total: CricketCount

    @property
    def breakdowns(self) -> tuple[tuple[str, tuple[CricketCount, ...]], ...]:
        """Titled tables for the page; praise sits with the sentiments it cuts across."""
        return (
            ("By sentiment", (*self.by_sentiment, self.praise)),
            ("By channel", self.by_channel),
            ("By team", self.by_team),
        )


@dataclass(frozen=True, slots=True)
class Cricket:
    """One unanswered message, with what an agent needs to act on it."""

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
    text: str  # the first EXCERPT characters


def _deadline(targets: TargetsTable) -> SqlCase:
    opened_the_case = Q(sent_at=F("case__first_inbound_at"))
    return SqlCase(
        When(opened_the_case, then=target_seconds(targets, "first_response", prefix="case__")),
        default=target_seconds(targets, "next_response", prefix="case__"),
    )


def _inbound(workspace: Workspace, within: Q, now: datetime, targets: TargetsTable) -> Any:
    """Inbound messages sent ``within`` with their deadline, wait so far and reply check."""
    return (
        Message.objects.filter(
            workspace=workspace, direction=Direction.INBOUND, is_spam=False, case__isnull=False
        )
        .filter(within)
        .annotate(
            target=_deadline(targets),
            waited=Seconds(Value(now), F("sent_at")),
            answered=replied(),
            is_praise=ExpressionWrapper(Q(triage__praise=True), output_field=BooleanField()),
        )
    )


def _period(start: datetime, end: datetime) -> Q:
    return Q(sent_at__gte=start, sent_at__lt=end)


def _count(group: str, rows: list[dict[str, Any]]) -> CricketCount:
    messages = sum(r["messages"] for r in rows)
    due = sum(r["due"] for r in rows)
    crickets = sum(r["crickets"] for r in rows)
    return CricketCount(
        group, messages, due, crickets, round(100 * crickets / due, 1) if due else None
    )


def _breakdown(
    rows: list[dict[str, Any]], key: str, first: tuple[str, ...] = ()
) -> tuple[CricketCount, ...]:
    groups: dict[str, list[dict[str, Any]]] = {name: [] for name in first}
    for row in rows:
        groups.setdefault(row[key], []).append(row)
    rest = sorted(name for name in groups if name not in first)
    return tuple(_count(name, groups[name]) for name in (*first, *rest))


def _counts() -> dict[str, Count]:
    due = Q(waited__gt=F("target"))
    return {
        "messages": Count("id"),
        "due": Count("id", filter=due),
        "crickets": Count("id", filter=due & Q(answered=False)),
    }


KEYS = ("sentiment", "is_praise", "channel")
SUMS = ("messages", "due", "crickets")
PENDING = ("sent_at", "target", "unanswered")  # the cell fields of messages not yet due


def day_rows(
    workspace: Workspace, within: Q, *, now: datetime, targets: TargetsTable, settle: timedelta
) -> list[dict[str, Any]]:
    """The cells of the messages sent ``within`` (see ``CricketCell``): the counts per
    (day, sentiment, praise, channel, team) of those already past their deadline at
    ``now`` (or with none in the table: they never fall due), then those still inside it,
    per (sent_at, target) too. ``settle``: the longest deadline; nothing sent before
    ``now - settle`` is still inside its deadline."""
    inbound = _inbound(workspace, within, now, targets).annotate(
        day=TruncDate("sent_at", tzinfo=UTC)
    )
    settled = (
        inbound.filter(Q(target__isnull=True) | Q(waited__gt=F("target")))
        .values("day", *KEYS, "case__team_id")
        .annotate(**_counts())
        .order_by()
    )
    pending = (
        inbound.filter(sent_at__gte=now - settle, waited__lte=F("target"))
        .values("day", *KEYS, "case__team_id", "sent_at", "target")
        .annotate(messages=Count("id"), unanswered=Count("id", filter=Q(answered=False)))
        .order_by()
    )
    return [
        *({**row, "sent_at": None, "target": None, "unanswered": 0} for row in settled),
        *({**row, "due": 0, "crickets": 0} for row in pending),
    ]


def _rows(
    workspace: Workspace, split: coverage.Split, now: datetime, targets: TargetsTable
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    live = split.live_rows("sent_at")
    if live is not None:
        rows += (
            _inbound(workspace, live, now, targets)
            .values(*KEYS, "case__team_id", team_name=F("case__team__name"))
            .annotate(**_counts())
            .order_by()
        )
    cells = split.cells()
    if cells is not None:
        due_now = Q(sent_at__isnull=False, waited__gt=F("target"))
        for row in (
            CricketCell.objects.filter(workspace=workspace)
            .filter(cells)
            .annotate(waited=Seconds(Value(now), F("sent_at")))
            .values(*KEYS, "team_id", team_name=F("team__name"))
            .annotate(  # before the sums take the names of the fields they sum
                fell_due=Sum("messages", filter=due_now),
                unanswered_due=Sum("unanswered", filter=due_now),
            )
            .annotate(**{name: Sum(name) for name in SUMS})
            .order_by()
        ):
            row["due"] += row.pop("fell_due") or 0
            row["crickets"] += row.pop("unanswered_due") or 0
            rows.append(row)
    return [
        {**row, "sentiment": row["sentiment"] or UNKNOWN, "team": row["team_name"] or NO_TEAM}
        for row in rows
    ]


def crickets(
    workspace: Workspace,
    start: datetime,
    end: datetime,
    *,
    now: datetime,
    targets: TargetsTable | None = None,
) -> CricketsReport:
    """Messages, due messages and crickets by sentiment, praise, channel and team: the
    split, then one query of the live days and one of the rolled-up cells."""
    targets = targets or targets_table(workspace)
    split = coverage.split(workspace, RollupDay.Figure.CRICKETS, start, end, targets=targets)
    rows = _rows(workspace, split, now, targets)
    return CricketsReport(
        by_sentiment=_breakdown(rows, "sentiment", SENTIMENTS),
        praise=_count(PRAISE, [r for r in rows if r["is_praise"]]),
        by_channel=_breakdown(rows, "channel"),
        by_team=_breakdown(rows, "team"),
        total=_count("all", rows),
    )


def _crickets(
    workspace: Workspace, start: datetime, end: datetime, now: datetime, targets: TargetsTable
) -> Any:
    """The crickets themselves, longest waiting first."""
    return (
        _inbound(workspace, _period(start, end), now, targets)
        .filter(waited__gt=F("target"), answered=False)
        .annotate(excerpt=Left("text", EXCERPT))
        .values(
            "id",
            "case__public_id",
            "case_id",
            "channel",
            "identity__handle",
            "sentiment",
            "is_praise",
            "case__team__name",
            "sent_at",
            "target",
            "excerpt",
        )
        .order_by("sent_at", "id")
    )


def _cricket(row: dict[str, Any]) -> Cricket:
    return Cricket(
        message_id=row["id"],
        case_id=row["case__public_id"],
        case_reference=Case(pk=row["case_id"]).reference,
        channel=row["channel"],
        handle=row["identity__handle"] or "",
        sentiment=row["sentiment"] or UNKNOWN,
        praise=bool(row["is_praise"]),
        team=row["case__team__name"] or NO_TEAM,
        sent_at=row["sent_at"],
        due_at=row["sent_at"] + timedelta(seconds=row["target"]),
        text=row["excerpt"],
    )


def cricket_page(
    workspace: Workspace,
    start: datetime,
    end: datetime,
    *,
    now: datetime,
    limit: int,
    offset: int = 0,
    targets: TargetsTable | None = None,
) -> list[Cricket]:
    """One page of the crickets: one query."""
    rows = _crickets(workspace, start, end, now, targets or targets_table(workspace))
    return [_cricket(row) for row in rows[offset : offset + limit]]


def every_cricket(
    workspace: Workspace, start: datetime, end: datetime, *, now: datetime
) -> Iterator[Cricket]:
    """All crickets of the period, streamed in chunks (the CSV export)."""
    rows = _crickets(workspace, start, end, now, targets_table(workspace))
    return (_cricket(row) for row in rows.iterator(chunk_size=2000))
