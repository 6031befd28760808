"""The kudos log: praise that named an employee, from ``PRAISE_FORWARDED`` case events.

The pipeline writes one event per employee a message praised, at the message's time, with
the employee and their manager as they were then (``inbound.events.praise_forwarded``).
One kudos is one such event. A kudos is *answered* when a reply was written on its case
at or after the praise (held and failed replies do not count). The praised message is
the case's customer message written at the event's time.

An employee's team is their manager's team (the staff directory has managers, not
teams): the by-team table groups kudos by the manager recorded on the event, and praise
of someone without a manager is its own "no manager" row.

Whole UTC days that ``fairdesk insights rollup`` summed are read from ``PraiseCell``
(index ``praise_cell_idx`` (workspace_id, day)): per day, employee and manager, the kudos,
the answered ones and the names. A reply written later changes its case, which makes the
days of that case's kudos stale until the next refresh (``coverage.stale_days``), so the
answered count is exact either way. The rest of the period is read live: its events
through ``caseevent_praise_idx`` (workspace_id, at) partial on the praise type, so other
events are never read; the praised message goes through ``message_timeline_idx``
(case_id, sent_at), the reply check through ``message_reply_idx``. Both parts go into one
query, grouped by employee and by manager in SQL (so a name is picked as the live query
alone picks it).
"""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from django.db.models import Case as SqlCase
from django.db.models import Count, F, Max, OuterRef, Q, QuerySet, Subquery, Value, When
from django.db.models.fields.json import KT
from django.db.models.functions import Left, TruncDate

from fairdesk.cases.models import Case, CaseEvent, Direction, Message
from fairdesk.insights import coverage
from fairdesk.insights.models import PraiseCell, RollupDay
from fairdesk.insights.queries.expressions import replied, run_over, union_all
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


def _all_events(workspace: Workspace) -> QuerySet[CaseEvent]:
    return CaseEvent.objects.filter(
        workspace=workspace, type=CaseEvent.Type.PRAISE_FORWARDED
    ).annotate(
        answered=replied(since="at"),
        employee_key=KT("params__employee_id"),
        employee_name=KT("params__employee"),
        manager_key=KT("params__manager_id"),
        manager_name=KT("params__manager"),
    )


def _events(workspace: Workspace, start: datetime, end: datetime) -> QuerySet[CaseEvent]:
    return _all_events(workspace).filter(at__gte=start, at__lt=end)


def day_rows(workspace: Workspace, within: Q, **_: Any) -> Any:
    """The kudos ``within``, per (day, employee, manager): the cells' values."""
    return (
        _all_events(workspace)
        .filter(within)
        .annotate(day=TruncDate("at", tzinfo=UTC))
        .values("day", "employee_key", "manager_key")
        .annotate(
            e_name=Max("employee_name"),
            m_name=Max("manager_name"),
            kudos=Count("id"),
            answered_count=Count("id", filter=Q(answered=True)),
        )
        .order_by()
    )


_COLUMNS = ("employee_key", "employee_name", "manager_key", "manager_name", "kudos", "answered")

# Per employee (kind 0) and per manager (kind 1) over the cells and the live events.
_COUNTS_SQL = """
WITH kudos_rows AS ({rows})
SELECT 0, k_employee_key, MAX(k_employee_name), SUM(k_kudos), SUM(k_answered)
FROM kudos_rows GROUP BY k_employee_key
UNION ALL
SELECT 1, k_manager_key, MAX(k_manager_name), SUM(k_kudos), SUM(k_answered)
FROM kudos_rows GROUP BY k_manager_key
"""


def _live_part(workspace: Workspace, live: Q) -> QuerySet[Any]:
    return (
        _all_events(workspace)
        .filter(live)
        .annotate(
            k_employee_key=F("employee_key"),
            k_employee_name=F("employee_name"),
            k_manager_key=F("manager_key"),
            k_manager_name=F("manager_name"),
            k_kudos=Value(1),
            k_answered=SqlCase(When(answered=True, then=Value(1)), default=Value(0)),
        )
        .values(*(f"k_{c}" for c in _COLUMNS))
        .order_by()
    )


def _cells_part(workspace: Workspace, cells: Q) -> QuerySet[Any]:
    return (
        PraiseCell.objects.filter(workspace=workspace)
        .filter(cells)
        .annotate(**{f"k_{c}": F(c) for c in _COLUMNS})
        .values(*(f"k_{c}" for c in _COLUMNS))
        .order_by()
    )


def _sorted(rows: list[tuple[Any, ...]], missing: str) -> tuple[KudosCount, ...]:
    counts = [
        KudosCount(name or missing, int(kudos), int(answered)) for name, kudos, answered in rows
    ]
    return tuple(sorted(counts, key=lambda c: (-c.kudos, c.name)))


def praise(workspace: Workspace, start: datetime, end: datetime) -> PraiseReport:
    """Kudos and answered kudos per employee and per manager's team: the split, then one
    query over the rolled-up cells and the live events."""
    split = coverage.split(workspace, RollupDay.Figure.PRAISE, start, end)
    parts = []
    cells = split.cells()
    if cells is not None:
        parts.append(_cells_part(workspace, cells))
    live = split.live_rows("at")
    if live is not None:
        parts.append(_live_part(workspace, live))
    if not parts:
        return PraiseReport(by_employee=(), by_team=())
    found = run_over(union_all(parts), _COUNTS_SQL)
    return PraiseReport(
        by_employee=_sorted([r[2:] for r in found if r[0] == 0], "unknown"),
        by_team=_sorted([r[2:] for r in found if r[0] == 1], NO_MANAGER),
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
