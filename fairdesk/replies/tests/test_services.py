import pytest
from django.core.exceptions import PermissionDenied

from fairdesk.cases.models import CaseEvent, DeliveryStatus, Message
from fairdesk.cases.tests.factories import add_inbound, make_case
from fairdesk.replies.models import OutboxMessage
from fairdesk.replies.services import (
    ReplyInvalid,
    ToneBlocked,
    approve_held_reply,
    request_override,
    send_with_override,
    submit_reply,
)
from fairdesk.workspaces.models import Agent, Workspace

RUDE = "you are frauds, this is over your pay scale"


def test_allowed_reply_is_queued_with_everything(workspace: Workspace, agent: Agent) -> None:
    case = make_case(workspace, channel="x", external_id="tw-9")
    outbox = submit_reply(
        case=case,
        agent=agent,
        text="  Sorry! DM us your order number.  ",
        visibility="public",
        idempotency_key="k-1",
    )
    message = outbox.message
    assert message.text == "Sorry! DM us your order number. ^JC"
    assert message.direction == "outbound"
    assert message.visibility == "public"
    assert message.channel == "x"
    assert message.in_reply_to == "tw-9"
    assert message.brand_handle == "@AcmeSupport"
    assert message.agent == agent
    assert message.delivery_status == DeliveryStatus.QUEUED
    assert message.external_id is None
    assert outbox.status == OutboxMessage.Status.PENDING
    assert outbox.author == agent
    assert outbox.approved_by is None
    assert outbox.tone_verdict == {"allowed": True, "issues": [], "suggestion": ""}
    event = CaseEvent.objects.get()
    assert event.type == CaseEvent.Type.REPLY_QUEUED
    assert event.actor == agent
    assert event.params == {
        "outbox_id": outbox.pk,
        "channel": "x",
        "visibility": "public",
        "author": "Jo Chen",
    }


def test_reply_channels(workspace: Workspace, agent: Agent) -> None:
    case = make_case(workspace, channel="x", external_id="tw-1")
    identity = case.contact.identities.get()
    add_inbound(case, identity, text="dm", external_id="dm-1", visibility="private", channel="x")
    mail = case.contact.identities.create(
        workspace=workspace, channel="email", external_id="d@e.test"
    )
    add_inbound(case, mail, text="mail", external_id="<a@b>", visibility="private")
    private = submit_reply(
        case=case, agent=agent, text="p", visibility="private", idempotency_key="p"
    )
    assert (private.channel, private.message.in_reply_to) == ("email", "<a@b>")
    public = submit_reply(
        case=case, agent=agent, text="q", visibility="public", idempotency_key="q"
    )
    assert (public.channel, public.message.in_reply_to) == ("x", "tw-1")  # not the DM


def test_private_reply_without_private_inbound_uses_origin(
    workspace: Workspace, agent: Agent
) -> None:
    case = make_case(workspace, channel="facebook", external_id="fb-1")
    outbox = submit_reply(
        case=case, agent=agent, text="hi", visibility="private", idempotency_key="k"
    )
    assert outbox.channel == "facebook"
    assert outbox.message.in_reply_to == "fb-1"


def test_same_key_returns_the_same_row_and_writes_nothing(
    workspace: Workspace, agent: Agent
) -> None:
    case = make_case(workspace)
    first = submit_reply(
        case=case, agent=agent, text="one", visibility="public", idempotency_key="k"
    )
    again = submit_reply(
        case=case, agent=agent, text="two", visibility="public", idempotency_key="k"
    )
    assert again.pk == first.pk
    assert Message.objects.filter(direction="outbound").count() == 1
    assert CaseEvent.objects.count() == 1
    other = make_case(workspace, external_id="m-2")
    with pytest.raises(ReplyInvalid):
        submit_reply(case=other, agent=agent, text="x", visibility="public", idempotency_key="k")


@pytest.mark.parametrize(
    ("text", "visibility", "key"),
    [
        ("", "public", "k"),
        ("  \r\n ", "public", "k"),
        ("x" * 10_001, "public", "k"),
        ("ok", "internal", "k"),
        ("ok", "public", ""),
    ],
)
def test_invalid_reply_writes_nothing(
    workspace: Workspace, agent: Agent, text: str, visibility: str, key: str
) -> None:
    case = make_case(workspace)
    with pytest.raises(ValueError):
        submit_reply(case=case, agent=agent, text=text, visibility=visibility, idempotency_key=key)
    assert Message.objects.filter(direction="outbound").count() == 0
    assert CaseEvent.objects.count() == 0


def test_ten_thousand_characters_is_allowed(workspace: Workspace, agent: Agent) -> None:
    # By e-mail: a post on X is limited to 280 (replies/limits.py, test_limits.py).
    case = make_case(workspace, channel="email", external_id="<m1@e.test>", handle="d@e.test")
    outbox = submit_reply(
        case=case, agent=agent, text="a" * 10_000, visibility="public", idempotency_key="k"
    )
    assert outbox.message.text == "a" * 10_000 + " ^JC"


def test_outsider_cannot_reply(workspace: Workspace, outsider: Agent) -> None:
    case = make_case(workspace)
    with pytest.raises(PermissionDenied):
        submit_reply(case=case, agent=outsider, text="hi", visibility="public", idempotency_key="k")
    assert OutboxMessage.objects.count() == 0
    assert Message.objects.filter(direction="outbound").count() == 0


def test_blocked_reply_writes_only_the_event(workspace: Workspace, agent: Agent) -> None:
    case = make_case(workspace)
    with pytest.raises(ToneBlocked) as blocked:
        submit_reply(case=case, agent=agent, text=RUDE, visibility="public", idempotency_key="k")
    verdict = blocked.value.verdict
    assert verdict.allowed is False
    assert [i.kind for i in verdict.issues] == ["insult", "condescension"]
    assert verdict.suggestion
    assert Message.objects.filter(direction="outbound").count() == 0
    assert OutboxMessage.objects.count() == 0
    event = CaseEvent.objects.get()
    assert event.type == CaseEvent.Type.REPLY_BLOCKED
    assert event.actor == agent
    assert event.params["reasons"] == [
        {"kind": i.kind, "excerpt": i.excerpt, "explanation": i.explanation} for i in verdict.issues
    ]


def test_override_request_and_approval(
    workspace: Workspace, agent: Agent, supervisor: Agent
) -> None:
    case = make_case(workspace)
    held = request_override(
        case=case, agent=agent, text=RUDE, visibility="public", idempotency_key="k"
    )
    assert held.status == OutboxMessage.Status.HELD
    assert held.message.delivery_status == DeliveryStatus.HELD
    assert CaseEvent.objects.get().type == CaseEvent.Type.REPLY_HELD
    approved = approve_held_reply(outbox=held, supervisor=supervisor)
    assert approved.status == OutboxMessage.Status.PENDING
    assert approved.approved_by == supervisor
    assert approved.message.delivery_status == DeliveryStatus.QUEUED
    override = CaseEvent.objects.get(type=CaseEvent.Type.TONE_OVERRIDE)
    assert override.actor == supervisor
    assert override.params["author"] == "Jo Chen"
    assert override.params["approved_by"] == "Sam Okafor"
    assert [r["kind"] for r in override.params["reasons"]] == ["insult", "condescension"]
    # approving twice changes nothing more
    approve_held_reply(outbox=approved, supervisor=supervisor)
    assert CaseEvent.objects.filter(type=CaseEvent.Type.TONE_OVERRIDE).count() == 1


def test_non_supervisor_cannot_approve(
    workspace: Workspace, agent: Agent, outsider: Agent, supervisor: Agent
) -> None:
    case = make_case(workspace)
    held = request_override(
        case=case, agent=agent, text=RUDE, visibility="public", idempotency_key="k"
    )
    for who in (agent, outsider):
        with pytest.raises(PermissionDenied):
            approve_held_reply(outbox=held, supervisor=who)
    held.refresh_from_db()
    assert held.status == OutboxMessage.Status.HELD
    assert held.approved_by is None
    assert held.message.delivery_status == DeliveryStatus.HELD
    assert not CaseEvent.objects.filter(type=CaseEvent.Type.TONE_OVERRIDE).exists()


def test_supervisor_self_override(workspace: Workspace, agent: Agent, supervisor: Agent) -> None:
    case = make_case(workspace)
    with pytest.raises(ToneBlocked):
        submit_reply(
            case=case, agent=supervisor, text=RUDE, visibility="public", idempotency_key="k"
        )
    with pytest.raises(PermissionDenied):
        send_with_override(
            case=case, supervisor=agent, text=RUDE, visibility="public", idempotency_key="k"
        )
    outbox = send_with_override(
        case=case, supervisor=supervisor, text=RUDE, visibility="public", idempotency_key="k"
    )
    assert outbox.status == OutboxMessage.Status.PENDING
    assert outbox.author == outbox.approved_by == supervisor
    assert outbox.message.text == f"{RUDE} ^SO"
    types = list(CaseEvent.objects.values_list("type", flat=True))
    assert types == ["reply_blocked", "reply_queued", "tone_override"]
    override = CaseEvent.objects.get(type=CaseEvent.Type.TONE_OVERRIDE)
    assert override.params["author"] == override.params["approved_by"] == "Sam Okafor"
