"""Callbacks: scheduled from the customer's own words, once, on the right team and time;
and a reply that answers a callback request with only a link is stopped."""

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from django.test import Client

from conftest import record
from fairdesk.cases.models import Case, CaseEvent, Message
from fairdesk.followthrough.models import ScanCursor, WorkOrder
from fairdesk.followthrough.tasks import run_followthrough
from fairdesk.followthrough.tests.conftest import Clock
from fairdesk.replies.models import OutboxMessage
from fairdesk.replies.services import ToneBlocked, submit_reply
from fairdesk.workspaces.models import Agent, Workspace
from fairdesk.workspaces.services import issue_token

Ingest = Callable[[Workspace, list[dict[str, Any]]], int]


def write(ingest: Ingest, workspace: Workspace, external_id: str, text: str, **kw: Any) -> Case:
    ingest(workspace, [record(external_id, text, **kw)])
    return Case.objects.filter(workspace=workspace).latest("id")


def test_a_callback_request_schedules_one_order_at_the_preferred_time(
    workspace: Workspace,
    other_workspace: Workspace,
    agent: Agent,
    clock: Clock,
    ingest: Ingest,
) -> None:
    # record() dates messages from 2026-11-02 09:00 UTC (a Monday).
    case = write(ingest, workspace, "a-1", "My bill is wrong. Call me back tomorrow at 10:30")
    other = write(ingest, other_workspace, "b-1", "Don't call me, email only", author="u-2")
    assert run_followthrough().callbacks == 0  # too fresh: the pipeline may still commit
    clock.advance(minutes=3)
    assert run_followthrough().callbacks == 1
    assert run_followthrough().callbacks == 0
    order = WorkOrder.objects.get()
    assert (order.case, order.kind, order.team) == (case, "callback", case.team)
    assert order.due_at == datetime(2026, 11, 3, 10, 30, tzinfo=UTC)
    assert order.customer_label == "We will call you back on Tue 03 Nov at 10:30 UTC"
    assert order.created_by is None and order.status == "open"
    assert not WorkOrder.objects.filter(case=other).exists()
    case.refresh_from_db()
    assert (case.status, case.next_step) == ("pending_internal", order.customer_label)
    last_read = Message.objects.order_by("-id").values_list("pk", flat=True).first()
    assert ScanCursor.objects.get(name="callbacks").position == last_read


def test_one_open_callback_per_case_and_the_sla_without_a_time(
    workspace: Workspace, agent: Agent, clock: Clock, ingest: Ingest
) -> None:
    case = write(ingest, workspace, "a-1", "Can someone call me? The heater is dead")
    write(ingest, workspace, "a-2", "Still waiting. Please call me back!", minutes=5)
    case.refresh_from_db()
    deadline = case.escalation_at
    assert deadline is not None
    clock.advance(minutes=3)
    assert run_followthrough().callbacks == 1
    order = WorkOrder.objects.get()
    assert (order.customer_label, order.due_at) == ("We will call you back", deadline)
    first = case.messages.order_by("id").first()
    assert first is not None and order.idempotency_key == f"callback-message-{first.pk}"


def test_a_case_without_a_team_uses_the_default_team(
    workspace: Workspace, agent: Agent, clock: Clock, ingest: Ingest
) -> None:
    case = write(ingest, workspace, "a-1", "give me a call at 4pm please")
    Case.objects.filter(pk=case.pk).update(team=None)
    clock.advance(minutes=3)
    run_followthrough()
    order = WorkOrder.objects.get()
    assert order.team == workspace.teams.get(is_default=True)
    assert order.due_at == datetime(2026, 11, 2, 16, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "text",
    [
        "See https://help.acme.test/dryers for the reset steps.",
        "Please visit our website, everything is explained there.",
        "Our help center has an article on this: www.acme.test/help",
    ],
)
def test_answering_a_callback_request_with_only_a_link_is_stopped(
    workspace: Workspace, agent: Agent, clock: Clock, ingest: Ingest, text: str
) -> None:
    case = write(ingest, workspace, "a-1", "Call me back please, I can't type all this")
    with pytest.raises(ToneBlocked) as blocked:
        submit_reply(case=case, agent=agent, text=text, visibility="public", idempotency_key="k-1")
    (issue,) = blocked.value.verdict.issues
    assert issue.kind == "callback_deflection"
    assert "called back" in issue.explanation
    assert "call you at 3 pm" in blocked.value.verdict.suggestion
    assert OutboxMessage.objects.count() == 0
    event = CaseEvent.objects.get(case=case, type=CaseEvent.Type.REPLY_BLOCKED)
    assert event.params["reasons"][0]["kind"] == "callback_deflection"


def test_the_check_applies_while_a_callback_is_open_and_only_then(
    workspace: Workspace,
    other_workspace: Workspace,
    agent: Agent,
    outsider: Agent,
    clock: Clock,
    ingest: Ingest,
) -> None:
    case = write(ingest, workspace, "a-1", "call me at 3pm")
    other = write(ingest, other_workspace, "b-1", "How do I reset my dryer?", author="u-2")
    clock.advance(minutes=3)
    run_followthrough()
    write(ingest, workspace, "a-2", "Also, the door squeaks", minutes=2)
    link = "The steps are here: https://help.acme.test/reset"
    with pytest.raises(ToneBlocked):
        submit_reply(case=case, agent=agent, text=link, visibility="public", idempotency_key="k-1")
    fine = "We'll call you at 3pm today. The steps are also here: https://help.acme.test/reset"
    submit_reply(case=case, agent=agent, text=fine, visibility="public", idempotency_key="k-2")
    submit_reply(case=other, agent=outsider, text=link, visibility="public", idempotency_key="k-3")
    assert OutboxMessage.objects.count() == 2


def test_the_api_reports_the_deflection_like_any_tone_issue(
    client: Client, workspace: Workspace, agent: Agent, clock: Clock, ingest: Ingest
) -> None:
    case = write(ingest, workspace, "a-1", "ring me after 5pm please")
    response = client.post(
        f"/api/v1/cases/{case.public_id}/replies",
        data={"text": "Visit our website", "visibility": "public", "idempotency_key": "key-00001"},
        content_type="application/json",
        headers={"Authorization": f"Bearer {issue_token(agent=agent)}"},
    )
    assert response.status_code == 422
    assert [issue["kind"] for issue in response.json()["issues"]] == ["callback_deflection"]
    assert OutboxMessage.objects.count() == 0
