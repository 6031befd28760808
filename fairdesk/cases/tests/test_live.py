"""Live updates: the long-poll on /live/changes/. Two workspaces, two customers each.

The waiting tests run a real request in this thread and write from another thread once
the request is asleep (``WATCH.sleeping``), so they assert what happened in which order,
never how long it took.
"""

import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import OperationalError, connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from fairdesk.cases import live
from fairdesk.cases.live import WATCH, LiveCursor, changes_since, has_changes
from fairdesk.cases.models import Case, CaseEvent, CaseStatus, Message
from fairdesk.cases.tests.factories import add_inbound, make_case
from fairdesk.routing.services import bulk_set_status
from fairdesk.workspaces.models import Agent, Workspace

pytestmark = pytest.mark.django_db(transaction=True)

HOSTILE = '<script>alert(1)</script> =HYPERLINK("http://evil.test")\r\nBcc: x@evil.test'
URL = "/live/changes/"


@pytest.fixture(autouse=True)
def quick_watch(settings: Any, transactional_db: None) -> Iterator[None]:
    """A fast step, a long wait (a test that fails hangs, none passes by timing out), and
    the watcher gone before the database is emptied (and before we start: a browser test's
    last long-poll may still be waiting in the shared live server)."""
    WATCH.join(timeout=60)
    settings.FAIRDESK_LIVE_STEP_SECONDS = 0.02
    settings.FAIRDESK_LIVE_LINGER_SECONDS = 0
    settings.FAIRDESK_LIVE_WAIT_SECONDS = 60
    yield
    WATCH.join(timeout=10)
    assert WATCH.marks() is None and WATCH.sleeping == 0


def client_for(agent: Agent) -> Client:
    client = Client()
    client.force_login(agent.user)
    return client


def two_customers(workspace: Workspace) -> tuple[Case, Case]:
    slug = workspace.slug
    first = make_case(workspace, handle=f"@{slug}-dana", external_id=f"{slug}-1", name="Dana")
    second = make_case(workspace, handle=f"@{slug}-eli", external_id=f"{slug}-2", name="Eli")
    return first, second


def say(case: Case, external_id: str, text: str = HOSTILE) -> Message:
    """A new inbound message on the case, retried while SQLite's shared test cache
    reports the watcher's read lock on the table."""
    identity = case.contact.identities.get()
    for _ in range(50):
        try:
            return add_inbound(case, identity, text=text, external_id=external_id)
        except OperationalError:
            time.sleep(0.01)
    raise AssertionError("the table stayed locked")


def cursor_of(workspace: Workspace) -> str:
    return live.current_cursor(workspace.pk).encode()


def in_background(action: Callable[[], Any]) -> tuple[threading.Thread, list[Any]]:
    out: list[Any] = []

    def run() -> None:
        try:
            out.append(action())
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, out


def until(condition: Callable[[], bool]) -> None:
    """Ordering, not timing: block until another thread has got somewhere."""
    for _ in range(5000):
        if condition():
            return
        time.sleep(0.005)
    raise AssertionError("the other thread never got there")


def probes(queries: CaptureQueriesContext) -> int:
    return sum(1 for q in queries.captured_queries if "newer_event" in q["sql"])


# --- answers without waiting ------------------------------------------------------------


def test_a_fresh_page_gets_its_own_workspace_cursor(
    workspace: Workspace, other_workspace: Workspace, agent: Agent, outsider: Agent
) -> None:
    mine = two_customers(workspace)
    bulk_set_status(agent=agent, case_ids=[mine[0].public_id], status=CaseStatus.OPEN)
    theirs = two_customers(other_workspace)  # written later: higher ids than ours
    bulk_set_status(agent=outsider, case_ids=[theirs[0].public_id], status=CaseStatus.OPEN)
    response = client_for(agent).get(URL)
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    own_event = CaseEvent.objects.get(workspace=workspace)
    own_message = Message.objects.filter(case__in=mine).order_by("-id")[0]
    assert response.json() == {
        "cursor": f"{own_event.pk}.{own_message.pk}",
        "cases": [],
        "more": False,
    }
    assert CaseEvent.objects.get(workspace=other_workspace).pk > own_event.pk
    assert Message.objects.filter(case__in=theirs).order_by("-id")[0].pk > own_message.pk


def test_a_page_behind_gets_the_changes_at_once_and_only_its_own(
    workspace: Workspace, other_workspace: Workspace, agent: Agent
) -> None:
    dana, eli = two_customers(workspace)
    foreign, _ = two_customers(other_workspace)
    since = cursor_of(workspace)
    first = say(dana, "acme-3")
    say(foreign, "globex-3")
    second = say(dana, "acme-4")
    response = client_for(agent).get(URL, {"since": since})
    assert response.status_code == 200
    body = response.json()
    assert body == {
        "cursor": f"{since.split('.')[0]}.{second.pk}",
        "cases": [{"id": str(dana.public_id), "inbound": 2}],
        "more": False,
    }
    assert first.pk < second.pk
    assert str(foreign.public_id) not in response.content.decode()
    assert str(eli.public_id) not in response.content.decode()


def test_case_events_count_as_changes(
    workspace: Workspace, other_workspace: Workspace, agent: Agent
) -> None:
    _, eli = two_customers(workspace)
    two_customers(other_workspace)
    since = live.current_cursor(workspace.pk)
    bulk_set_status(agent=agent, case_ids=[eli.public_id], status=CaseStatus.PENDING_CUSTOMER)
    found = changes_since(workspace.pk, since)
    event = CaseEvent.objects.get(case=eli, type=CaseEvent.Type.STATUS_CHANGED)
    assert found.cursor == LiveCursor(event_id=event.pk, message_id=since.message_id)
    assert [(c.public_id, c.inbound) for c in found.cases] == [(str(eli.public_id), 0)]
    assert found.more is False


def test_one_query_to_look_three_to_answer(workspace: Workspace, agent: Agent) -> None:
    dana, _ = two_customers(workspace)
    since = live.current_cursor(workspace.pk)
    with CaptureQueriesContext(connection) as looked:
        assert has_changes(workspace.pk, since) is False
    say(dana, "acme-3")
    with CaptureQueriesContext(connection) as answered:
        assert has_changes(workspace.pk, since) is True
        changes_since(workspace.pk, since)
    assert len(looked) == 1
    assert len(answered) == 4


def test_many_rows_are_answered_in_parts(
    workspace: Workspace, agent: Agent, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(live, "ROW_LIMIT", 2)
    dana, _ = two_customers(workspace)
    since = live.current_cursor(workspace.pk)
    made = [say(dana, f"acme-{n}") for n in (3, 4, 5)]
    client = client_for(agent)
    first = client.get(URL, {"since": since.encode()}).json()
    assert first["more"] is True
    assert first["cursor"] == f"{since.event_id}.{made[1].pk}"
    second = client.get(URL, {"since": first["cursor"]}).json()
    assert second == {
        "cursor": f"{since.event_id}.{made[2].pk}",
        "cases": [{"id": str(dana.public_id), "inbound": 1}],
        "more": False,
    }


# --- waiting --------------------------------------------------------------------------


def test_the_wait_ends_when_the_workspace_changes(
    workspace: Workspace, other_workspace: Workspace, agent: Agent
) -> None:
    dana, _ = two_customers(workspace)
    two_customers(other_workspace)
    since = cursor_of(workspace)

    def write() -> Message:
        until(lambda: WATCH.sleeping == 1)
        return say(dana, "acme-3")

    writer, written = in_background(write)
    with CaptureQueriesContext(connection) as queries:
        response = client_for(agent).get(URL, {"since": since})
    writer.join()
    message = written[0]
    assert response.status_code == 200
    assert response.json() == {
        "cursor": f"{since.split('.')[0]}.{message.pk}",
        "cases": [{"id": str(dana.public_id), "inbound": 1}],
        "more": False,
    }
    assert probes(queries) == 2  # before sleeping, and once woken


def test_a_wait_never_wakes_for_another_workspace(
    workspace: Workspace, other_workspace: Workspace, agent: Agent, outsider: Agent
) -> None:
    dana, _ = two_customers(workspace)
    foreign, other = two_customers(other_workspace)
    since = cursor_of(workspace)

    def write() -> tuple[Message, Message]:
        until(lambda: WATCH.sleeping == 1)
        theirs = say(foreign, "globex-3")
        until(lambda: (WATCH.marks() or LiveCursor(0, 0)).message_id >= theirs.pk)
        return theirs, say(dana, "acme-3")

    writer, written = in_background(write)
    with CaptureQueriesContext(connection) as queries:
        response = client_for(agent).get(URL, {"since": since})
    writer.join()
    theirs, ours = written[0]
    assert response.status_code == 200
    assert response.json() == {
        "cursor": f"{since.split('.')[0]}.{ours.pk}",
        "cases": [{"id": str(dana.public_id), "inbound": 1}],
        "more": False,
    }
    content = response.content.decode()
    for leaked in (str(foreign.public_id), str(other.public_id), foreign.reference):
        assert leaked not in content
    assert f".{theirs.pk}" not in content
    assert probes(queries) == 2  # the other workspace's message woke nobody here


def test_nothing_new_answers_204_when_the_wait_ends(
    settings: Any, workspace: Workspace, agent: Agent
) -> None:
    two_customers(workspace)
    settings.FAIRDESK_LIVE_WAIT_SECONDS = 0.2
    response = client_for(agent).get(URL, {"since": cursor_of(workspace)})
    assert response.status_code == 204
    assert response.content == b""
    assert "Retry-After" not in response


def test_past_the_cap_the_answer_is_204_with_retry_after(
    settings: Any, workspace: Workspace, agent: Agent
) -> None:
    dana, _ = two_customers(workspace)
    settings.FAIRDESK_LIVE_MAX_WAITERS = 1
    since = cursor_of(workspace)
    waiting, answers = in_background(lambda: client_for(agent).get(URL, {"since": since}))
    until(lambda: WATCH.sleeping == 1)

    turned_away = client_for(agent).get(URL, {"since": since})
    assert turned_away.status_code == 204
    assert turned_away["Retry-After"] == "15"
    assert WATCH.sleeping == 1  # it did not wait

    say(dana, "acme-3")
    waiting.join()
    assert answers[0].status_code == 200
    assert answers[0].json()["cases"] == [{"id": str(dana.public_id), "inbound": 1}]


def test_past_the_cap_a_change_is_still_answered(
    settings: Any, workspace: Workspace, agent: Agent
) -> None:
    dana, _ = two_customers(workspace)
    settings.FAIRDESK_LIVE_MAX_WAITERS = 0
    since = cursor_of(workspace)
    say(dana, "acme-3")
    response = client_for(agent).get(URL, {"since": since})
    assert response.status_code == 200
    assert response.json()["cases"] == [{"id": str(dana.public_id), "inbound": 1}]


# --- who may ask, and what ----------------------------------------------------------------


def test_signed_out_is_sent_to_log_in_and_a_non_agent_is_refused(workspace: Workspace) -> None:
    two_customers(workspace)
    anonymous = Client().get(URL, {"since": cursor_of(workspace)})
    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith(reverse("login"))
    user = get_user_model().objects.create_user(username="admin-only", password="x" * 20)
    client = Client()
    client.force_login(user)
    assert client.get(URL, {"since": cursor_of(workspace)}).status_code == 403
    assert WATCH.marks() is None  # nobody got to wait


@pytest.mark.parametrize(
    "since",
    [
        "",
        "12",
        "1.2.3",
        "-1.2",
        "1.-2",
        "1.2\r\nX-Injected: 1",
        "<script>alert(1)</script>",
        '=HYPERLINK("http://evil.test")',
        "1" * 19 + ".2",
        "1.2 OR 1=1",
    ],
)
def test_a_bad_cursor_is_refused(since: str, workspace: Workspace, agent: Agent) -> None:
    response = client_for(agent).get(URL, {"since": since})
    assert response.status_code == 400
    assert response.content.decode() == (
        "'since' must be a cursor from an earlier answer, like 12.34."
    )
    assert WATCH.marks() is None


def test_only_get(workspace: Workspace, agent: Agent) -> None:
    assert client_for(agent).post(URL, {"since": "1.2"}).status_code == 405


def test_json_carries_ids_not_text(workspace: Workspace, agent: Agent) -> None:
    dana, _ = two_customers(workspace)
    since = cursor_of(workspace)
    say(dana, "acme-3")
    content = client_for(agent).get(URL, {"since": since}).content.decode()
    assert "script" not in content and "HYPERLINK" not in content
    assert set(json.loads(content)) == {"cursor", "cases", "more"}
