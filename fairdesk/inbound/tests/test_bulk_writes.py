"""The batch writers and claims on whichever database the suite runs on (both in CI)."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone

from conftest import record
from fairdesk.cases.models import Case, CaseEvent, Message
from fairdesk.contacts.models import Contact, ContactIdentity
from fairdesk.inbound import claims
from fairdesk.inbound.bulk_writes import (
    PG_MAX_ROWS,
    adapt_datetime,
    create_rows,
    insert_values,
    update_rows,
)
from fairdesk.inbound.interchange import InterchangeMessage
from fairdesk.inbound.models import InboundEvent
from fairdesk.inbound.pipeline import drain
from fairdesk.inbound.services import store_events
from fairdesk.workspaces.models import Workspace


def clean(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [InterchangeMessage.model_validate(r).model_dump(mode="json") for r in records]


def test_store_counts_duplicates_within_and_across_calls(workspace: Workspace) -> None:
    first = store_events(
        workspace=workspace,
        records=clean([record("s1", "hello"), record("s2", "again"), record("s1", "hello")]),
    )
    assert (first.stored, first.duplicates) == (2, 1)
    second = store_events(
        workspace=workspace, records=clean([record("s2", "again"), record("s3", "new")])
    )
    assert (second.stored, second.duplicates) == (1, 1)
    stored = InboundEvent.objects.get(workspace=workspace, external_id="s3")
    assert stored.payload["text"] == "new"
    assert stored.status == InboundEvent.Status.PENDING
    assert stored.available_at.tzinfo is not None


def test_insert_values_chunks_and_skips_conflicts(workspace: Workspace) -> None:
    contact = Contact.objects.create(workspace=workspace, display_name="Dana")
    at = datetime(2026, 11, 1, 12, 30, tzinfo=UTC)
    columns = [
        *("workspace_id", "contact_id", "channel", "external_id", "handle", "display_name"),
        *("follower_count", "verified", "created_at", "updated_at"),
    ]
    count = PG_MAX_ROWS + 7
    stamp = adapt_datetime(at)
    rows = [
        (workspace.pk, contact.pk, "x", f"id-{n}", "@h", "", n, False, stamp, stamp)
        for n in range(count)
    ]
    assert insert_values(ContactIdentity._meta.db_table, columns, rows) == count
    assert insert_values(ContactIdentity._meta.db_table, columns, rows[:3]) == 0
    assert ContactIdentity.objects.filter(workspace=workspace).count() == count
    assert ContactIdentity.objects.get(external_id="id-5").created_at == at


def test_create_rows_sets_ids_and_update_rows_writes_fields(workspace: Workspace) -> None:
    contacts = [Contact(workspace=workspace, display_name=f"c{n}") for n in range(3)]
    create_rows(Contact, contacts)
    assert all(c.pk for c in contacts)
    assert sorted(Contact.objects.values_list("display_name", flat=True)) == ["c0", "c1", "c2"]
    now = timezone.now()
    cases = [
        Case(
            workspace=workspace,
            contact=c,
            origin_channel="x",
            first_inbound_at=now,
            last_inbound_at=now,
        )
        for c in contacts
    ]
    create_rows(Case, cases)
    later = now + timedelta(hours=3)
    for case in cases:
        case.escalation_at = later
        case.awaiting_since = None
        case.topic = "billing"
    update_rows(Case, cases, ["escalation_at", "awaiting_since", "topic"])
    for case in Case.objects.filter(workspace=workspace):
        assert (case.escalation_at, case.awaiting_since, case.topic) == (later, None, "billing")


def test_claim_returns_columns_and_release_detects_a_lost_claim(workspace: Workspace) -> None:
    store_events(workspace=workspace, records=clean([record("c1", "one"), record("c2", "two")]))
    token, rows = claims.claim_rows(
        InboundEvent,
        limit=10,
        lease=timedelta(minutes=1),
        columns=("workspace_id", "attempts"),
    )
    assert [(r[1], r[2]) for r in rows] == [(workspace.pk, 1), (workspace.pk, 1)]
    ids = [r[0] for r in rows]
    with pytest.raises(claims.LostClaim), transaction.atomic():
        claims.release_done(InboundEvent, token="another", ids=ids, values={"status": "done"})
    with transaction.atomic():
        claims.release_done(
            InboundEvent,
            token=token,
            ids=ids,
            values={"status": "done", "processed_at": timezone.now(), "claim_token": ""},
        )
    assert set(InboundEvent.objects.values_list("status", flat=True)) == {"done"}


def test_pipeline_rows_match_the_records(workspace: Workspace) -> None:
    records = clean(
        [
            record("p1", "My parcel never arrived, refund me", minutes=1),
            record("p2", "Sorry! DM us", direction="outbound", in_reply_to="p1", minutes=2),
        ]
    )
    records[1]["brand_handle"] = "@Acme"
    store_events(workspace=workspace, records=records)
    assert drain() == 2
    inbound = Message.objects.get(external_id="p1")
    outbound = Message.objects.get(external_id="p2")
    assert inbound.case_id is not None and outbound.case_id == inbound.case_id
    assert inbound.identity is not None and inbound.triage and inbound.sentiment
    assert inbound.sent_at == datetime.fromisoformat(records[0]["created_at"])
    assert (outbound.direction, outbound.delivery_status, outbound.brand_handle) == (
        "outbound",
        "sent",
        "@Acme",
    )
    assert outbound.triage == {} and outbound.identity_id is None
    assert Message.objects.filter(sent_at__lt=inbound.sent_at).count() == 0
    opened = CaseEvent.objects.get(case_id=inbound.case_id, type="opened")
    assert opened.params["external_id"] == "p1"
