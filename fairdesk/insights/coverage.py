"""Which days of a period a figure reads from its rollup cells, and which it queries live.

A day (UTC) is read from the cells when ``RollupDay`` lists it for the figure (with the
SLA table the figure was measured against, where it uses one) and nothing on it changed
since the last refresh. Everything else — the partial days at either end of the period,
days not rolled up yet (today, days still inside a deadline), and days that changed — is
queried live from the raw rows, so a figure is exact whether or not the refresh ran.

What changed since the refresh (``RollupState``) is read from two places, each bounded by
the changes made since then, not by the size of the data:

* the case events written after ``event_cursor`` (index ``caseevent_live_idx``
  (workspace_id, id)): every state change of a case is an event (DESIGN principle 10),
  including merges, contact merges, resolutions and work orders;
* the cases whose ``updated_at`` is at or after ``changed_since``, which also covers
  writes that raced the refresh (``changed_since`` lags the refresh by a few minutes).
  The index ``case_changed_idx`` (workspace_id, updated_at) keeps this a range scan.

The two are read as the two halves of one ``UNION``, each through its own index (a single
``updated_at >= … OR id IN (events)`` is planned as a sequential scan of every case of
the workspace). The rows each figure looks at for stale days are then found by those ids
(``case_id IN (…)``, ``CHUNK`` ids a query) through the foreign-key indexes; CSAT adds the
answers given since the refresh as a second query (``csat_period_idx``) rather than an
``OR`` (which PostgreSQL turns into a correlated subquery per answer).

Within :func:`one_read` (a page showing several figures), the rollup state, the changed
case ids and each figure's stale days are read once per workspace, not once per figure.

A changed case makes stale: the day it was first raised (parity, service levels, root
causes) and the ``REPEAT_DAYS`` after it (a later case of the same contact may have become
a repeat, or stopped being one); the days of its customer messages (crickets, and the
Social Promoter Score: a new message, a message moved by a merge or split, a stance, a
resolution or reopening all show as a change of the message's case; read once for both);
the days of its CSAT answer (CSAT), as does any answer given since the refresh; the
days of its kudos (praise: a reply written, failed or withdrawn since changes which of
them are answered, and is itself a change of the case). The
promoter rollup counts people (contacts): a contact merge or its undo moves identities
from one contact to the other, so the days of every customer message of both contacts
go stale too (their ``ContactEvent`` rows since ``changed_since``, by the
``workspace_id`` foreign-key index, then the messages by the identities' ``contact_id``
and the messages' ``identity_id`` indexes). Customer messages on no case are spam
(``inbound.threading``), which the score leaves out. The monthly sets of people
(``PromoterPeople`` with ``month``) need nothing of their own here: a month is read from
them only when every one of its days is in the rolled-up, unchanged runs :func:`split`
returns.
"""

import hashlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, TypeVar

from django.db import connection, transaction
from django.db.models import Q, QuerySet
from django.db.models.functions import TruncDate

from fairdesk.cases.models import Case, CaseEvent, Direction, Message
from fairdesk.contacts.models import ContactEvent
from fairdesk.insights.models import RollupDay, RollupState
from fairdesk.insights.queries.expressions import TargetsTable
from fairdesk.portal.models import CsatResponse
from fairdesk.workspaces.models import Workspace

DAY = timedelta(days=1)
CHUNK = 500  # changed case ids per ``IN (…)`` query
REPEAT_DAYS = 30  # the root-cause repeat window (``queries.root_causes.REPEAT_DAYS``)
Figure = RollupDay.Figure
CASE_FIGURES = (Figure.PARITY, Figure.SERVICE_LEVELS, Figure.ROOT_CAUSES)
MESSAGE_FIGURES = (Figure.CRICKETS, Figure.PROMOTERS)  # summed by the day of each message
# The deadlines each figure measures: its days are final once every one of them passed.
DEADLINES: dict[str, tuple[str, ...]] = {
    Figure.SERVICE_LEVELS: ("first_response", "resolution"),
    Figure.CRICKETS: ("first_response", "next_response"),
}


def day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def day_of(at: datetime) -> date:
    return at.astimezone(UTC).date()


def settle_time(figure: str, targets: TargetsTable) -> timedelta:
    """How long after a day ends its figure can still change by the clock alone."""
    kinds = DEADLINES.get(figure, ())
    return max((getattr(t, k) for t in targets.values() for k in kinds), default=timedelta(0))


def targets_key(figure: str, targets: TargetsTable) -> str:
    """A fingerprint of the SLA targets the figure depends on ("" when it uses none)."""
    kinds = DEADLINES.get(figure)
    if not kinds:
        return ""
    cells = sorted(
        (severity, entitlement, *(int(getattr(t, k).total_seconds()) for k in kinds))
        for (severity, entitlement), t in targets.items()
    )
    return hashlib.sha256(repr(cells).encode()).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class Split:
    """A period cut into day runs read from cells and ranges ``[a, b)`` read live."""

    days: tuple[tuple[date, date], ...]  # inclusive runs of days
    live: tuple[tuple[datetime, datetime], ...]

    def cells(self) -> Q | None:
        """The cells of the rolled-up days, or None when there are none."""
        return _any(Q(day__gte=first, day__lte=last) for first, last in self.days)

    def live_rows(self, field: str) -> Q | None:
        """Rows whose ``field`` lies in a live range, or None when nothing is live."""
        return _any(Q(**{f"{field}__gte": a, f"{field}__lt": b}) for a, b in self.live)


def _any(parts: Iterable[Q]) -> Q | None:
    found: Q | None = None
    for part in parts:
        found = part if found is None else found | part
    return found


def runs(days: Iterable[date]) -> list[tuple[date, date]]:
    runs: list[tuple[date, date]] = []
    for day in sorted(days):
        if runs and runs[-1][1] + DAY == day:
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    return runs


def whole_days(start: datetime, end: datetime) -> tuple[date, date] | None:
    """The first and last UTC days lying wholly inside ``[start, end)``, if any."""
    first = day_of(start)
    if day_start(first) < start:
        first += DAY
    last = day_of(end) - DAY
    return (first, last) if first <= last else None


T = TypeVar("T")
_reading: ContextVar[dict[tuple[Any, ...], Any] | None] = ContextVar(
    "insights_reading", default=None
)


@contextmanager
def one_read() -> Iterator[None]:
    """Read the rollup state and the stale days once for everything done inside."""
    token = _reading.set({})
    try:
        yield
    finally:
        _reading.reset(token)


@contextmanager
def without_jit() -> Iterator[None]:
    """On PostgreSQL, run what is inside in a transaction with JIT compilation off
    (``SET LOCAL``; one statement). The live figure queries carry correlated subqueries
    whose estimated cost at 1M cases passes ``jit_above_cost``: compiling them took
    2.4 to 2.9 s where running them takes 130 to 170 ms (``EXPLAIN ANALYZE`` on ``fd_1m``)."""
    if connection.vendor != "postgresql":
        yield
        return
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        cursor.execute("SET LOCAL jit = off")
        yield


def _memo(key: tuple[Any, ...], compute: Callable[[], T]) -> T:
    memo = _reading.get()
    if memo is None:
        return compute()
    if key not in memo:
        memo[key] = compute()
    found: T = memo[key]
    return found


def _state_key(workspace: Workspace, state: RollupState) -> tuple[Any, ...]:
    return (workspace.pk, state.event_cursor, state.changed_since)


def rollup_state(workspace: Workspace) -> RollupState | None:
    return _memo(
        ("state", workspace.pk),
        lambda: RollupState.objects.filter(workspace=workspace).first(),
    )


def changed_case_ids(workspace: Workspace, state: RollupState) -> list[int]:
    """The ids of the workspace's cases changed since the refresh recorded in ``state``."""

    def read() -> list[int]:
        by_time = Case.objects.filter(workspace=workspace, updated_at__gte=state.changed_since)
        by_event = CaseEvent.objects.filter(workspace=workspace, id__gt=state.event_cursor)
        both = (
            by_time.values_list("id", flat=True)
            .order_by()
            .union(by_event.values_list("case_id", flat=True).order_by())
        )
        return sorted(both)

    return _memo(("changed", *_state_key(workspace, state)), read)


def merged_contact_ids(workspace: Workspace, state: RollupState) -> list[int]:
    """Both contacts of every contact merge, or undo, since the refresh: their identities
    (and so their messages' authors) moved. Merges are rare, supervisor-made changes."""

    def read() -> list[int]:
        found = ContactEvent.objects.filter(workspace=workspace, at__gte=state.changed_since)
        return sorted(set(found.values_list("contact_id", flat=True)))

    return _memo(("merged", *_state_key(workspace, state)), read)


def _chunks(ids: list[int]) -> Iterator[list[int]]:
    for at in range(0, len(ids), CHUNK):
        yield ids[at : at + CHUNK]


def _days(rows: QuerySet[Any], field: str) -> set[date]:
    found = rows.annotate(stale_day=TruncDate(field, tzinfo=UTC)).values_list("stale_day")
    return {day for (day,) in found.order_by().distinct()}


def _days_of_cases(rows: QuerySet[Any], case_field: str, ids: list[int], field: str) -> set[date]:
    days: set[date] = set()
    for chunk in _chunks(ids):
        days |= _days(rows.filter(**{f"{case_field}__in": chunk}), field)
    return days


def stale_days(workspace: Workspace, figure: str, state: RollupState) -> set[date]:
    """Days of ``figure`` whose rows changed since the refresh (see the module docstring)."""
    return _memo(
        ("stale", figure, *_state_key(workspace, state)),
        lambda: _stale_days(workspace, figure, state),
    )


def _stale_days(workspace: Workspace, figure: str, state: RollupState) -> set[date]:
    ids = changed_case_ids(workspace, state)
    if figure in CASE_FIGURES:
        cases = Case.objects.filter(workspace=workspace)
        days = _days_of_cases(cases, "id", ids, "first_inbound_at")
        if figure == Figure.ROOT_CAUSES:
            days = {d + n * DAY for d in days for n in range(REPEAT_DAYS + 1)}
        return days
    if figure in MESSAGE_FIGURES:
        messages = Message.objects.filter(workspace=workspace, direction=Direction.INBOUND)
        days = _memo(
            ("message days", *_state_key(workspace, state)),
            lambda: _days_of_cases(messages, "case_id", ids, "sent_at"),
        )
        if figure == Figure.PROMOTERS:
            merged = merged_contact_ids(workspace, state)
            days = days | _days_of_cases(messages, "identity__contact_id", merged, "sent_at")
        return days
    if figure == Figure.PRAISE:  # a kudos is answered by a later reply on its case
        events = CaseEvent.objects.filter(workspace=workspace, type=CaseEvent.Type.PRAISE_FORWARDED)
        return _days_of_cases(events, "case_id", ids, "at")
    answers = CsatResponse.objects.filter(workspace=workspace)
    days = _days_of_cases(answers, "case_id", ids, "created_at")
    return days | _days(answers.filter(created_at__gte=state.changed_since), "created_at")


def spans_and_days(
    workspace: Workspace,
    figure: str,
    day_runs: tuple[tuple[date, date], ...],
    whole: list[date],
    length: Callable[[date], int],
) -> tuple[list[date], tuple[tuple[date, date], ...]]:
    """Cut the rolled-up, unchanged ``day_runs`` into the longer spans read from their own
    rows and the runs of days left over. ``whole``: the first days of the spans lying
    wholly inside a run (so none of their days is stale), in order; a span is read from
    its rows when the refresh wrote it (``RollupDay`` of ``figure``) from those days."""
    if not whole:
        return [], day_runs
    spans = set(
        RollupDay.objects.filter(
            workspace=workspace, figure=figure, day__gte=whole[0], day__lte=whole[-1]
        ).values_list("day", flat=True)
    ) & set(whole)
    if not spans:
        return [], day_runs
    inside = {span + DAY * n for span in spans for n in range(length(span))}
    days = {first + DAY * n for first, last in day_runs for n in range((last - first).days + 1)}
    return sorted(spans), tuple(runs(days - inside))


def split(
    workspace: Workspace,
    figure: str,
    start: datetime,
    end: datetime,
    *,
    targets: TargetsTable | None = None,
) -> Split:
    """Cut ``[start, end)`` for ``figure``: rolled-up days, and what to query live."""
    whole = whole_days(start, end)
    state = rollup_state(workspace)
    if whole is None or state is None:
        return Split((), ((start, end),))
    first, last = whole
    if figure in DEADLINES:
        assert targets is not None, f"{figure} is measured against the SLA table"
    key = targets_key(figure, targets or {})
    rolled = set(
        RollupDay.objects.filter(
            workspace=workspace, figure=figure, day__gte=first, day__lte=last, targets_key=key
        ).values_list("day", flat=True)
    )
    if rolled:
        rolled -= stale_days(workspace, figure, state)
    rolled_runs = runs(rolled)
    live: list[tuple[datetime, datetime]] = []
    cursor = start
    for run_first, run_last in rolled_runs:
        if cursor < day_start(run_first):
            live.append((cursor, day_start(run_first)))
        cursor = day_start(run_last + DAY)
    if cursor < end:
        live.append((cursor, end))
    return Split(tuple(rolled_runs), tuple(live))
