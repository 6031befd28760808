"""The kudos log: praise that named an employee, from ``PRAISE_FORWARDED`` case events.

The pipeline writes one event per employee a message praised, at the message's time, with
the employee and their manager as they were then (``inbound.events.praise_forwarded``).
One kudos is one such event. A kudos is *answered* when a reply was written on its case
at or after the praise (held and failed replies do not count). The praised message is
the case's customer message written at the event's time.

An employee's team is their manager's team (the staff directory has managers, not
teams): the by-team table groups kudos by the manager recorded on the event, and praise
of someone without a manager is its own "no manager" row.

Indexes: the events of the period are read through ``caseevent_praise_idx`` (workspace_id,
at) partial on the praise type, so other events are never read; the praised message and
the reply check go through ``message_timeline_idx`` (case_id, sent_at).
"""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from django.db.models import Count, Max, OuterRef, Q, QuerySet, Subquery
from django.db.models.fields.json import KT
from django.db.models.functions import Left

from fairdesk.cases.models import Case, CaseEvent, Direction, Message
from fairdesk.insights.queries.expressions import replied
from fairdesk.workspaces.models import Workspace

NO_MANAGER = "no manager"
EXCERPT = 280


@dataclass(frozen=True, slots=True)
class KudosCount:
    name: str  # the employee, or the manager whose team it is
    kudos: int
    answered: int


@dataclass(frozen=True, slots=True)
class Kudos:
    at: datetime
    employee: str
    manager: str
    case_id: UUID
    case_reference: str
    channel: str
    handle: str
    text: str
    answered: bool


@dataclass(frozen=True, slots=True)
class PraiseReport:
    by_employee: tuple[KudosCount, ...]
    by_team: tuple[KudosCount, ...]

    @property
    def breakdowns(self) -> tuple[tuple[str, tuple[KudosCount, ...]], ...]:
        return (("By employee", self.by_employee), ("By manager's team", self.by_team))


def _events(workspace: Workspace, start: datetime, end: datetime) -> QuerySet[CaseEvent]:
    return CaseEvent.objects.filter(
        workspace=workspace,
        type=CaseEvent.Type.PRAISE_FORWARDED,
        at__gte=start,
        at__lt=end,
    ).annotate(
        answered=replied(since="at"),
        employee_key=KT("params__employee_id"),
        employee_name=KT("params__employee"),
        manager_key=KT("params__manager_id"),
        manager_name=KT("params__manager"),
    )


def _counts(events: QuerySet[CaseEvent], key: str, name: str) -> list[dict[str, Any]]:
    return list(
        events.values(key)
        .annotate(
            name=Max(name),
            kudos=Count("id"),
            answered_count=Count("id", filter=Q(answered=True)),
        )
        .order_by()
    )


def _sorted(rows: list[dict[str, Any]], missing: str) -> tuple[KudosCount, ...]:
    counts = [KudosCount(r["name"] or missing, r["kudos"], r["answered_count"]) for r in rows]
    return tuple(sorted(counts, key=lambda c: (-c.kudos, c.name)))


def praise(workspace: Workspace, start: datetime, end: datetime) -> PraiseReport:
    """Kudos and answered kudos per employee and per manager's team: two queries."""
    events = _events(workspace, start, end)
    return PraiseReport(
        by_employee=_sorted(_counts(events, "employee_key", "employee_name"), "unknown"),
        by_team=_sorted(_counts(events, "manager_key", "manager_name"), NO_MANAGER),
    )


def _log(workspace: Workspace, start: datetime, end: datetime) -> Any:
    praised = Message.objects.filter(
        case=OuterRef("case"), direction=Direction.INBOUND, sent_at=OuterRef("at")
    ).order_by("id")
    return (
        _events(workspace, start, end)
        .annotate(
            text=Subquery(praised.annotate(excerpt=Left("text", EXCERPT)).values("excerpt")[:1]),
            channel=Subquery(praised.values("channel")[:1]),
            handle=Subquery(praised.values("identity__handle")[:1]),
        )
        .values(
            "at",
            "employee_name",
            "manager_name",
            "case_id",
            "case__public_id",
            "channel",
            "handle",
            "text",
            "answered",
        )
        .order_by("-at", "-id")
    )


def _kudos(row: dict[str, Any]) -> Kudos:
    return Kudos(
        at=row["at"],
        employee=row["employee_name"] or "",
        manager=row["manager_name"] or "",
        case_id=row["case__public_id"],
        case_reference=Case(pk=row["case_id"]).reference,
        channel=row["channel"] or "",
        handle=row["handle"] or "",
        text=row["text"] or "",
        answered=bool(row["answered"]),
    )


def kudos_page(
    workspace: Workspace, start: datetime, end: datetime, *, limit: int, offset: int = 0
) -> list[Kudos]:
    """The latest kudos first: one query."""
    return [_kudos(row) for row in _log(workspace, start, end)[offset : offset + limit]]


def every_kudos(workspace: Workspace, start: datetime, end: datetime) -> Iterator[Kudos]:
    """The whole kudos log of the period, streamed in chunks (the CSV export)."""
    return (_kudos(row) for row in _log(workspace, start, end).iterator(chunk_size=2000))
