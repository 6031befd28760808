"""Moving a public conversation to a private channel keeps the same case."""

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from conftest import record
from fairdesk.cases.models import Case, Message
from fairdesk.contacts.models import Contact
from fairdesk.replies.models import OutboxMessage
from fairdesk.replies.outbound import build_request
from fairdesk.replies.services import ReplyInvalid, private_channels, submit_reply
from fairdesk.workspaces.models import Agent, Workspace


@pytest.fixture
def public_case(workspace: Workspace, ingest: Callable[..., int]) -> Case:
    ingest(workspace, [record("t-1", "@Acme my router keeps dropping, help", author="u-1")])
    return Case.objects.get(workspace=workspace)


def test_the_customers_private_channels_are_offered(
    workspace: Workspace, other_workspace: Workspace, public_case: Case, ingest: Any
) -> None:
    # the same person in another workspace gives this case no e-mail channel
    ingest(other_workspace, [record("t-9", "hi", author="u-1", email="dana@example.com")])
    assert [c for c, _ in private_channels(public_case)] == ["x"]
    Contact.objects.filter(pk=public_case.contact_id).update(email="dana@example.com")
    public_case.refresh_from_db()
    offered = dict(private_channels(public_case))
    assert sorted(offered) == ["email", "x"]
    assert offered["email"].external_id == "dana@example.com"
    assert offered["x"].external_id == "u-1"


def test_a_public_case_continues_by_email_in_the_same_case(
    workspace: Workspace, agent: Agent, public_case: Case
) -> None:
    Contact.objects.filter(pk=public_case.contact_id).update(email="dana@example.com")
    public_case.refresh_from_db()
    deadline = public_case.resolution_due_at
    outbox = submit_reply(
        case=public_case,
        agent=agent,
        text="Could you send us your router's serial number by e-mail?",
        visibility="private",
        idempotency_key="k-1",
        channel="email",
    )
    message = outbox.message
    assert (outbox.channel, message.channel, message.visibility) == ("email", "email", "private")
    assert message.in_reply_to == ""  # a new thread on a channel the customer has not used
    assert message.case_id == public_case.pk
    request = build_request(outbox)
    assert request.recipient is not None
    assert request.recipient.external_id == "dana@example.com"
    assert request.channel == "email"
    public_case.refresh_from_db()
    assert public_case.resolution_due_at == deadline
    assert Case.objects.filter(workspace=workspace).count() == 1


def test_a_dm_reply_goes_to_the_customers_x_account(agent: Agent, public_case: Case) -> None:
    outbox = submit_reply(
        case=public_case,
        agent=agent,
        text="Sent you a DM",
        visibility="private",
        idempotency_key="k-2",
        channel="x",
    )
    request = build_request(outbox)
    assert (request.channel, request.visibility) == ("x", "private")
    assert request.recipient is not None and request.recipient.external_id == "u-1"
    assert request.in_reply_to == "t-1"  # the tweet it continues (the X connector's DM ignores it)


@pytest.mark.parametrize(
    ("visibility", "channel"), [("private", "email"), ("private", "sms"), ("public", "x")]
)
def test_an_unreachable_or_public_channel_choice_is_refused(
    agent: Agent, public_case: Case, visibility: str, channel: str
) -> None:
    with pytest.raises(ReplyInvalid):
        submit_reply(
            case=public_case,
            agent=agent,
            text="Hello",
            visibility=visibility,
            idempotency_key="k-3",
            channel=channel,
        )
    assert not OutboxMessage.objects.exists()
    assert not Message.objects.filter(direction="outbound").exists()


def test_the_reply_form_offers_and_uses_the_private_channel(
    client: Client, agent: Agent, public_case: Case
) -> None:
    Contact.objects.filter(pk=public_case.contact_id).update(email="dana@example.com")
    client.force_login(agent.user)
    url = reverse("case", args=[public_case.public_id])
    page = client.get(url).content.decode()
    assert 'name="channel"' in page and "E-mail — dana@example.com" in page
    response = client.post(
        reverse("case-reply", args=[public_case.public_id]),
        {
            "text": "Following up by e-mail",
            "visibility": "private",
            "channel": "email",
            "idempotency_key": "6f1c3a57-0e1e-4f4e-9a43-7d8c1c1f0c11",
        },
    )
    assert response.status_code == 302
    assert OutboxMessage.objects.get().channel == "email"


@pytest.mark.parametrize("origin", ["webform", "phone"])
def test_web_form_and_phone_cases_are_answered_by_email(
    workspace: Workspace, agent: Agent, ingest: Callable[..., int], origin: str
) -> None:
    ingest(
        workspace,
        [
            record(
                "w-1",
                "My invoice is wrong",
                channel=origin,
                author="c-1",
                handle="",
                visibility="private",
                email="lee@example.com",
            )
        ],
    )
    case = Case.objects.get(workspace=workspace)
    for visibility, key in (("private", "k-1"), ("public", "k-2")):
        outbox = submit_reply(
            case=case, agent=agent, text="Fixed it", visibility=visibility, idempotency_key=key
        )
        assert (outbox.channel, outbox.message.visibility) == ("email", "private")
        recipient = build_request(outbox).recipient
        assert recipient is not None and recipient.external_id == "lee@example.com"


def test_a_private_reply_never_goes_to_a_stranger_in_the_public_thread(
    workspace: Workspace, agent: Agent, public_case: Case, ingest: Callable[..., int]
) -> None:
    ingest(
        workspace,
        [
            record(
                "t-2",
                "@dana same here lol",
                author="u-stranger",
                handle="@troll",
                minutes=5,
                in_reply_to="t-1",
            )
        ],
    )
    assert Message.objects.filter(case=public_case, external_id="t-2").exists()
    outbox = submit_reply(
        case=public_case,
        agent=agent,
        text="DMing you",
        visibility="private",
        idempotency_key="k-9",
        channel="x",
    )
    recipient = build_request(outbox).recipient
    assert recipient is not None and recipient.external_id == "u-1"
