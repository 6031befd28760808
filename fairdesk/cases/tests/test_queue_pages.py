"""The queue page with views, filters, bulk actions, take next, availability, the
supervisor's load page and the keyboard markup. Two workspaces in every access test."""

import re
import uuid

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from fairdesk.cases.models import Case, CaseEvent, CaseStatus
from fairdesk.routing.models import SavedView
from fairdesk.routing.services import save_view
from fairdesk.routing.tests.builders import colleague, queued
from fairdesk.workspaces.models import Agent, Workspace


def client_for(agent: Agent) -> Client:
    client = Client()
    client.force_login(agent.user)
    return client


def references(content: str) -> list[str]:
    return re.findall(r"data-reference=\"(FD-\d+)\"", content)


def flashes(response: object) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]  # type: ignore[attr-defined]


# --- views -------------------------------------------------------------------------------


def test_built_in_views_filter_but_keep_deadline_order(
    workspace: Workspace, other_workspace: Workspace, agent: Agent, agent_client: Client
) -> None:
    queued(other_workspace, "foreign", due_in=-100, assignee=None)
    late = queued(workspace, "late", due_in=90, assignee=agent, followers=8_000_000)
    early = queued(workspace, "early", due_in=10, assignee=agent, followers=0)
    free = queued(workspace, "free", due_in=20)
    waiting = queued(workspace, "waiting", due_in=5, status=CaseStatus.PENDING_CUSTOMER)
    pages = {
        key: references(agent_client.get(reverse("queue"), {"view": key}).content.decode())
        for key in ("all", "mine", "unassigned", "breaching-soon", "waiting-on-customer")
    }
    assert pages == {
        "all": [early.reference, free.reference, late.reference],
        "mine": [early.reference, late.reference],
        "unassigned": [free.reference],
        "breaching-soon": [early.reference, free.reference],
        "waiting-on-customer": [waiting.reference],
    }
    content = agent_client.get(reverse("queue"), {"view": "mine"}).content.decode()
    assert '<a href="/?view=mine" aria-current="page">Mine</a>' in content
    assert "breaching soon</span>" in content


def test_unknown_or_foreign_view_is_404(
    workspace: Workspace, agent_client: Client, outsider: Agent
) -> None:
    theirs = save_view(agent=outsider, name="Theirs", conditions={})
    assert agent_client.get(reverse("queue"), {"view": "loudest"}).status_code == 404
    assert agent_client.get(reverse("queue"), {"view": str(theirs.public_id)}).status_code == 404


def test_filter_box_applies_and_saves_a_view(
    workspace: Workspace, agent: Agent, agent_client: Client
) -> None:
    critical = queued(workspace, "crit", due_in=30, severity="critical", origin_channel="email")
    queued(workspace, "normal", due_in=10, origin_channel="email")
    params = {"filter": "1", "severity": ["critical"], "channel": "Email", "followers": "99"}
    content = agent_client.get(reverse("queue"), params).content.decode()
    assert references(content) == [critical.reference]
    assert '<input type="hidden" name="severity" value="critical">' in content
    assert 'name="followers"' not in content
    response = agent_client.post(
        reverse("view-save"),
        {"name": "<b>Critical mail</b>", "severity": "critical", "channel": "email"},
    )
    view = SavedView.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/?view={view.public_id}"
    assert (view.owner, view.shared, view.conditions) == (
        agent,
        False,
        {"severity": ["critical"], "channel": ["email"]},
    )
    page = agent_client.get(response["Location"]).content.decode()
    assert references(page) == [critical.reference]
    assert "&lt;b&gt;Critical mail&lt;/b&gt;" in page
    assert "<b>Critical mail" not in page


def test_invalid_filter_is_422_with_the_reason(agent_client: Client) -> None:
    response = agent_client.get(
        reverse("queue"), {"filter": "1", "status": ["open"], "waiting": "customer"}
    )
    assert response.status_code == 422
    assert "use only one of status, waiting_on_customer and waiting_on_internal" in (
        response.content.decode()
    )
    bad = agent_client.get(reverse("queue"), {"filter": "1", "channel": "x' OR 1=1 --"})
    assert bad.status_code == 422
    assert "channel.0" in bad.content.decode()


def test_only_supervisors_share_views_from_the_page(
    workspace: Workspace, agent_client: Client, supervisor: Agent
) -> None:
    response = agent_client.post(reverse("view-save"), {"name": "All", "shared": "on"})
    assert response.status_code == 403
    assert SavedView.objects.count() == 0
    client_for(supervisor).post(reverse("view-save"), {"name": "All", "shared": "on"})
    assert SavedView.objects.get().shared is True
    content = agent_client.get(reverse("queue")).content.decode()
    assert ">All</a>" in content
    assert 'aria-label="Delete view All"' not in content


def test_delete_a_view(agent: Agent, agent_client: Client, outsider: Agent) -> None:
    mine = save_view(agent=agent, name="Mine", conditions={})
    assert (
        client_for(outsider).post(reverse("view-delete", args=[mine.public_id])).status_code == 404
    )
    assert agent_client.get(reverse("view-delete", args=[mine.public_id])).status_code == 405
    response = agent_client.post(reverse("view-delete", args=[mine.public_id]))
    assert response.status_code == 302
    assert SavedView.objects.count() == 0


def test_queue_page_query_count_is_constant_in_every_view(
    workspace: Workspace, other_workspace: Workspace, agent: Agent, agent_client: Client
) -> None:
    save_view(agent=agent, name="Urgent", conditions={"severity": ["critical"]})
    queued(other_workspace, "other", due_in=1)
    for n in range(2):
        queued(workspace, f"a{n}", due_in=n, assignee=agent)
    views = ["all", "mine", "unassigned", "breaching-soon"]
    few = {}
    for key in views:
        with CaptureQueriesContext(connection) as ctx:
            assert agent_client.get(reverse("queue"), {"view": key}).status_code == 200
        few[key] = len(ctx.captured_queries)
    for n in range(2, 30):
        queued(workspace, f"a{n}", due_in=n, assignee=agent)
    for key in views:
        with CaptureQueriesContext(connection) as ctx:
            content = agent_client.get(reverse("queue"), {"view": key}).content.decode()
        assert len(ctx.captured_queries) == few[key], key
        assert not any("COUNT(" in q["sql"].upper() for q in ctx.captured_queries)
    assert len(references(content)) == 30


# --- bulk actions --------------------------------------------------------------------------


def test_bulk_assign_from_the_page_counts_foreign_ids_as_refused(
    workspace: Workspace, other_workspace: Workspace, agent: Agent, agent_client: Client
) -> None:
    ours = [queued(workspace, f"o{n}", due_in=n) for n in range(2)]
    theirs = queued(other_workspace, "t", due_in=1)
    response = agent_client.post(
        reverse("queue-bulk"),
        {
            "case": [str(c.public_id) for c in [*ours, theirs]],
            "action": "assign_me",
            "next": "/?view=mine",
            "workspace": str(other_workspace.pk),
        },
    )
    assert response.status_code == 302
    assert response["Location"] == "/?view=mine"
    assert flashes(response) == ["2 changed, 0 unchanged, 1 refused."]
    assert list(Case.objects.filter(assignee=agent).order_by("id")) == ours
    theirs.refresh_from_db()
    assert theirs.assignee_id is None
    assert CaseEvent.objects.filter(case=theirs).count() == 0


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"action": "assign_me"}, "Select at least one case."),
        ({"action": "assign_me", "case": "not-a-uuid"}, "Select cases from the queue."),
        ({"action": "route", "case": "{case}"}, "Choose the team for this action."),
        ({"action": "route", "case": "{case}", "team": "nope"}, "Select a valid choice."),
        ({"action": "explode", "case": "{case}"}, "Select a valid choice."),
    ],
)
def test_bad_bulk_requests_change_nothing(
    workspace: Workspace, agent_client: Client, data: dict[str, str], message: str
) -> None:
    case = queued(workspace, "c", due_in=1)
    if data.get("case") == "{case}":
        data = {**data, "case": str(case.public_id)}
    response = agent_client.post(reverse("queue-bulk"), {**data, "next": "https://evil.test/"})
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert message in " ".join(flashes(response))
    assert CaseEvent.objects.count() == 0


def test_bulk_route_and_status_from_the_page(
    workspace: Workspace, agent_client: Client, other_workspace: Workspace
) -> None:
    case = queued(workspace, "c", due_in=1)
    foreign_team = other_workspace.teams.get(slug="billing")
    response = agent_client.post(
        reverse("queue-bulk"),
        {"case": str(case.public_id), "action": "route", "team": "billing"},
    )
    assert flashes(response) == ["1 changed, 0 unchanged, 0 refused."]
    case.refresh_from_db()
    assert case.team is not None
    assert (case.team.workspace_id, case.team.slug) == (workspace.pk, "billing")
    assert case.team != foreign_team
    agent_client.post(
        reverse("queue-bulk"),
        {"case": str(case.public_id), "action": "status", "status": "pending_internal"},
    )
    case.refresh_from_db()
    assert case.status == CaseStatus.PENDING_INTERNAL


def test_bulk_needs_csrf(workspace: Workspace, agent: Agent) -> None:
    case = queued(workspace, "c", due_in=1)
    client = Client(enforce_csrf_checks=True)
    client.force_login(agent.user)
    response = client.post(
        reverse("queue-bulk"), {"case": str(case.public_id), "action": "assign_me"}
    )
    assert response.status_code == 403
    assert CaseEvent.objects.count() == 0


# --- take next, availability, load ---------------------------------------------------------


def test_take_next_button_opens_the_claimed_case(
    workspace: Workspace, other_workspace: Workspace, agent: Agent, agent_client: Client
) -> None:
    queued(other_workspace, "theirs", due_in=-100)
    case = queued(workspace, "ours", due_in=5)
    response = agent_client.post(reverse("take-next"))
    assert response.status_code == 302
    assert response["Location"] == reverse("case", args=[case.public_id])
    assert Case.objects.get(pk=case.pk).assignee == agent
    empty = agent_client.post(reverse("take-next"))
    assert empty["Location"] == reverse("queue")
    assert flashes(empty) == ["Nothing is waiting for your team."]
    assert agent_client.get(reverse("take-next")).status_code == 405


def test_availability_toggle(agent: Agent, agent_client: Client) -> None:
    assert b"Become available" in agent_client.get(reverse("queue")).content
    agent_client.post(reverse("availability"), {"available": "1", "next": "/?view=mine"})
    agent.refresh_from_db()
    assert agent.is_available is True
    assert b"Go away" in agent_client.get(reverse("queue")).content
    agent_client.post(reverse("availability"), {"available": "0"})
    agent.refresh_from_db()
    assert agent.is_available is False


def test_load_page_for_supervisors_only_with_constant_queries(
    workspace: Workspace, other_workspace: Workspace, agent: Agent, supervisor: Agent
) -> None:
    now = timezone.now()
    queued(workspace, "overdue", due_in=-5, now=now, assignee=agent)
    queued(workspace, "soon", due_in=30, now=now, assignee=agent)
    queued(workspace, "later", due_in=600, now=now, assignee=supervisor)
    queued(workspace, "pool", due_in=-1, now=now)
    queued(
        other_workspace, "foreign", due_in=-50, now=now, assignee=colleague(other_workspace, "x")
    )
    assert client_for(agent).get(reverse("load")).status_code == 403
    boss = client_for(supervisor)
    with CaptureQueriesContext(connection) as few:
        content = boss.get(reverse("load")).content.decode()
    rows = re.findall(r'<td class="num[^"]*">(\d+)</td>', content)
    assert rows == ["2", "1", "1", "1", "0", "0", "1", "1", "0"]
    assert "Jo Chen" in content
    assert "Ozzy" not in content
    for n in range(5):
        queued(workspace, f"more{n}", due_in=n, assignee=colleague(workspace, f"mate{n}"))
    with CaptureQueriesContext(connection) as many:
        boss.get(reverse("load"))
    assert len(many.captured_queries) == len(few.captured_queries)


# --- keyboard and accessibility markup ---------------------------------------------------


def test_queue_markup_for_keyboard_shortcuts(workspace: Workspace, agent_client: Client) -> None:
    case = queued(workspace, "k", due_in=5)
    content = agent_client.get(reverse("queue")).content.decode()
    assert (
        f'<tr data-queue-row data-case-id="{case.public_id}" data-reference="{case.reference}">'
        in content
    )
    assert f"data-row-link>{case.reference}</a>" in content
    assert '<form method="post" action="/queue/bulk/" id="quick-action" hidden>' in content
    assert 'aria-keyshortcuts="a">Assign to me</button>' in content
    assert 'data-shortcut="/" aria-keyshortcuts="/"' in content
    assert f'aria-label="Select {case.reference}"' in content
    assert '<script src="/static/cases/shortcuts.js" defer></script>' in content


def test_case_page_reply_box_answers_to_r(workspace: Workspace, agent_client: Client) -> None:
    case = queued(workspace, "r", due_in=5)
    content = agent_client.get(reverse("case", args=[case.public_id])).content.decode()
    assert 'data-shortcut="r"' in content
    assert '<script src="/static/cases/shortcuts.js" defer></script>' in content


def test_shortcut_script_is_served(agent_client: Client) -> None:
    response = agent_client.get("/static/cases/shortcuts.js")
    assert response.status_code == 200
    body = b"".join(response.streaming_content).decode()  # type: ignore[attr-defined]
    for key in (
        "j: function",
        "k: function",
        "a: function",
        "e: function",
        '"/": function',
        "r: function",
    ):
        assert key in body


def test_anonymous_users_are_sent_to_login(db: None) -> None:
    client = Client()
    for name in ("queue-bulk", "take-next", "availability", "view-save"):
        response = client.post(reverse(name))
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))
    assert client.get(reverse("load"))["Location"].startswith(reverse("login"))
    assert client.get(reverse("search"))["Location"].startswith(reverse("login"))
    assert client.post(reverse("view-delete", args=[uuid.uuid4()])).status_code == 302


def test_due_soon_badge_only_before_the_deadline(
    workspace: Workspace, agent_client: Client
) -> None:
    queued(workspace, "overdue", due_in=-5)
    queued(workspace, "far", due_in=600)
    content = agent_client.get(reverse("queue")).content.decode()
    assert "breaching soon</span>" not in content
    assert "overdue by 5 min" in content
