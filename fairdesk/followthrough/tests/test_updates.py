"""Expectation updates: coalesced, rate-limited, customer-facing only, on the customer's
channel — with two workspaces and two customers."""

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from conftest import record
from fairdesk.cases.models import Case, CaseEvent, Direction
from fairdesk.followthrough.models import ExpectationUpdate, WorkOrder
from fairdesk.followthrough.services import update_work_order
from fairdesk.followthrough.tasks import run_followthrough
from fairdesk.followthrough.tests.conftest import SECRET, Clock, outbound_texts
from fairdesk.followthrough.updates import send_due_updates
from fairdesk.replies.models import OutboxMessage
from fairdesk.workspaces.models import Agent, Workspace

Ingest = Callable[[Workspace, list[dict[str, Any]]], int]


def open_case(ingest: Ingest, workspace: Workspace, **fields: Any) -> Case:
    fields.setdefault("external_id", f"{workspace.slug}-1")
    fields.setdefault("text", "My dryer stopped heating")
    ingest(workspace, [record(**fields)])
    return Case.objects.filter(workspace=workspace).latest("id")


def test_five_changes_in_a_minute_send_one_update_and_a_later_change_another(
    workspace: Workspace, agent: Agent, clock: Clock, ingest: Ingest, new_order: Any
) -> None:
    case = open_case(ingest, workspace)
    order = new_order(case, "key-ship-1")
    for seconds, label in enumerate(["Part ordered", "Part packed", "Part shipped", "Part out"]):
        clock.advance(seconds=12)
        update_work_order(
            work_order=order,
            actor=agent,
            customer_label=label,
            due_at=order.due_at + timedelta(hours=seconds + 1),
        )
    assert send_due_updates(now=clock.now) == 0  # still settling
    clock.advance(minutes=2)
    assert run_followthrough().updates == 1
    assert run_followthrough().updates == 0
    case.refresh_from_db()
    assert outbound_texts(case) == [
        f"Update on your case {case.reference}: We are working on it. Next step: Part out. "
        "Expected by Wed 04 Nov 2026, 14:00 UTC. Reply here any time if something is not right."
    ]
    clock.advance(minutes=10)
    update_work_order(work_order=order, actor=agent, customer_label="Part at the depot")
    clock.advance(minutes=5)
    assert run_followthrough().updates == 0  # at most one per 30 minutes
    clock.advance(minutes=16)
    assert run_followthrough().updates == 1
    assert outbound_texts(case)[-1].startswith(
        f"Update on your case {case.reference}: We are working on it. Next step: Part at the depot."
    )
    assert OutboxMessage.objects.filter(case=case, author=None).count() == 2


def test_internal_changes_send_nothing(
    workspace: Workspace, agent: Agent, clock: Clock, ingest: Ingest, new_order: Any
) -> None:
    case = open_case(ingest, workspace)
    order = new_order(case, "key-ship-1")
    clock.advance(minutes=3)
    run_followthrough()
    clock.advance(hours=2)
    update_work_order(work_order=order, actor=agent, owner=agent, external_ref=f"{SECRET}-77")
    update_work_order(work_order=order, actor=agent, status=WorkOrder.Status.IN_PROGRESS)
    clock.advance(hours=2)
    assert run_followthrough().updates == 0
    assert ExpectationUpdate.objects.get(case=case).due_at is None
    assert len(outbound_texts(case)) == 1


def test_a_change_undone_before_the_update_sends_nothing(
    workspace: Workspace, agent: Agent, clock: Clock, ingest: Ingest, new_order: Any
) -> None:
    case = open_case(ingest, workspace)
    order = new_order(case, "key-ship-1")
    clock.advance(minutes=3)
    run_followthrough()
    update_work_order(work_order=order, actor=agent, customer_label="Part delayed")
    update_work_order(work_order=order, actor=agent, customer_label="Replacement part on its way")
    clock.advance(hours=1)
    assert run_followthrough().updates == 0
    assert len(outbound_texts(case)) == 1


def test_updates_follow_each_customers_channel_and_stay_in_their_workspace(
    workspace: Workspace,
    other_workspace: Workspace,
    agent: Agent,
    outsider: Agent,
    clock: Clock,
    ingest: Ingest,
    new_order: Any,
) -> None:
    dana = open_case(ingest, workspace, channel="mastodon", visibility="private")
    lee = open_case(ingest, other_workspace, author="u-2", handle="@lee")
    new_order(dana, "key-ship-1")
    new_order(lee, "key-ship-1", customer_label="Engineer visit booked")
    clock.advance(minutes=3)
    assert run_followthrough().updates == 2
    dana_update = OutboxMessage.objects.select_related("message").get(case=dana)
    lee_update = OutboxMessage.objects.select_related("message").get(case=lee)
    assert (dana_update.channel, dana_update.message.visibility) == ("mastodon", "private")
    assert (lee_update.channel, lee_update.message.visibility) == ("x", "public")
    assert (dana_update.workspace_id, lee_update.workspace_id) == (workspace.pk, other_workspace.pk)
    assert "Replacement part on its way" in dana_update.message.text
    assert "Engineer visit booked" in lee_update.message.text
    assert "Replacement part" not in lee_update.message.text
    assert dana_update.message.in_reply_to == "acme-1"
    assert dana_update.author is None and dana_update.message.agent is None


def test_a_label_the_tone_guard_stops_is_not_sent_and_agents_see_why(
    workspace: Workspace, agent: Agent, clock: Clock, ingest: Ingest, new_order: Any
) -> None:
    case = open_case(ingest, workspace)
    new_order(case, "key-ship-1", customer_label="Part on its way, obviously your fault")
    clock.advance(minutes=3)
    assert run_followthrough().updates == 0
    assert outbound_texts(case) == []
    event = CaseEvent.objects.get(case=case, type=CaseEvent.Type.REPLY_BLOCKED)
    assert event.params["automatic"] == "expectations_update"
    assert [reason["kind"] for reason in event.params["reasons"]] == ["condescension", "blame"]
    assert run_followthrough().updates == 0
    assert CaseEvent.objects.filter(type=CaseEvent.Type.REPLY_BLOCKED).count() == 1


def test_hostile_labels_stay_plain_text(
    workspace: Workspace, agent: Agent, clock: Clock, ingest: Ingest, new_order: Any
) -> None:
    case = open_case(ingest, workspace, handle="@<img src=x onerror=alert(1)>")
    label = "<script>alert(1)</script>\r\nBcc: x@evil.test =1+1"
    new_order(case, "key-ship-1", customer_label=label)
    clock.advance(minutes=3)
    run_followthrough()
    (text,) = outbound_texts(case)
    assert f"Next step: {label}." in text  # stored as written; every page escapes it
    assert "<img" not in text
    assert Case.objects.get(pk=case.pk).messages.filter(direction=Direction.OUTBOUND).count() == 1
