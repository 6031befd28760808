"""Live updates for the agent workspace: a long-poll with a backstop, not a socket per tab.

``GET /live/changes/?since=<cursor>`` answers at once when the agent's workspace has new
case events or messages past the cursor, else waits up to ``FAIRDESK_LIVE_WAIT_SECONDS``
and answers 204 (the backstop: the browser asks again). The page then re-fetches only the
fragments that changed (``static/cases/live.js``).

Why not server-sent events: waitress serves from a few threads, and a stream pins one per
open tab for as long as the tab is open. A long-poll pins one for at most the wait, and
never more than ``FAIRDESK_LIVE_MAX_WAITERS`` per process: past the cap the request gets
one cheap check and a 204 with ``Retry-After``, so browsers back off instead of storming.

What a wait costs: nothing per waiter. One watcher thread per process reads the two
global ``max(id)`` values (primary-key endpoints) every ``FAIRDESK_LIVE_STEP_SECONDS``;
only when they move does it ask which workspaces the new rows belong to, and it wakes the
waiters of those workspaces alone. A waiter holds no transaction, and on PostgreSQL no
connection, while it sleeps. The cursor is the workspace's own last event and message
ids, so an answer never carries another workspace's ids.

Known limit: ids are taken at insert and may commit out of order on PostgreSQL; a row
committed behind a cursor that already passed it is shown with the workspace's next
change (the fragments are full state, so nothing is lost, only late).
"""

import logging
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass

from django.conf import settings
from django.db import connection
from django.db.models import Max, Subquery
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.views.decorators.http import require_GET

from fairdesk.cases.access import agent_required
from fairdesk.cases.models import Case, CaseEvent, Direction, Message
from fairdesk.workspaces.models import Agent, Workspace

log = logging.getLogger(__name__)

# Defaults; each can be overridden in settings (read when used, never at import).
WAIT_SECONDS = 25.0
STEP_SECONDS = 1.0
MAX_WAITERS = 2  # of waitress's 4 threads (``fairdesk serve``): the rest stay for pages
RETRY_AFTER_SECONDS = 15
LINGER_SECONDS = 10.0  # the watcher outlives its last waiter a little: polls come back
ROW_LIMIT = 200  # rows read per answer; more waiting means "more": ask again at once
CASE_LIMIT = 50  # changed cases named per answer; more means "refresh everything"
RANGE_LIMIT = 5_000  # new rows per step the watcher sorts by workspace; more wakes all

_CURSOR = re.compile(r"(\d{1,18})\.(\d{1,18})")


def _setting(name: str, default: float) -> float:
    return float(getattr(settings, name, default))


# --- the cursor and the reads -------------------------------------------------------


class CursorInvalid(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class LiveCursor:
    """The last case event id and the last message id a page has seen."""

    event_id: int
    message_id: int

    def encode(self) -> str:
        return f"{self.event_id}.{self.message_id}"

    @classmethod
    def decode(cls, raw: str) -> "LiveCursor":
        found = _CURSOR.fullmatch(raw)
        if found is None:
            raise CursorInvalid("'since' must be a cursor from an earlier answer, like 12.34.")
        return cls(event_id=int(found[1]), message_id=int(found[2]))


@dataclass(frozen=True, slots=True)
class CaseChange:
    public_id: str
    inbound: int  # new messages from customers on this case


@dataclass(frozen=True, slots=True)
class Changes:
    cursor: LiveCursor
    cases: list[CaseChange]
    more: bool  # rows or cases left out: the page refreshes everything and asks again

    def as_json(self) -> dict[str, object]:
        return {
            "cursor": self.cursor.encode(),
            "cases": [{"id": c.public_id, "inbound": c.inbound} for c in self.cases],
            "more": self.more,
        }


def current_cursor(workspace_id: int) -> LiveCursor:
    """Where a freshly loaded page starts: the workspace's own last ids."""
    events = CaseEvent.objects.filter(workspace_id=workspace_id).aggregate(last=Max("id"))
    messages = Message.objects.filter(workspace_id=workspace_id).aggregate(last=Max("id"))
    return LiveCursor(event_id=events["last"] or 0, message_id=messages["last"] or 0)


def has_changes(workspace_id: int, since: LiveCursor) -> bool:
    """One query, two index probes: is any event or message of the workspace newer?

    Written as "the first newer id" (ORDER BY id LIMIT 1) with literal ids, not EXISTS:
    PostgreSQL then walks (workspace, id) and stops; for EXISTS it guesses that a
    sequential scan finds a row at once, and for a quiet workspace it reads the table.
    """
    first_event = CaseEvent.objects.filter(workspace_id=workspace_id, id__gt=since.event_id)
    first_message = Message.objects.filter(workspace_id=workspace_id, id__gt=since.message_id)
    found = (
        Workspace.objects.filter(pk=workspace_id)
        .annotate(
            newer_event=Subquery(first_event.order_by("id").values("id")[:1]),
            newer_message=Subquery(first_message.order_by("id").values("id")[:1]),
        )
        .values_list("newer_event", "newer_message")
        .first()
    )
    return found is not None and found != (None, None)


def changes_since(workspace_id: int, since: LiveCursor) -> Changes:
    """What changed past the cursor, at most ``ROW_LIMIT`` rows of each kind (3 queries)."""
    events = list(
        CaseEvent.objects.filter(workspace_id=workspace_id, id__gt=since.event_id)
        .order_by("id")
        .values_list("id", "case_id")[:ROW_LIMIT]
    )
    messages = list(
        Message.objects.filter(workspace_id=workspace_id, id__gt=since.message_id)
        .order_by("id")
        .values_list("id", "case_id", "direction")[:ROW_LIMIT]
    )
    inbound = Counter(case_id for _, case_id, way in messages if way == Direction.INBOUND)
    order = dict.fromkeys(
        [case_id for _, case_id in events] + [case_id for _, case_id, _ in messages if case_id]
    )
    chosen = list(order)[:CASE_LIMIT]
    public = dict(
        Case.objects.filter(workspace_id=workspace_id, id__in=chosen).values_list("id", "public_id")
    )
    cursor = LiveCursor(
        event_id=events[-1][0] if events else since.event_id,
        message_id=messages[-1][0] if messages else since.message_id,
    )
    return Changes(
        cursor=cursor,
        cases=[CaseChange(str(public[pk]), inbound[pk]) for pk in chosen if pk in public],
        more=len(order) > CASE_LIMIT or ROW_LIMIT in (len(events), len(messages)),
    )


def global_marks() -> LiveCursor:
    """The newest ids across all workspaces: for the watcher only, never sent out."""
    events = CaseEvent.objects.order_by().aggregate(last=Max("id"))
    messages = Message.objects.order_by().aggregate(last=Max("id"))
    return LiveCursor(event_id=events["last"] or 0, message_id=messages["last"] or 0)


def workspaces_between(low: LiveCursor, high: LiveCursor) -> set[int] | None:
    """Workspaces with rows in (low, high]; None when too many rows to sort (wake all)."""
    spread = (high.event_id - low.event_id) + (high.message_id - low.message_id)
    if spread > RANGE_LIMIT:
        return None
    events = CaseEvent.objects.filter(id__gt=low.event_id, id__lte=high.event_id)
    messages = Message.objects.filter(id__gt=low.message_id, id__lte=high.message_id)
    found = set(events.order_by().values_list("workspace_id", flat=True).distinct())
    found.update(messages.order_by().values_list("workspace_id", flat=True).distinct())
    return found


# --- the watcher ----------------------------------------------------------------------


class ChangeWatch:
    """Wakes the waiters of a workspace when its rows move; one polling thread per process.

    The thread runs only while someone waits (plus ``LINGER_SECONDS``) and takes its
    baseline before any waiter looks at the database, so a row committed after a
    waiter's own check is always seen by the thread.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._waiting: Counter[int] = Counter()  # workspace id -> waiters
        self._generation: Counter[int] = Counter()  # workspace id -> wakes so far
        self._epoch = 0  # bumped to wake everyone
        self._high: LiveCursor | None = None  # None until the thread has its baseline
        self._thread: threading.Thread | None = None
        self.sleeping = 0  # waiters inside wait() now (tests wait for this)

    def enter(self, workspace_id: int, *, cap: int, ready_within: float) -> "Ticket | None":
        """A place among the waiters, or None when ``cap`` are waiting already."""
        with self._cond:
            if self._waiting.total() >= cap:
                return None
            self._waiting[workspace_id] += 1
            if self._thread is None or not self._thread.is_alive():
                self._high = None
                self._thread = threading.Thread(
                    target=self._run, name="fairdesk-live-watch", daemon=True
                )
                self._thread.start()
            self._cond.wait_for(lambda: self._high is not None, timeout=ready_within)
            return Ticket(self, workspace_id, self._state(workspace_id))

    def _state(self, workspace_id: int) -> tuple[int, int]:
        return (self._epoch, self._generation[workspace_id])

    def _wait(self, ticket: "Ticket", deadline: float) -> bool:
        with self._cond:
            self.sleeping += 1
            try:
                woke = self._cond.wait_for(
                    lambda: self._state(ticket.workspace_id) != ticket.seen,
                    timeout=max(0.0, deadline - time.monotonic()),
                )
            finally:
                self.sleeping -= 1
            ticket.seen = self._state(ticket.workspace_id)
            return woke

    def _leave(self, workspace_id: int) -> None:
        with self._cond:
            self._waiting[workspace_id] -= 1
            if self._waiting[workspace_id] <= 0:
                del self._waiting[workspace_id]
                self._generation.pop(workspace_id, None)

    def marks(self) -> LiveCursor | None:
        """The newest ids the thread has seen (None while it is not watching)."""
        with self._cond:
            return self._high

    def join(self, timeout: float) -> None:
        """Wait for the thread to end (it does once nobody waits); for tests and shutdown."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def _run(self) -> None:
        try:
            idle_since: float | None = None
            while True:
                try:
                    self._step()
                except Exception:  # the thread must outlive a bad step; waiters time out
                    log.warning("live updates: reading the change marks failed", exc_info=True)
                    _close_quietly()
                with self._cond:
                    if self._waiting:
                        idle_since = None
                    elif idle_since is None:
                        idle_since = time.monotonic()
                    if idle_since is not None and time.monotonic() - idle_since >= _setting(
                        "FAIRDESK_LIVE_LINGER_SECONDS", LINGER_SECONDS
                    ):
                        self._thread = None
                        self._high = None
                        return
                time.sleep(_setting("FAIRDESK_LIVE_STEP_SECONDS", STEP_SECONDS))
        finally:
            _close_quietly()  # this thread's own connection

    def _step(self) -> None:
        high = global_marks()
        with self._cond:
            low = self._high
        if low is None or high == low:
            with self._cond:
                self._high = high
                self._cond.notify_all()
            return
        changed = workspaces_between(low, high)
        with self._cond:
            if changed is None:
                self._epoch += 1
            else:
                for workspace_id in changed & set(self._waiting):
                    self._generation[workspace_id] += 1
            self._high = high
            self._cond.notify_all()


def _close_quietly() -> None:
    try:
        connection.close()
    except Exception:  # closing a broken connection may fail too; it is gone either way
        log.debug("live updates: closing the watcher's connection failed", exc_info=True)


class Ticket:
    """One waiter's place: what it last saw, so that it wakes only for what is new."""

    def __init__(self, watch: ChangeWatch, workspace_id: int, seen: tuple[int, int]) -> None:
        self.watch = watch
        self.workspace_id = workspace_id
        self.seen = seen

    def wait(self, deadline: float) -> bool:
        """Sleep until the workspace may have changed (True) or the deadline (False)."""
        return self.watch._wait(self, deadline)

    def leave(self) -> None:
        self.watch._leave(self.workspace_id)


WATCH = ChangeWatch()


# --- the view -------------------------------------------------------------------------


@require_GET
@agent_required
def changes(request: HttpRequest, *, agent: Agent) -> HttpResponse:
    """200 with what changed, 204 when nothing did within the wait, 400 for a bad cursor.
    Without ``since`` it answers the current cursor at once (a page just loaded)."""
    raw = request.GET.get("since")
    if raw is None:
        return _answer(Changes(current_cursor(agent.workspace_id), cases=[], more=False))
    try:
        since = LiveCursor.decode(raw)
    except CursorInvalid as error:
        return HttpResponseBadRequest(str(error), content_type="text/plain; charset=utf-8")
    wait = _setting("FAIRDESK_LIVE_WAIT_SECONDS", WAIT_SECONDS)
    deadline = time.monotonic() + wait
    cap = int(_setting("FAIRDESK_LIVE_MAX_WAITERS", MAX_WAITERS))
    ticket = WATCH.enter(agent.workspace_id, cap=cap, ready_within=wait)
    if ticket is None:  # full: one look, then "come back later"
        if has_changes(agent.workspace_id, since):
            return _answer(changes_since(agent.workspace_id, since))
        retry = int(_setting("FAIRDESK_LIVE_RETRY_SECONDS", RETRY_AFTER_SECONDS))
        return _nothing(retry_after=retry)
    try:
        return _wait_for_changes(agent.workspace_id, since, ticket, deadline)
    finally:
        ticket.leave()


def _wait_for_changes(
    workspace_id: int, since: LiveCursor, ticket: Ticket, deadline: float
) -> HttpResponse:
    while True:
        if has_changes(workspace_id, since):
            return _answer(changes_since(workspace_id, since))
        _release_connection()
        if not ticket.wait(deadline):
            return _nothing(retry_after=None)


def _release_connection() -> None:
    """Give a PostgreSQL connection back while asleep (they are few; reopened on wake).
    A SQLite connection is a file handle; reopening it costs more than keeping it."""
    if connection.vendor != "sqlite" and not connection.in_atomic_block:
        connection.close()


def _answer(found: Changes) -> HttpResponse:
    response = JsonResponse(found.as_json())
    response["Cache-Control"] = "no-store"
    return response


def _nothing(*, retry_after: int | None) -> HttpResponse:
    response = HttpResponse(status=204)
    response["Cache-Control"] = "no-store"
    if retry_after is not None:
        response["Retry-After"] = str(retry_after)
    return response
