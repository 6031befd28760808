"""Made whole: propose resolution, ask the customer, close on yes or after the quiet
period, reopen with history on anything else — with two workspaces and two customers."""

from collections.abc import Callable
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied

from conftest import record
from fairdesk.cases.models import Case, CaseEvent, CaseStatus, Direction, Message
from fairdesk.followthrough.models import Resolution, WorkOrder
from fairdesk.followthrough.resolution import (
    CLOSED_QUIETLY,
    QUESTION,
    THANKS,
    ResolutionRefused,
    propose_resolution,
)
from fairdesk.followthrough.satisfaction import QUESTION as CSAT_QUESTION
from fairdesk.followthrough.services import update_work_order
from fairdesk.followthrough.tasks import StepResult, run_followthrough
from fairdesk.followthrough.tests.conftest import SECRET, Clock, outbound_texts
from fairdesk.replies.models import OutboxMessage
from fairdesk.replies.sender import send_pending
from fairdesk.workspaces.models import Agent, Workspace

NOTHING = StepResult(confirmed=0, quiet_closed=0, reopened=0, callbacks=0, updates=0)
Ingest = Callable[[Workspace, list[dict[str, Any]]], int]


def open_case(ingest: Ingest, workspace: Workspace, **fields: Any) -> Case:
    fields.setdefault("external_id", f"{workspace.slug}-1")
    fields.setdefault("text", "My dryer stopped heating after the repair")
    ingest(workspace, [record(**fields)])
    return Case.objects.filter(workspace=workspace).latest("id")


def question_of(resolution: Resolution) -> OutboxMessage:
    assert resolution.question is not None
    return OutboxMessage.objects.select_related("message").get(pk=resolution.question.pk)


def answer(ingest: Ingest, workspace: Workspace, text: str, **fields: Any) -> None:
    """The customer writes back, replying to our question as the platform would."""
    send_pending()
    question = (
        Message.objects.filter(workspace=workspace, direction=Direction.OUTBOUND)
        .exclude(external_id=None)
        .latest("id")
    )
    fields.setdefault("in_reply_to", question.external_id)
    fields.setdefault("minutes", 120)
    ingest(workspace, [record(text=text, **fields)])


def test_resolution_is_refused_while_work_is_open(
    workspace: Workspace, agent: Agent, clock: Clock, ingest: Ingest, new_order: Any
) -> None:
    case = open_case(ingest, workspace)
    shipment = new_order(case, "key-ship-1")
    visit = new_order(case, "key-visit-1", kind="technician_visit", customer_label="Visit")
    with pytest.raises(ResolutionRefused) as refused:
        propose_resolution(case=case, agent=agent)
    assert {order.pk for order in refused.value.open_orders} == {shipment.pk, visit.pk}
    update_work_order(work_order=shipment, actor=agent, status=WorkOrder.Status.DONE)
    with pytest.raises(ResolutionRefused):
        propose_resolution(case=case, agent=agent)
    assert not Resolution.objects.exists()
    case.refresh_from_db()
    assert case.status == CaseStatus.PENDING_INTERNAL
    update_work_order(work_order=visit, actor=agent, status=WorkOrder.Status.CANCELLED)
    resolution = propose_resolution(case=case, agent=agent)
    assert resolution.outcome == Resolution.Outcome.PENDING


def test_proposal_resolves_and_asks_on_the_customers_channel(
    workspace: Workspace, agent: Agent, clock: Clock, ingest: Ingest
) -> None:
    case = open_case(ingest, workspace, handle="@<b>dana</b>")
    clock.advance(minutes=30)
    resolution = propose_resolution(case=case, agent=agent)
    case.refresh_from_db()
    assert (case.status, case.resolved_at, case.escalation_at) == ("resolved", clock.now, None)
    assert (resolution.proposed_by, resolution.proposed_at) == (agent, clock.now)
    outbox = question_of(resolution)
    text = QUESTION.format(reference=case.reference, days=7, initials="JC")
    assert outbox.message.text == text
    assert "Is this fixed for you?" in text and text.endswith("^JC")
    assert (outbox.channel, outbox.message.visibility) == ("x", "public")
    assert (outbox.message.in_reply_to, outbox.author, outbox.message.agent) == (
        "acme-1",
        agent,
        agent,
    )
    assert outbox.tone_verdict["allowed"] is True
    assert outbox.tone_verdict["automatic"] == "resolution_question"
    event = CaseEvent.objects.get(case=case, type=CaseEvent.Type.STATUS_CHANGED)
    assert event.params == {
        "status": "resolved",
        "previous": "new",
        "reason": "resolution_proposed",
        "resolution": str(resolution.public_id),
    }
    assert event.actor == agent
    assert propose_resolution(case=case, agent=agent).pk == resolution.pk
    assert OutboxMessage.objects.count() == 1


def test_outsider_and_closed_cases_are_refused(
    workspace: Workspace, agent: Agent, outsider: Agent, clock: Clock, ingest: Ingest
) -> None:
    case = open_case(ingest, workspace)
    with pytest.raises(PermissionDenied):
        propose_resolution(case=case, agent=outsider)
    Case.objects.filter(pk=case.pk).update(status=CaseStatus.CLOSED)
    case.refresh_from_db()
    with pytest.raises(ResolutionRefused, match="A closed case cannot be resolved"):
        propose_resolution(case=case, agent=agent)
    assert (Resolution.objects.count(), OutboxMessage.objects.count()) == (0, 0)


def test_a_yes_closes_the_case_and_thanks_the_customer(
    workspace: Workspace,
    other_workspace: Workspace,
    agent: Agent,
    outsider: Agent,
    clock: Clock,
    ingest: Ingest,
) -> None:
    case = open_case(ingest, workspace)
    other = open_case(ingest, other_workspace, author="u-2", handle="@lee")
    resolution = propose_resolution(case=case, agent=agent)
    other_resolution = propose_resolution(case=other, agent=outsider)
    clock.advance(hours=2)
    answer(ingest, workspace, "Yes, it works now — thank you!", external_id="acme-2")
    case.refresh_from_db()
    assert case.status == CaseStatus.OPEN  # the pipeline reopened it; the step decides
    assert run_followthrough() == StepResult(
        confirmed=1, quiet_closed=0, reopened=0, callbacks=0, updates=0
    )
    case.refresh_from_db()
    resolution.refresh_from_db()
    assert (case.status, case.closed_at, case.resolved_at) == (
        "closed",
        clock.now,
        resolution.proposed_at,
    )
    assert (case.awaiting_since, case.escalation_at) == (None, None)
    assert resolution.outcome == Resolution.Outcome.CONFIRMED
    assert resolution.decided_at == clock.now
    assert resolution.answer == Message.objects.get(external_id="acme-2")
    assert outbound_texts(case)[-1] == (
        f"{THANKS.format(reference=case.reference)} {CSAT_QUESTION}"
    )
    assert resolution.csat_question == OutboxMessage.objects.get(
        message__text__contains="1 (poor) to 5 (great)"
    )
    other_resolution.refresh_from_db()
    assert other_resolution.outcome == Resolution.Outcome.PENDING
    assert Case.objects.get(pk=other.pk).status == CaseStatus.RESOLVED
    events = CaseEvent.objects.filter(case=case, type=CaseEvent.Type.STATUS_CHANGED)
    assert [e.params["reason"] for e in events] == ["resolution_proposed", "customer_confirmed"]
    rows = OutboxMessage.objects.count()
    assert run_followthrough() == NOTHING
    assert OutboxMessage.objects.count() == rows


@pytest.mark.parametrize(
    "reply",
    [
        "No, it is still not heating",
        "Thanks, but it broke again this morning",
        "Is the technician coming back?",
        "<script>alert(1)</script>",
        '=HYPERLINK("http://evil.test","yes")\r\nBcc: x@evil.test',
    ],
)
def test_anything_else_reopens_the_case_with_its_history(
    workspace: Workspace, agent: Agent, clock: Clock, ingest: Ingest, reply: str
) -> None:
    case = open_case(ingest, workspace)
    resolution = propose_resolution(case=case, agent=agent)
    clock.advance(hours=1)
    answer(ingest, workspace, reply, external_id="acme-2")
    result = run_followthrough()
    assert result == StepResult(confirmed=0, quiet_closed=0, reopened=1, callbacks=0, updates=0)
    case.refresh_from_db()
    resolution.refresh_from_db()
    assert case.status == CaseStatus.OPEN and case.resolved_at is None
    assert case.escalation_at is not None  # back in the queue with its deadlines
    assert resolution.outcome == Resolution.Outcome.REOPENED
    assert resolution.answer == Message.objects.get(external_id="acme-2")
    assert list(case.messages.order_by("id").values_list("direction", flat=True)) == [
        "inbound",
        "outbound",
        "inbound",
    ]
    rejected = CaseEvent.objects.filter(case=case, type=CaseEvent.Type.STATUS_CHANGED).last()
    assert rejected is not None and rejected.params["reason"] == "customer_replied"
    assert run_followthrough() == NOTHING


def test_a_private_answer_without_a_reply_reference_reaches_the_resolved_case(
    workspace: Workspace, agent: Agent, clock: Clock, ingest: Ingest
) -> None:
    """X direct messages carry no in-reply-to: the customer's DM must still find the
    resolved case rather than open a new one."""
    case = open_case(ingest, workspace, visibility="private")
    resolution = propose_resolution(case=case, agent=agent)
    assert question_of(resolution).message.visibility == "private"
    clock.advance(hours=1)
    answer(
        ingest,
        workspace,
        "yes all good now, thanks",
        external_id="acme-2",
        in_reply_to=None,
        visibility="private",
    )
    assert Case.objects.filter(workspace=workspace).count() == 1
    run_followthrough()
    resolution.refresh_from_db()
    assert resolution.outcome == Resolution.Outcome.CONFIRMED


def test_quiet_cases_close_after_the_configured_period(
    workspace: Workspace, agent: Agent, clock: Clock, ingest: Ingest, settings: Any
) -> None:
    settings.FAIRDESK_QUIET_CLOSE_DAYS = 2
    case = open_case(ingest, workspace)
    resolution = propose_resolution(case=case, agent=agent)
    assert "close the case in 2 days" in question_of(resolution).message.text
    clock.advance(days=2, seconds=-1)
    assert run_followthrough() == NOTHING
    clock.advance(seconds=1)
    assert run_followthrough() == StepResult(
        confirmed=0, quiet_closed=1, reopened=0, callbacks=0, updates=0
    )
    assert run_followthrough() == NOTHING
    case.refresh_from_db()
    resolution.refresh_from_db()
    assert (case.status, case.closed_at) == ("closed", clock.now)
    assert (resolution.outcome, resolution.decided_at, resolution.answer) == (
        "quiet_closed",
        clock.now,
        None,
    )
    # No thanks for silence: a short closing note that asks how we did.
    assert outbound_texts(case)[1:] == [
        f"{CLOSED_QUIETLY.format(reference=case.reference)} {CSAT_QUESTION}"
    ]
    assert resolution.csat_question is not None


def test_new_work_on_a_resolved_case_undoes_the_proposal(
    workspace: Workspace, agent: Agent, clock: Clock, ingest: Ingest, new_order: Any
) -> None:
    case = open_case(ingest, workspace)
    resolution = propose_resolution(case=case, agent=agent)
    new_order(case, "key-late-1")
    case.refresh_from_db()
    assert case.status == CaseStatus.PENDING_INTERNAL
    assert case.resolved_at is None and case.escalation_at is not None
    assert run_followthrough().reopened == 1
    resolution.refresh_from_db()
    assert (resolution.outcome, resolution.answer) == ("reopened", None)
    event = CaseEvent.objects.filter(case=case, type=CaseEvent.Type.STATUS_CHANGED).last()
    assert event is not None and event.params["reason"] == "case_reopened"


def test_no_automatic_text_carries_internal_notes_or_titles(
    workspace: Workspace, agent: Agent, clock: Clock, ingest: Ingest, new_order: Any
) -> None:
    case = open_case(ingest, workspace)
    Message.objects.create(
        workspace=workspace,
        case=case,
        channel="x",
        direction=Direction.OUTBOUND,
        visibility="internal",
        agent=agent,
        text=f"{SECRET}: customer is on the fraud watch list",
        sent_at=clock.now,
    )
    order = new_order(case, "key-secret-1")
    clock.advance(minutes=5)
    run_followthrough()
    update_work_order(work_order=order, actor=agent, status=WorkOrder.Status.DONE)
    clock.advance(minutes=40)
    run_followthrough()
    propose_resolution(case=case, agent=agent)
    clock.advance(minutes=5)
    answer(ingest, workspace, "yes thanks", external_id="acme-2")
    run_followthrough()
    automatic = list(
        OutboxMessage.objects.filter(case=case).values_list("message__text", flat=True)
    )
    assert len(automatic) == 4  # update, update, question, thanks
    assert all(SECRET not in text and "margin" not in text for text in automatic)
