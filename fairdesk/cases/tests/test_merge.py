"""Merging and splitting cases, and undoing both: nothing lost, every row back exactly.

Two workspaces and two customers in every fixture: Dana (two cases at Acme), Bob (one
case at Acme) and Dana's look-alike at Globex (same X account, other tenant).
"""

import json
import threading
import uuid
from dataclasses import asdict
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection, models
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from fairdesk.cases.merge import MergeRefused, merge_cases, split_case, undo, unmerge
from fairdesk.cases.models import Case, CaseEvent, CaseStatus, Direction, Message, Visibility
from fairdesk.cases.tests.factories import add_inbound, make_case
from fairdesk.contacts.models import Contact, ContactIdentity
from fairdesk.followthrough.models import ExpectationUpdate, Resolution, WorkOrder
from fairdesk.portal import services as portal_services
from fairdesk.portal.models import CsatResponse, PortalLink
from fairdesk.replies.models import OutboxMessage
from fairdesk.replies.outbound import build_request
from fairdesk.replies.services import submit_reply
from fairdesk.routing.models import Escalation
from fairdesk.workspaces.models import Agent, Workspace
from fairdesk.workspaces.services import issue_token

HOSTILE = "<script>alert('x')</script>\r\nSet-Cookie: evil=1 =HYPERLINK(\"http://x\")"
NOTE = "INTERNAL: customer is a known chargeback risk, do not refund"
TABLES: tuple[type[models.Model], ...] = (
    Case,
    Message,
    CaseEvent,
    OutboxMessage,
    WorkOrder,
    Resolution,
    ExpectationUpdate,
    Escalation,
    PortalLink,
    CsatResponse,
    Contact,
    ContactIdentity,
)


def snapshot_tables(tables: tuple[type[models.Model], ...] = TABLES) -> dict[str, Any]:
    """Every row of every table, every column."""
    return {
        model._meta.label: {
            row.pk: {f.attname: getattr(row, f.attname) for f in model._meta.concrete_fields}
            for row in model._base_manager.all()
        }
        for model in tables
    }


def without_new_events(after: dict[str, Any], before: dict[str, Any]) -> dict[str, Any]:
    """The log only grows: compare the rows that existed before."""
    events = {
        pk: row for pk, row in after["cases.CaseEvent"].items() if pk in before["cases.CaseEvent"]
    }
    return {**after, "cases.CaseEvent": events}


def second_case(
    first: Case, *, text: str, external_id: str, minutes_ago: int, **fields: Any
) -> Case:
    """Another case of the same contact, on the same identity, with deadlines."""
    from fairdesk.cases.lifecycle import refresh_deadlines
    from fairdesk.routing.queries import targets_table

    at = timezone.now() - timedelta(minutes=minutes_ago)
    case = Case(
        workspace_id=first.workspace_id,
        contact_id=first.contact_id,
        team_id=first.team_id,
        subject=text,
        origin_channel="x",
        first_inbound_at=at,
        last_inbound_at=at,
        awaiting_since=at,
        **fields,
    )
    refresh_deadlines(case, targets_table(first.workspace))
    case.save()
    identity = ContactIdentity.objects.get(contact_id=first.contact_id, channel="x")
    add_inbound(case, identity, text=text, external_id=external_id, at=at)
    return case


@pytest.fixture
def dana(workspace: Workspace) -> Case:
    return make_case(workspace, text="Heater broken", handle="@dana", external_id="d-1")


@pytest.fixture
def dana_again(dana: Case) -> Case:
    return second_case(dana, text="Also the bill is wrong", external_id="d-2", minutes_ago=90)


@pytest.fixture
def bob(workspace: Workspace) -> Case:
    return make_case(
        workspace, text="Bob: dryer broken", handle="@bob", name="Bob", external_id="b-1"
    )


@pytest.fixture
def globex_dana(other_workspace: Workspace) -> Case:
    return make_case(other_workspace, text="Globex secret order", handle="@dana", external_id="d-1")


def _busy(case: Case, agent: Agent) -> None:
    """Give a case one of every kind of row that points at it."""
    submit_reply(
        case=case,
        agent=agent,
        text="We are on it.",
        visibility="public",
        idempotency_key=f"r-{case.pk}",
    )
    WorkOrder.objects.create(
        workspace_id=case.workspace_id,
        case=case,
        kind="refund",
        team=case.workspace.teams.get(is_default=True),
        title="Refund the bill",
        customer_label="Refund on its way",
        due_at=timezone.now() + timedelta(days=2),
        idempotency_key=f"wo-{case.pk}",
    )
    portal_services.send_portal_link(
        case=case, agent=agent, base_url="http://testserver/", idempotency_key=f"pl-{case.pk}"
    )
    ExpectationUpdate.objects.create(
        workspace_id=case.workspace_id, case=case, due_at=timezone.now() + timedelta(minutes=2)
    )
    Resolution.objects.create(
        workspace_id=case.workspace_id, case=case, proposed_at=timezone.now() - timedelta(days=1)
    )
    Escalation.objects.create(workspace_id=case.workspace_id, case=case, deadline=timezone.now())
    CsatResponse.objects.create(
        workspace_id=case.workspace_id, case=case, contact_id=case.contact_id, score=4
    )
    Message.objects.create(
        workspace_id=case.workspace_id,
        case=case,
        channel="x",
        direction=Direction.OUTBOUND,
        visibility=Visibility.INTERNAL,
        agent=agent,
        text=NOTE,
        sent_at=timezone.now(),
    )


# --- merge and undo ----------------------------------------------------------------------


def test_merge_moves_every_row_and_undo_restores_every_row_exactly(
    dana: Case, dana_again: Case, bob: Case, globex_dana: Case, agent: Agent
) -> None:
    _busy(dana_again, agent)
    _busy(bob, agent)
    source_rows = {
        "messages": set(dana_again.messages.values_list("pk", flat=True)),
        "orders": set(dana_again.work_orders.values_list("pk", flat=True)),
        "links": set(dana_again.portal_links.values_list("pk", flat=True)),
        "outbox": set(dana_again.outbox.values_list("pk", flat=True)),
    }
    before = snapshot_tables()

    event = merge_cases(source=dana_again, target=dana, actor=agent, reason="same person")

    dana_again.refresh_from_db()
    assert dana_again.status == CaseStatus.MERGED
    assert dana_again.merged_into_id == dana.pk
    assert dana_again.escalation_at is None
    assert set(dana.messages.values_list("pk", flat=True)) >= source_rows["messages"]
    assert set(dana.work_orders.values_list("pk", flat=True)) == source_rows["orders"]
    assert set(dana.portal_links.values_list("pk", flat=True)) == source_rows["links"]
    assert set(dana.outbox.values_list("pk", flat=True)) == source_rows["outbox"]
    assert CsatResponse.objects.get(case=dana).score == 4
    assert Resolution.objects.filter(case=dana).count() == 1
    # What describes the source itself stays with it; its pending update is held.
    assert Escalation.objects.filter(case=dana_again).count() == 1
    assert ExpectationUpdate.objects.get(case=dana_again).due_at is None
    assert dana_again.messages.count() == 0
    assert list(dana_again.events.values_list("type", "params__into")) == [
        ("merged", dana.reference)
    ]
    # Bob and Globex are untouched.
    after = snapshot_tables()
    for label in ("cases.Message", "followthrough.WorkOrder", "portal.PortalLink"):
        others = {
            pk: row
            for pk, row in after[label].items()
            if row["case_id"] in (bob.pk, globex_dana.pk)
        }
        assert others == {
            pk: row
            for pk, row in before[label].items()
            if row["case_id"] in (bob.pk, globex_dana.pk)
        }

    unmerge(event=event, actor=agent)

    assert without_new_events(snapshot_tables(), before) == before
    types = list(CaseEvent.objects.filter(case=dana).values_list("type", flat=True))
    assert types[-2:] == ["merged", "merge_undone"]
    with pytest.raises(MergeRefused, match="already undone"):
        unmerge(event=event, actor=agent)


def test_undo_from_the_source_side_and_refusal_once_the_target_changed(
    dana: Case, dana_again: Case, agent: Agent
) -> None:
    event = merge_cases(source=dana_again, target=dana, actor=agent)
    source_event = CaseEvent.objects.get(case=dana_again, type="merged")
    Case.objects.filter(pk=dana.pk).update(severity="critical")  # someone escalated it since
    before = snapshot_tables()
    with pytest.raises(MergeRefused, match="changed since the merge"):
        undo(event=source_event, actor=agent)
    assert snapshot_tables() == before
    Case.objects.filter(pk=dana.pk).update(
        severity=event.params["undo"]["after"]["target"]["severity"]
    )
    restored = undo(event=source_event, actor=agent)
    assert restored.pk == dana_again.pk
    assert restored.status == CaseStatus.NEW
    assert restored.messages.count() == 1


def test_merge_keeps_the_earliest_wait_and_deadlines(
    dana: Case, dana_again: Case, agent: Agent
) -> None:
    # dana_again asked 90 minutes ago, dana 30 minutes ago: the earlier wait wins.
    dana.refresh_from_db()
    earliest = {
        name: min(getattr(dana, name), getattr(dana_again, name))
        for name in (
            "first_inbound_at",
            "awaiting_since",
            "first_response_due_at",
            "resolution_due_at",
            "escalation_at",
        )
    }
    merge_cases(source=dana_again, target=dana, actor=agent)
    dana.refresh_from_db()
    assert {name: getattr(dana, name) for name in earliest} == earliest
    assert dana.escalation_at == dana_again.escalation_at
    assert dana.last_inbound_at == max(dana.last_inbound_at, dana_again.last_inbound_at)

    # The other way round: merging the later case into the earlier one moves nothing later.
    third = second_case(dana, text="And the app crashes", external_id="d-3", minutes_ago=5)
    merge_cases(source=third, target=dana, actor=agent)
    dana.refresh_from_db()
    assert dana.escalation_at == earliest["escalation_at"]
    assert dana.first_inbound_at == earliest["first_inbound_at"]


def test_merging_never_raises_severity_by_count(dana: Case, agent: Agent) -> None:
    Case.objects.filter(pk=dana.pk).update(severity="normal")
    dana.refresh_from_db()
    repeats = [
        second_case(
            dana,
            text="Heater broken!!!",
            external_id=f"rep-{i}",
            minutes_ago=10 + i,
            severity="normal",
        )
        for i in range(3)
    ]
    for case in repeats:
        merge_cases(source=case, target=dana, actor=agent)
    dana.refresh_from_db()
    assert dana.severity == "normal"
    assert dana.messages.count() == 4
    # What is wrong still counts: a security report merged in keeps its severity,
    # never more than the most severe of the two.
    security = second_case(
        dana, text="I can see other accounts", external_id="sec", minutes_ago=1, severity="critical"
    )
    merge_cases(source=security, target=dana, actor=agent)
    dana.refresh_from_db()
    assert dana.severity == "critical"


def test_merge_refused_across_workspaces_contacts_and_states_changes_nothing(
    dana: Case, dana_again: Case, bob: Case, globex_dana: Case, agent: Agent, outsider: Agent
) -> None:
    before = snapshot_tables()
    cases = [
        (dana, globex_dana, agent, "No such case"),
        (globex_dana, dana, outsider, "No such case"),
        (dana, bob, agent, "merge the contacts first"),
        (dana, dana, agent, "into itself"),
    ]
    for source, target, actor, why in cases:
        with pytest.raises(MergeRefused, match=why):
            merge_cases(source=source, target=target, actor=actor)
    Case.objects.filter(pk=dana.pk).update(status=CaseStatus.CLOSED)
    dana.refresh_from_db()
    with pytest.raises(MergeRefused, match="merge it into"):
        merge_cases(source=dana_again, target=dana, actor=agent)
    Case.objects.filter(pk=dana.pk).update(status=before["cases.Case"][dana.pk]["status"])
    with pytest.raises(MergeRefused, match="under 300"):
        merge_cases(source=dana_again, target=dana, actor=agent, reason="x" * 301)
    assert snapshot_tables() == before
    for case in (dana, dana_again):
        Resolution.objects.create(
            workspace_id=case.workspace_id, case=case, proposed_at=timezone.now()
        )
    before = snapshot_tables()
    with pytest.raises(MergeRefused, match="settle one first"):
        merge_cases(source=dana_again, target=dana, actor=agent)
    assert snapshot_tables() == before


def test_internal_notes_never_reach_an_outbound_payload_after_merge(
    dana: Case, dana_again: Case, bob: Case, agent: Agent
) -> None:
    _busy(dana_again, agent)
    merge_cases(source=dana_again, target=dana, actor=agent)
    dana.refresh_from_db()
    for visibility in ("public", "private"):
        outbox = submit_reply(
            case=dana,
            agent=agent,
            text="Both are fixed now.",
            visibility=visibility,
            idempotency_key=visibility,
        )
        request = build_request(outbox)
        payload = json.dumps(asdict(request), default=str)
        assert NOTE not in payload
        assert "chargeback" not in payload
        assert request.recipient is not None
        assert request.recipient.handle == "@dana"  # never Bob


# --- split -------------------------------------------------------------------------------


def test_split_moves_messages_with_their_replies_keeps_their_times_and_undoes(
    dana: Case, bob: Case, agent: Agent
) -> None:
    identity = ContactIdentity.objects.get(contact_id=dana.contact_id)
    earlier = timezone.now() - timedelta(hours=5)
    billing = add_inbound(
        dana, identity, text="Separate: my invoice is wrong", external_id="d-9", at=earlier
    )
    billing.triage = {"signals": [], "intent": "question", "topic": "billing"}
    billing.save(update_fields=["triage"])
    reply = Message.objects.create(
        workspace_id=dana.workspace_id,
        case=dana,
        channel="x",
        direction=Direction.OUTBOUND,
        visibility=Visibility.PUBLIC,
        in_reply_to="d-9",
        external_id="brand-1",
        text="Looking at the invoice",
        sent_at=earlier + timedelta(minutes=10),
    )
    follow_up = add_inbound(
        dana, identity, text="Thanks", external_id="d-10", at=earlier + timedelta(minutes=20)
    )
    Message.objects.filter(pk=follow_up.pk).update(
        in_reply_to="brand-1", triage={"signals": [], "intent": "thanks"}
    )
    before = snapshot_tables()

    done = split_case(case=dana, message_ids=[billing.pk], actor=agent, reason=HOSTILE)

    new = done.case
    assert done.moved == 3
    assert set(new.messages.values_list("pk", flat=True)) == {billing.pk, reply.pk, follow_up.pk}
    assert new.contact_id == dana.contact_id
    assert new.first_inbound_at == earlier  # the messages' own times, not now
    assert new.awaiting_since == earlier + timedelta(minutes=20)
    assert new.first_response_at == earlier + timedelta(minutes=10)
    assert new.severity == "normal"  # from what the moved message says
    assert new.topic == "billing"
    assert new.escalation_at is not None and new.escalation_at < timezone.now() + timedelta(days=1)
    assert dana.messages.count() == 1

    undo(event=done.event, actor=agent)
    new.refresh_from_db()
    assert new.status == CaseStatus.MERGED and new.merged_into_id == dana.pk
    after = snapshot_tables()
    assert after["cases.Message"] == before["cases.Message"]
    assert {k: v for k, v in after["cases.Case"].items() if k != new.pk} == before["cases.Case"]
    with pytest.raises(MergeRefused, match="already undone"):
        undo(event=done.event, actor=agent)


def test_split_refuses_bad_choices_and_changes_nothing(
    dana: Case, bob: Case, globex_dana: Case, agent: Agent, outsider: Agent
) -> None:
    bob_message = bob.messages.get()
    before = snapshot_tables()
    refusals = [
        (dana, [bob_message.pk], agent, "not on this case"),
        (dana, [globex_dana.messages.get().pk], agent, "not on this case"),
        (dana, [dana.messages.get().pk], agent, "at least one message"),
        (dana, [], agent, "between 1 and"),
        (dana, [dana.messages.get().pk], outsider, "No such case"),
    ]
    for case, ids, actor, why in refusals:
        with pytest.raises(MergeRefused, match=why):
            split_case(case=case, message_ids=ids, actor=actor)
    assert snapshot_tables() == before


# --- pages and API -----------------------------------------------------------------------


def _client(agent: Agent) -> Client:
    client = Client(enforce_csrf_checks=False)
    client.force_login(agent.user)
    return client


def test_merge_and_undo_through_the_case_page_escape_hostile_reason(
    dana: Case, dana_again: Case, agent: Agent
) -> None:
    client = _client(agent)
    response = client.post(
        reverse("case-merge", args=[dana_again.public_id]),
        {"into": dana.reference, "reason": HOSTILE, "confirm": "1"},
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("case", args=[dana.public_id])
    page = client.get(reverse("case", args=[dana.public_id])).content.decode()
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert "\r\nSet-Cookie" not in page  # the reason is one line in the log
    merged = CaseEvent.objects.get(case=dana, type="merged")
    assert reverse("case-merge-undo", args=[dana.public_id, merged.pk]) in page
    source_page = client.get(reverse("case", args=[dana_again.public_id])).content.decode()
    assert (
        f'Merged into <a href="{reverse("case", args=[dana.public_id])}">{dana.reference}</a>'
        in source_page
    )

    response = client.post(reverse("case-merge-undo", args=[dana.public_id, merged.pk]))
    assert response.status_code == 302
    dana_again.refresh_from_db()
    assert dana_again.status == CaseStatus.NEW and dana_again.messages.count() == 1


def test_split_page_lists_messages_and_splits(dana: Case, agent: Agent) -> None:
    identity = ContactIdentity.objects.get(contact_id=dana.contact_id)
    other = add_inbound(dana, identity, text=HOSTILE, external_id="d-7")
    client = _client(agent)
    page = client.get(reverse("case-split", args=[dana.public_id])).content.decode()
    assert "&lt;script&gt;" in page and "<script>alert" not in page
    response = client.post(reverse("case-split", args=[dana.public_id]), {"message": [other.pk]})
    assert response.status_code == 422  # no confirmation: nothing moved
    assert Message.objects.get(pk=other.pk).case_id == dana.pk
    response = client.post(
        reverse("case-split", args=[dana.public_id]), {"message": [other.pk], "confirm": "1"}
    )
    assert response.status_code == 302
    assert Message.objects.get(pk=other.pk).case_id != dana.pk


def test_outsider_and_foreign_ids_get_404_and_change_nothing(
    dana: Case, dana_again: Case, globex_dana: Case, agent: Agent, outsider: Agent
) -> None:
    event = merge_cases(source=dana_again, target=dana, actor=agent)
    before = snapshot_tables()
    client = _client(outsider)
    for url, data in (
        (
            reverse("case-merge", args=[dana.public_id]),
            {"into": globex_dana.reference, "confirm": "1"},
        ),
        (reverse("case-split", args=[dana.public_id]), {"message": [1], "confirm": "1"}),
        (reverse("case-merge-undo", args=[dana.public_id, event.pk]), {}),
        (
            reverse("contact-merge", args=[dana.public_id]),
            {"into": globex_dana.reference, "confirm": "1"},
        ),
    ):
        assert client.post(url, data).status_code == 404
    # Globex's case named in Acme's form: "no such case", nothing merged.
    response = _client(agent).post(
        reverse("case-merge", args=[dana.public_id]),
        {"into": globex_dana.reference, "confirm": "1"},
    )
    assert response.status_code == 302
    # Another case's event id on this case's undo URL: 404.
    assert (
        _client(agent)
        .post(reverse("case-merge-undo", args=[globex_dana.public_id, event.pk]))
        .status_code
        == 404
    )
    api = Client()
    headers = {"Authorization": f"Bearer {issue_token(agent=outsider)}"}
    response = api.post(
        f"/api/v1/cases/{dana.public_id}/merge",
        json.dumps({"into": str(globex_dana.public_id)}),
        content_type="application/json",
        headers=headers,
    )
    assert response.status_code == 404
    assert snapshot_tables() == before


def test_api_merge_split_undo_and_unknown_fields(
    dana: Case, dana_again: Case, bob: Case, globex_dana: Case, agent: Agent
) -> None:
    api = Client()
    headers = {"Authorization": f"Bearer {issue_token(agent=agent)}"}

    def post(path: str, body: dict[str, Any] | None = None) -> Any:
        return api.post(
            path, json.dumps(body or {}), content_type="application/json", headers=headers
        )

    base = f"/api/v1/cases/{dana_again.public_id}"
    before = snapshot_tables()
    assert post(f"{base}/merge", {"into": str(dana.public_id), "workspace": 2}).status_code == 422
    assert post(f"{base}/merge", {"into": str(globex_dana.public_id)}).status_code == 404
    assert post(f"{base}/merge", {"into": str(uuid.uuid4())}).status_code == 404
    refused = post(f"{base}/merge", {"into": str(bob.public_id)})
    assert refused.status_code == 409 and "merge the contacts first" in refused.json()["detail"]
    assert post(f"{base}/contact-merge", {"into": str(bob.public_id)}).status_code == 403  # agents
    foreign = globex_dana.messages.get().pk
    split_url = f"/api/v1/cases/{dana.public_id}/split"
    assert post(split_url, {"message_ids": [foreign]}).status_code == 404
    assert (
        post(split_url, {"message_ids": [foreign], "case": str(dana.public_id)}).status_code == 422
    )
    assert snapshot_tables() == before

    merged = post(f"{base}/merge", {"into": str(dana.public_id), "reason": "dup"})
    assert merged.status_code == 200
    body = merged.json()
    assert body["case"] == str(dana.public_id) and body["reference"] == dana.reference
    undone = post(f"/api/v1/cases/{dana.public_id}/merges/{body['event']}/undo")
    assert undone.status_code == 200 and undone.json()["case"] == str(dana_again.public_id)
    assert without_new_events(snapshot_tables(), before) == before

    message = dana.messages.get()
    identity = ContactIdentity.objects.get(contact_id=dana.contact_id)
    add_inbound(dana, identity, text="second thing", external_id="d-5")
    split = post(f"/api/v1/cases/{dana.public_id}/split", {"message_ids": [message.pk]})
    assert split.status_code == 201
    new = Case.objects.get(public_id=split.json()["case"])
    assert Message.objects.get(pk=message.pk).case_id == new.pk


# --- concurrency -------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_two_opposite_merges_racing_one_wins_nothing_half_applied(
    workspace: Workspace, agent: Agent
) -> None:
    first = make_case(workspace, text="Heater broken", external_id="c-1")
    second = second_case(first, text="Heater still broken", external_id="c-2", minutes_ago=60)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []
    lock = threading.Lock()

    def run(source: Case, target: Case) -> None:
        try:
            barrier.wait()
            merge_cases(source=source, target=target, actor=agent)
            result = "merged"
        except MergeRefused as refused:
            result = str(refused)
        finally:
            connection.close()
        with lock:
            outcomes.append(result)

    threads = [
        threading.Thread(target=run, args=(first, second)),
        threading.Thread(target=run, args=(second, first)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes)[1] == "merged"
    assert "already merged" in sorted(outcomes)[0]
    rows = {c.pk: c for c in Case.objects.filter(pk__in=[first.pk, second.pk])}
    merged = [c for c in rows.values() if c.status == CaseStatus.MERGED]
    assert len(merged) == 1
    survivor = next(c for c in rows.values() if c.status != CaseStatus.MERGED)
    assert merged[0].merged_into_id == survivor.pk
    assert Message.objects.filter(case=survivor).count() == 2
    assert CaseEvent.objects.filter(type="merged").count() == 2


def test_a_merged_case_takes_no_reply_and_no_bulk_action(
    dana: Case, dana_again: Case, agent: Agent
) -> None:
    from fairdesk.replies.services import ReplyInvalid
    from fairdesk.routing.services import bulk_assign, bulk_set_status

    merge_cases(source=dana_again, target=dana, actor=agent)
    dana_again.refresh_from_db()
    before = snapshot_tables()

    with pytest.raises(ReplyInvalid, match="merged into another one"):
        submit_reply(
            case=dana_again,
            agent=agent,
            text="Hello ^JC",
            visibility="public",
            idempotency_key="m1",
        )
    reopened = bulk_set_status(agent=agent, case_ids=[dana_again.public_id], status="open")
    taken = bulk_assign(agent=agent, case_ids=[dana_again.public_id], assignee=agent)

    assert (reopened.changed, reopened.refused) == (0, 1)
    assert (taken.changed, taken.refused) == (0, 1)
    assert "merged into another case" in reopened.reasons[0]
    assert snapshot_tables() == before
