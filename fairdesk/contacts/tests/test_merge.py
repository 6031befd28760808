"""Merging contacts found to be one person, and undoing it exactly.

Dana wrote on X and, as "D. Smith", by e-mail: two contacts at Acme, one person. Bob is
another Acme customer; Globex has its own Dana. Two workspaces, two customers each time.
"""

from collections.abc import Callable
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from conftest import record
from fairdesk.cases.merge import MergeRefused, merge_cases
from fairdesk.cases.models import Case, CaseEvent
from fairdesk.cases.tests.factories import make_case
from fairdesk.cases.tests.test_merge import snapshot_tables, without_new_events
from fairdesk.contacts.merge import merge_contacts, undoable_contact_events, unmerge_contacts
from fairdesk.contacts.models import Contact, ContactEvent, ContactIdentity
from fairdesk.portal import services as portal_services
from fairdesk.portal.models import CsatResponse, PortalLink, PortalSession
from fairdesk.workspaces.models import Agent, Workspace

HOSTILE = "<img src=x onerror=alert(1)>\r\n=cmd|' /C calc'!A0"
TABLES = (Case, CaseEvent, Contact, ContactIdentity, PortalLink, PortalSession, CsatResponse)


@pytest.fixture
def dana_x(workspace: Workspace) -> Case:
    return make_case(
        workspace, text="Heater broken", handle="@dana", name="Dana", external_id="d-1"
    )


@pytest.fixture
def dana_mail(workspace: Workspace) -> Case:
    case = make_case(
        workspace,
        text="Heater still broken, see photos",
        channel="email",
        handle="dana@example.com",
        name="D. Smith",
        external_id="mail-1",
    )
    Contact.objects.filter(pk=case.contact_id).update(email="dana@example.com", phone="+4930123")
    return case


@pytest.fixture
def bob(workspace: Workspace) -> Case:
    return make_case(workspace, text="Dryer broken", handle="@bob", name="Bob", external_id="b-1")


@pytest.fixture
def globex_dana(other_workspace: Workspace) -> Case:
    return make_case(other_workspace, text="Globex order", handle="@dana", external_id="d-1")


def _portal_rows(case: Case, agent: Agent) -> PortalSession:
    sent = portal_services.send_portal_link(
        case=case, agent=agent, base_url="http://testserver/", idempotency_key=f"pl-{case.pk}"
    )
    CsatResponse.objects.create(
        workspace_id=case.workspace_id, case=case, contact_id=case.contact_id, score=2
    )
    return PortalSession.objects.create(
        workspace_id=case.workspace_id,
        contact_id=case.contact_id,
        link=sent.link,
        digest=f"digest-{case.pk}",
        expires_at=timezone.now(),
    )


def test_merge_moves_identities_cases_and_portal_rows_and_undo_restores_exactly(
    dana_x: Case, dana_mail: Case, bob: Case, globex_dana: Case, agent: Agent, supervisor: Agent
) -> None:
    session = _portal_rows(dana_mail, agent)
    _portal_rows(bob, agent)
    source, target = dana_mail.contact, dana_x.contact
    before = snapshot_tables(TABLES)

    event = merge_contacts(source=source, target=target, actor=supervisor, reason=HOSTILE)

    target.refresh_from_db()
    source.refresh_from_db()
    assert set(target.identities.values_list("channel", flat=True)) == {"x", "email"}
    assert set(Case.objects.filter(contact=target).values_list("pk", flat=True)) == {
        dana_x.pk,
        dana_mail.pk,
    }
    assert PortalSession.objects.get(pk=session.pk).contact_id == target.pk
    assert PortalLink.objects.get(case=dana_mail).contact_id == target.pk
    assert CsatResponse.objects.get(case=dana_mail).contact_id == target.pk
    assert (target.email, target.phone, target.display_name) == (
        "dana@example.com",
        "+4930123",
        "Dana",
    )
    assert (source.email, source.phone, source.merged_into_id) == ("", "", target.pk)
    assert source.identities.count() == 0
    assert CaseEvent.objects.filter(case=dana_mail, type="contact_merged").count() == 1
    assert undoable_contact_events(target.pk) == [event]
    # Bob and Globex untouched.
    after = snapshot_tables(TABLES)
    assert after["contacts.Contact"][bob.contact_id] == before["contacts.Contact"][bob.contact_id]
    assert (
        after["contacts.Contact"][globex_dana.contact_id]
        == before["contacts.Contact"][globex_dana.contact_id]
    )

    unmerge_contacts(event=event, actor=supervisor)

    assert without_new_events(snapshot_tables(TABLES), before) == before
    assert undoable_contact_events(target.pk) == []
    with pytest.raises(MergeRefused, match="already undone"):
        unmerge_contacts(event=event, actor=supervisor)


def test_only_supervisors_of_the_same_workspace_merge_contacts(
    dana_x: Case,
    dana_mail: Case,
    globex_dana: Case,
    agent: Agent,
    supervisor: Agent,
    outsider: Agent,
) -> None:
    before = snapshot_tables(TABLES)
    with pytest.raises(PermissionDenied):
        merge_contacts(source=dana_mail.contact, target=dana_x.contact, actor=agent)
    with pytest.raises(MergeRefused, match="No such contact"):
        merge_contacts(source=dana_x.contact, target=globex_dana.contact, actor=supervisor)
    with pytest.raises(MergeRefused, match="same contact"):
        merge_contacts(source=dana_x.contact, target=dana_x.contact, actor=supervisor)
    with pytest.raises((PermissionDenied, MergeRefused)):
        merge_contacts(source=globex_dana.contact, target=dana_x.contact, actor=outsider)
    assert snapshot_tables(TABLES) == before


def test_cases_of_two_contacts_merge_only_after_the_contacts_do(
    dana_x: Case, dana_mail: Case, agent: Agent, supervisor: Agent
) -> None:
    with pytest.raises(MergeRefused, match="merge the contacts first"):
        merge_cases(source=dana_mail, target=dana_x, actor=agent)
    contact_event = merge_contacts(
        source=dana_mail.contact, target=dana_x.contact, actor=supervisor
    )
    dana_mail.refresh_from_db()
    merge_cases(source=dana_mail, target=dana_x, actor=agent)
    assert dana_x.messages.count() == 2
    # Undoing the contacts now would split one case history across two people.
    with pytest.raises(MergeRefused, match="undo those merges first"):
        unmerge_contacts(event=contact_event, actor=supervisor)
    assert Case.objects.get(pk=dana_mail.pk).contact_id == dana_x.contact_id


def test_new_messages_from_a_merged_identity_join_the_survivors_case(
    workspace: Workspace, supervisor: Agent, ingest: Callable[..., int]
) -> None:
    ingest(workspace, [record("x-1", "My heater is broken", author="u-x", handle="@dana")])
    ingest(
        workspace,
        [
            record(
                "m-1",
                "Heater question",
                channel="email",
                author="dana@example.com",
                handle="dana@example.com",
                email="dana@example.com",
            )
        ],
    )
    x_contact = ContactIdentity.objects.get(channel="x", external_id="u-x").contact
    mail_contact = ContactIdentity.objects.get(channel="email").contact
    assert x_contact.pk != mail_contact.pk
    merge_contacts(source=mail_contact, target=x_contact, actor=supervisor)

    ingest(
        workspace,
        [
            record(
                "m-2",
                "Any news?",
                channel="email",
                author="dana@example.com",
                handle="dana@example.com",
                email="dana@example.com",
                minutes=30,
            )
        ],
    )

    message = Case.objects.get(messages__external_id="m-2").contact_id
    assert message == x_contact.pk
    assert Case.objects.filter(contact=mail_contact).count() == 0


def test_contact_merge_through_the_page_is_for_supervisors_and_escapes_reason(
    dana_x: Case, dana_mail: Case, agent: Agent, supervisor: Agent
) -> None:
    from django.test import Client
    from django.urls import reverse

    url = reverse("contact-merge", args=[dana_mail.public_id])
    data: dict[str, Any] = {"into": dana_x.reference, "reason": HOSTILE, "confirm": "1"}
    as_agent = Client()
    as_agent.force_login(agent.user)
    assert as_agent.post(url, data).status_code == 403
    assert Contact.objects.get(pk=dana_mail.contact_id).merged_into_id is None
    page = as_agent.get(reverse("case", args=[dana_mail.public_id])).content.decode()
    assert url not in page  # agents are not offered the form

    as_supervisor = Client()
    as_supervisor.force_login(supervisor.user)
    assert as_supervisor.post(url, data).status_code == 302
    assert Contact.objects.get(pk=dana_mail.contact_id).merged_into_id == dana_x.contact_id
    page = as_supervisor.get(reverse("case", args=[dana_mail.public_id])).content.decode()
    assert "<img src=x" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    event = ContactEvent.objects.get(contact_id=dana_x.contact_id, type="merged")
    undo_url = reverse("contact-merge-undo", args=[dana_mail.public_id, event.pk])
    assert undo_url in page
    assert as_agent.post(undo_url).status_code == 403
    assert as_supervisor.post(undo_url).status_code == 302
    assert Case.objects.get(pk=dana_mail.pk).contact_id != dana_x.contact_id
