"""Writes for outbound replies: compose, tone guard, supervisor override, outbox.

Every reply leaves through the outbox (``fairdesk.replies.sender``), never directly.
A reply the tone guard blocks writes one REPLY_BLOCKED event and nothing else; it can
only leave through an explicit, logged supervisor override.
"""

from dataclasses import asdict
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.utils import timezone

from fairdesk.cases.models import (
    Case,
    CaseEvent,
    CaseStatus,
    DeliveryStatus,
    Direction,
    Message,
    Visibility,
)
from fairdesk.contacts.models import ContactIdentity
from fairdesk.followthrough.coalesce import note_agent_reply
from fairdesk.followthrough.quality import check_callback_answer
from fairdesk.replies.limits import final_text, length_problem
from fairdesk.replies.models import OutboxMessage
from fairdesk.triage import check_tone
from fairdesk.triage.types import ToneVerdict
from fairdesk.workspaces.models import Agent

MAX_REPLY_CHARS = 10_000
REPLY_VISIBILITIES = (Visibility.PUBLIC, Visibility.PRIVATE)
# Channels one cannot write back on: a written reply goes to the customer's e-mail.
WRITTEN_BACK_BY_EMAIL = ("webform", "phone")
PRIVATE_ONLY = ("email", "webform", "phone")
# Platforms with private messages: DMs, Messenger, Instagram Direct, Mastodon direct
# posts, Bluesky chat, e-mail.
PRIVATE_CHANNELS = ("x", "facebook", "messenger", "instagram", "mastodon", "bluesky", "email")


class ReplyInvalid(ValueError):
    """The reply cannot be sent as written (empty, too long, bad visibility or key)."""


class ToneBlocked(Exception):
    """The tone guard stopped the reply. ``verdict`` carries every reason."""

    def __init__(self, verdict: ToneVerdict) -> None:
        super().__init__("; ".join(issue.explanation for issue in verdict.issues) or "blocked")
        self.verdict = verdict


def submit_reply(
    *,
    case: Case,
    agent: Agent,
    text: str,
    visibility: str,
    idempotency_key: str,
    channel: str = "",
) -> OutboxMessage:
    """Queue a reply that passes the tone guard; raise ``ToneBlocked`` otherwise.

    The same ``idempotency_key`` again returns the existing outbox row and writes nothing.
    """
    draft = _draft(case=case, agent=agent, text=text, visibility=visibility, key=idempotency_key)
    if isinstance(draft, OutboxMessage):
        return draft
    body, key, verdict = draft
    channel = _checked_channel(case=case, visibility=visibility, channel=channel)
    if not verdict.allowed:
        _log_blocked(case=case, agent=agent, verdict=verdict)
        raise ToneBlocked(verdict)
    return _queue(
        case=case,
        author=agent,
        body=body,
        visibility=visibility,
        channel=channel,
        key=key,
        verdict=verdict,
        status=OutboxMessage.Status.PENDING,
    )


def request_override(
    *,
    case: Case,
    agent: Agent,
    text: str,
    visibility: str,
    idempotency_key: str,
    channel: str = "",
) -> OutboxMessage:
    """Hold a blocked reply until a supervisor approves it (``approve_held_reply``)."""
    draft = _draft(case=case, agent=agent, text=text, visibility=visibility, key=idempotency_key)
    if isinstance(draft, OutboxMessage):
        return draft
    body, key, verdict = draft
    channel = _checked_channel(case=case, visibility=visibility, channel=channel)
    status = OutboxMessage.Status.PENDING if verdict.allowed else OutboxMessage.Status.HELD
    return _queue(
        case=case,
        author=agent,
        body=body,
        visibility=visibility,
        channel=channel,
        key=key,
        verdict=verdict,
        status=status,
    )


def send_with_override(
    *,
    case: Case,
    supervisor: Agent,
    text: str,
    visibility: str,
    idempotency_key: str,
    channel: str = "",
) -> OutboxMessage:
    """A supervisor's own blocked reply, sent anyway: logged with them as author and approver."""
    if not supervisor.can_override_tone:
        raise PermissionDenied("Only a supervisor can override the tone guard.")
    draft = _draft(
        case=case, agent=supervisor, text=text, visibility=visibility, key=idempotency_key
    )
    if isinstance(draft, OutboxMessage):
        return draft
    body, key, verdict = draft
    channel = _checked_channel(case=case, visibility=visibility, channel=channel)
    return _queue(
        case=case,
        author=supervisor,
        body=body,
        visibility=visibility,
        channel=channel,
        key=key,
        verdict=verdict,
        status=OutboxMessage.Status.PENDING,
        approver=None if verdict.allowed else supervisor,
    )


def _draft(
    *, case: Case, agent: Agent, text: str, visibility: str, key: str
) -> OutboxMessage | tuple[str, str, ToneVerdict]:
    """Validate a reply; the existing outbox row for a repeated key, else (body, key, verdict)."""
    body, key = _validate(case=case, agent=agent, text=text, visibility=visibility, key=key)
    existing = _existing(case=case, key=key)
    if existing is not None:
        return existing
    return body, key, check_callback_answer(case=case, text=body, verdict=check_tone(body))


def approve_held_reply(*, outbox: OutboxMessage, supervisor: Agent) -> OutboxMessage:
    """Release a held reply to the sender. Only a supervisor of the same workspace may."""
    if not supervisor.can_override_tone or supervisor.workspace_id != outbox.workspace_id:
        raise PermissionDenied("Only a supervisor can approve a held reply.")
    now = timezone.now()
    with transaction.atomic():
        released = OutboxMessage.objects.filter(
            id=outbox.id, status=OutboxMessage.Status.HELD
        ).update(status=OutboxMessage.Status.PENDING, approved_by=supervisor, available_at=now)
        if released:
            Message.objects.filter(pk=outbox.message_id).update(
                delivery_status=DeliveryStatus.QUEUED
            )
            author = outbox.author
            CaseEvent.objects.create(
                workspace_id=outbox.workspace_id,
                case_id=outbox.case_id,
                type=CaseEvent.Type.TONE_OVERRIDE,
                params=_override_params(outbox.pk, author, supervisor, outbox.tone_verdict),
                actor=supervisor,
                at=now,
            )
            note_agent_reply(case=outbox.case, channel=outbox.channel)
    outbox.refresh_from_db()
    return outbox


def _validate(*, case: Case, agent: Agent, text: str, visibility: str, key: str) -> tuple[str, str]:
    if agent.workspace_id != case.workspace_id:
        raise PermissionDenied("This case belongs to another workspace.")
    if case.status == CaseStatus.MERGED:
        raise ReplyInvalid("This case was merged into another one: reply on that case.")
    body = (text or "").strip()
    if not body:
        raise ReplyInvalid("Write a reply before sending.")
    if len(body) > MAX_REPLY_CHARS:
        raise ReplyInvalid(f"A reply can be at most {MAX_REPLY_CHARS:,} characters.")
    if visibility not in REPLY_VISIBILITIES:
        raise ReplyInvalid("Choose a public reply or a private message.")
    key = (key or "").strip()
    if not key or len(key) > 100:
        raise ReplyInvalid("The reply form is missing its idempotency key; reload the page.")
    return body, key


def _existing(*, case: Case, key: str) -> OutboxMessage | None:
    existing = OutboxMessage.objects.filter(
        workspace_id=case.workspace_id, idempotency_key=key
    ).first()
    if existing is not None and existing.case_id != case.pk:
        raise ReplyInvalid("This idempotency key was already used for another case.")
    return existing


def _log_blocked(*, case: Case, agent: Agent, verdict: ToneVerdict) -> None:
    CaseEvent.objects.create(
        workspace_id=case.workspace_id,
        case=case,
        type=CaseEvent.Type.REPLY_BLOCKED,
        params={"reasons": _reasons(verdict), "suggestion": verdict.suggestion},
        actor=agent,
        at=timezone.now(),
    )


def _queue(
    *,
    case: Case,
    author: Agent,
    body: str,
    visibility: str,
    channel: str,
    key: str,
    verdict: ToneVerdict,
    status: str,
    approver: Agent | None = None,
) -> OutboxMessage:
    """Message + outbox row + timeline events in one transaction; a racing duplicate wins."""
    try:
        with transaction.atomic():
            return _write_queued(
                case=case,
                author=author,
                body=body,
                visibility=visibility,
                channel=channel,
                key=key,
                verdict=verdict,
                status=status,
                approver=approver,
            )
    except IntegrityError:
        existing = _existing(case=case, key=key)
        if existing is None:
            raise
        return existing


def _write_queued(
    *,
    case: Case,
    author: Agent,
    body: str,
    visibility: str,
    channel: str,
    key: str,
    verdict: ToneVerdict,
    status: str,
    approver: Agent | None,
) -> OutboxMessage:
    now = timezone.now()
    held = status == OutboxMessage.Status.HELD
    channel, in_reply_to = answer_channel(case=case, visibility=visibility, channel=channel)
    if channel in PRIVATE_ONLY:
        visibility = Visibility.PRIVATE  # an e-mail is private whatever the agent picked
    text = final_text(body, author.initials)
    too_long = length_problem(case=case, channel=channel, visibility=visibility, text=text)
    if too_long:  # refused now rather than dead at send time; nothing is written
        raise ReplyInvalid(too_long)
    message = Message.objects.create(
        workspace_id=case.workspace_id,
        case=case,
        channel=channel,
        direction=Direction.OUTBOUND,
        visibility=visibility,
        agent=author,
        in_reply_to=in_reply_to,
        brand_handle=case.workspace.brand_handle,
        text=text,
        sent_at=now,
        delivery_status=DeliveryStatus.HELD if held else DeliveryStatus.QUEUED,
    )
    outbox = OutboxMessage.objects.create(
        workspace_id=case.workspace_id,
        case=case,
        message=message,
        idempotency_key=key,
        channel=channel,
        status=status,
        available_at=now,
        tone_verdict=verdict_dict(verdict),
        author=author,
        approved_by=approver,
    )
    if not held:
        note_agent_reply(case=case, channel=channel)  # the customer hears of it (coalesced)
    params: dict[str, Any] = {
        "outbox_id": outbox.pk,
        "channel": channel,
        "visibility": visibility,
        "author": author.display_name,
    }
    if held:
        params["reasons"] = _reasons(verdict)
    event_type = CaseEvent.Type.REPLY_HELD if held else CaseEvent.Type.REPLY_QUEUED
    events = [CaseEvent(type=event_type, params=params)]
    if approver is not None:
        events.append(
            CaseEvent(
                type=CaseEvent.Type.TONE_OVERRIDE,
                params=_override_params(outbox.pk, author, approver, outbox.tone_verdict),
            )
        )
    for event in events:
        event.workspace_id = case.workspace_id
        event.case = case
        event.actor = approver or author
        event.at = now
    CaseEvent.objects.bulk_create(events)
    return outbox


def answer_channel(*, case: Case, visibility: str, channel: str = "") -> tuple[str, str]:
    """Where a reply goes, and the external id of the inbound message it answers.

    Public: the channel of the latest public inbound message. Private: the channel the
    agent chose (one of ``private_channels``), else the latest private inbound channel,
    else the channel the case started on. A private channel the customer has not written
    on in this case starts a new thread there (nothing to answer); the case, its
    timeline and its deadlines carry on unchanged.
    """
    return answer_channels(case=case, asked=[(visibility, channel)])[0]


def answer_channels(*, case: Case, asked: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """:func:`answer_channel` for each (visibility, channel) of ``asked``, from one read
    of the case's inbound messages (channel, visibility and external id, newest first):
    the case page asks for the public and the private default at once. A case's messages
    are what its page shows anyway, and these three columns are small."""
    inbound = list(
        Message.objects.filter(case=case, direction=Direction.INBOUND)
        .order_by("-sent_at", "-id")
        .values_list("channel", "visibility", "external_id")
    )
    return [_answer(case, inbound, visibility, channel) for visibility, channel in asked]


def _answer(
    case: Case, inbound: list[tuple[str, str, str | None]], visibility: str, channel: str
) -> tuple[str, str]:
    if not channel:
        latest = next((c for c, v, _ in inbound if v == visibility), None)
        channel = latest or case.origin_channel
    if channel in WRITTEN_BACK_BY_EMAIL and case.contact.email:
        channel = "email"  # a web form or a phone call is answered in writing by e-mail
    # The latest message on that channel of the same visibility, else of any (a private
    # reply to a public comment is a documented Meta feature; X DMs ignore it).
    answered = [(v, x) for c, v, x in inbound if c == channel and x is not None]
    same = next((x for v, x in answered if v == visibility), None)
    return channel, same or (answered[0][1] if answered else "") or ""


def private_channels(case: Case) -> list[tuple[str, ContactIdentity]]:
    """The channels a private message to this case's customer can go out on: one per
    channel where the contact has an identity and the platform has private messages
    (the most recently updated identity there). Reads ``case.contact.identities``, which
    ``cases.queries.case_for`` prefetches: a case page asks several times."""
    chosen = {
        channel: identity
        for channel, identity in case.contact.newest_identities().items()
        if channel in PRIVATE_CHANNELS
    }
    email = case.contact.email
    if "email" not in chosen and email:  # known from a web form, a portal sign-in, …
        chosen["email"] = ContactIdentity(
            workspace_id=case.workspace_id,
            contact_id=case.contact_id,
            channel="email",
            external_id=email,
            handle=email,
        )
    return sorted(chosen.items())


def _checked_channel(*, case: Case, visibility: str, channel: str) -> str:
    """The agent's choice of private channel, refused unless the customer is there."""
    channel = (channel or "").strip()
    if not channel:
        return ""
    if visibility != Visibility.PRIVATE:
        raise ReplyInvalid(
            "A public reply goes to the public thread; choose private to pick a channel."
        )
    if channel not in {name for name, _ in private_channels(case)}:
        raise ReplyInvalid("This customer cannot be reached privately on that channel.")
    return channel


def verdict_dict(verdict: ToneVerdict) -> dict[str, Any]:
    return {
        "allowed": verdict.allowed,
        "issues": _reasons(verdict),
        "suggestion": verdict.suggestion,
    }


def _reasons(verdict: ToneVerdict) -> list[dict[str, str]]:
    return [asdict(issue) for issue in verdict.issues]


def _override_params(
    outbox_id: int, author: Agent | None, approver: Agent, verdict: dict[str, Any]
) -> dict[str, Any]:
    return {
        "outbox_id": outbox_id,
        "author": author.display_name if author else "",
        "approved_by": approver.display_name,
        "reasons": list(verdict.get("issues", [])),
    }
