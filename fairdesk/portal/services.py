"""Writes for the customer portal: links sent by agents, proof of identity by one-time
code, portal sessions, the customer's private replies and their satisfaction answer.

Every outbound text (the link, the codes) leaves through the outbox and the sender
worker, tone-checked, on one of the contact's own private channels. Nothing secret is
stored: links, codes and sessions are digests, and a message that carried a link or a
code has its text replaced once it is delivered (``redact_delivered``).

A portal reply is filed on the case the customer is looking at by ``post_reply``
directly, not through the inbound store and the pipeline: the pipeline threads by
contact (their newest open case), drops what triage calls spam into no case at all, and
opens a new case for a closed one, so a verified customer's reply could land on another
case's clock or on none. Here it is an inbound private message on exactly that case,
under the pipeline's lock order (contact, then case), with ``apply_inbound`` at the
moment it was written and the same triage severity any channel gets, so its SLA clock
starts then, on that case, on the same terms as every channel.
"""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.db.models import F, QuerySet
from django.urls import reverse
from django.utils import timezone

from fairdesk.cases.lifecycle import DEADLINE_FIELDS, apply_inbound, refresh_deadlines
from fairdesk.cases.models import (
    Case,
    CaseEvent,
    CaseStatus,
    DeliveryStatus,
    Direction,
    Message,
    Visibility,
)
from fairdesk.connectors.webform.ratelimit import Limit, spend
from fairdesk.contacts.models import ContactIdentity
from fairdesk.inbound.events import rerouted, severity_changed
from fairdesk.inbound.identities import lock_contacts
from fairdesk.portal import credentials, events, uploads
from fairdesk.portal.models import CsatResponse, PortalChallenge, PortalLink, PortalSession
from fairdesk.portal.queries import verification_routes
from fairdesk.portal.satisfaction import MAX_COMMENT_CHARS, save_answer
from fairdesk.replies.models import OutboxMessage
from fairdesk.replies.outbound import build_request
from fairdesk.replies.services import (
    MAX_REPLY_CHARS,
    ToneBlocked,
    answer_channel,
    submit_reply,
    verdict_dict,
)
from fairdesk.routing.queries import targets_table
from fairdesk.routing.teams import team_for
from fairdesk.triage import TriageResult, check_tone
from fairdesk.workspaces.models import Agent, Team, Workspace

if TYPE_CHECKING:
    from fairdesk.inbound.triage_cache import WorkspaceTriage

CHANNEL = "portal"
MAX_NOTE_CHARS = 500
MAX_KEY_CHARS = 80
CODE_TTL = timedelta(minutes=10)
MAX_CODE_ATTEMPTS = 5
CODES_PER_LINK = Limit("portal-code", hits=5, window=timedelta(hours=1))
SESSION_TTL = timedelta(hours=12)
REMOVED_LINK = "[link removed from our records once delivered]"
REMOVED_CODE = "[code removed from our records once delivered]"
FILES_ONLY_TEXT = "[Files attached, no message]"


class PortalInvalid(ValueError):
    """The request cannot be done as asked; nothing was written."""


class LinkUnusable(Exception):
    """Unknown, forged, expired, revoked or another workspace's link: all look alike."""


class CodeRefused(Exception):
    """The code was not accepted; ``message`` says what the customer can do."""


@dataclass(frozen=True, slots=True)
class SentLink:
    link: PortalLink
    outbox: OutboxMessage


# --- links (agents) ----------------------------------------------------------------------


def send_portal_link(
    *,
    case: Case,
    agent: Agent,
    base_url: str,
    idempotency_key: str,
    channel: str = "",
    note: str = "",
) -> SentLink:
    """Queue a private message with a new portal link to the case's customer, on
    ``channel`` (one of ``verification_routes``; default: the channel the case started
    on, else the first route). The same key again returns the link already sent.

    Raises PermissionDenied (another workspace), PortalInvalid or ToneBlocked (the note;
    logged as a blocked reply), with no link made.
    """
    if agent.workspace_id != case.workspace_id:
        raise PermissionDenied("This case belongs to another workspace.")
    key = (idempotency_key or "").strip()
    if not key or len(key) > MAX_KEY_CHARS:
        raise PortalInvalid("The form is missing its idempotency key; reload the page.")
    note = (note or "").strip()
    if len(note) > MAX_NOTE_CHARS:
        raise PortalInvalid(f"A note can be at most {MAX_NOTE_CHARS} characters.")
    existing = _link_with_key(case, key)
    if existing is not None:
        return existing
    identity = _route(case, channel)
    redact_delivered(workspace_id=case.workspace_id)
    try:
        with transaction.atomic():
            return _write_link(case, agent, identity, key=key, note=note, base_url=base_url)
    except ToneBlocked as blocked:
        _log_blocked(case=case, agent=agent, blocked=blocked)
        raise
    except IntegrityError:  # the same key, sent by a concurrent request
        existing = _link_with_key(case, key)
        if existing is None:
            raise
        return existing


def _link_with_key(case: Case, key: str) -> SentLink | None:
    link = (
        PortalLink.objects.filter(workspace_id=case.workspace_id, idempotency_key=key)
        .select_related("message__outbox")
        .first()
    )
    if link is None:
        return None
    if link.case_id != case.pk or link.message is None:
        raise PortalInvalid("This form was already used for another case; reload the page.")
    return SentLink(link=link, outbox=link.message.outbox)


def _route(case: Case, channel: str) -> ContactIdentity:
    routes = verification_routes(case)
    if not routes:
        raise PortalInvalid(
            "This customer has no private channel to send a link and a code to "
            "(a direct message account or an e-mail address they wrote from)."
        )
    wanted = (channel or "").strip() or case.origin_channel
    chosen = next((r for r in routes if r.channel == wanted), None)
    if chosen is None and channel:
        raise PortalInvalid("This customer cannot be reached privately on that channel.")
    return chosen or routes[0]


def _write_link(
    case: Case, agent: Agent, identity: ContactIdentity, *, key: str, note: str, base_url: str
) -> SentLink:
    token = credentials.new_link_token(workspace_id=case.workspace_id)
    path = reverse("portal:open", kwargs={"workspace": case.workspace.slug, "token": token})
    url = base_url.rstrip("/") + path
    days = settings.FAIRDESK_PORTAL_LINK_DAYS
    link = PortalLink.objects.create(
        workspace_id=case.workspace_id,
        contact_id=case.contact_id,
        case=case,
        channel=identity.channel,
        digest=credentials.digest(token),
        idempotency_key=key,
        created_by=agent,
        expires_at=timezone.now() + timedelta(days=days),
    )
    outbox = submit_reply(
        case=case,
        agent=agent,
        text=link_text(case=case, note=note, url=url, days=days),
        visibility=Visibility.PRIVATE,
        idempotency_key=f"portal-link-{key}",
        channel=identity.channel,
    )
    _check_recipient(outbox, identity)
    link.message = outbox.message
    link.safe_text = outbox.message.text.replace(url, REMOVED_LINK)
    link.save(update_fields=["message", "safe_text"])
    events.link_sent(link, at=timezone.now()).save()
    return SentLink(link=link, outbox=outbox)


def link_text(*, case: Case, note: str, url: str, days: int) -> str:
    intro = note or "We can continue privately in our support portal."
    return (
        f"{intro}\n\nYour private link for case {case.reference}: {url}\n"
        f"It works for {days} days. When you open it, we send you a one-time code "
        "here to confirm it is you."
    )


def _check_recipient(outbox: OutboxMessage, identity: ContactIdentity) -> None:
    """The sender addresses a private message to the latest author on its channel in
    the case; refuse unless that is exactly the identity we mean (someone else who
    replied in the customer's public thread must never receive their link or code)."""
    recipient = build_request(outbox).recipient
    if recipient is None or recipient.external_id != identity.external_id:
        raise PortalInvalid(
            "A private message on this channel would not reach only this customer; "
            "choose another of their channels."
        )


def _log_blocked(*, case: Case, agent: Agent, blocked: ToneBlocked) -> None:
    verdict = verdict_dict(blocked.verdict)
    CaseEvent.objects.create(
        workspace_id=case.workspace_id,
        case=case,
        type=CaseEvent.Type.REPLY_BLOCKED,
        params={"reasons": verdict["issues"], "suggestion": verdict["suggestion"]},
        actor=agent,
        at=timezone.now(),
    )


def revoke_link(*, link: PortalLink, agent: Agent) -> PortalLink:
    """End a link, its pending codes and every portal session opened with it."""
    if agent.workspace_id != link.workspace_id:
        raise PermissionDenied("This link belongs to another workspace.")
    now = timezone.now()
    with transaction.atomic():
        PortalLink.objects.filter(pk=link.pk, revoked_at__isnull=True).update(
            revoked_at=now, revoked_by=agent
        )
        PortalSession.objects.filter(link=link, ended_at__isnull=True).update(ended_at=now)
        PortalChallenge.objects.filter(
            link=link, verified_at__isnull=True, expires_at__gt=now
        ).update(expires_at=now)
    link.refresh_from_db()
    return link


def redact_delivered(*, workspace_id: int) -> int:
    """Replace the text of every delivered (or abandoned) link and code message of the
    workspace by its ``safe_text``: once the sender is done with a message, no copy of
    the secret stays in the database. Returns how many messages were redacted."""
    finished = (OutboxMessage.Status.SENT, OutboxMessage.Status.DEAD)
    links = PortalLink.objects.filter(
        workspace_id=workspace_id, redacted_at__isnull=True, message__outbox__status__in=finished
    )
    codes = PortalChallenge.objects.filter(
        workspace_id=workspace_id, redacted_at__isnull=True, message__outbox__status__in=finished
    )
    return _redact(links) + _redact(codes)


def _redact(rows: "QuerySet[PortalLink] | QuerySet[PortalChallenge]") -> int:
    done = 0
    for pk, message_id, safe_text in rows.values_list("pk", "message_id", "safe_text"):
        with transaction.atomic():
            Message.objects.filter(pk=message_id).update(text=safe_text)
            done += rows.model.objects.filter(pk=pk, redacted_at__isnull=True).update(
                redacted_at=timezone.now()
            )
    return done


# --- proof of identity (customers) -------------------------------------------------------


def open_link(*, workspace: Workspace, token: str) -> PortalLink:
    """The link this token names in this workspace, if still usable. Opening a link
    never signs anyone in; it only lets the holder ask for a code."""
    if not credentials.link_token_valid(workspace_id=workspace.pk, token=token):
        raise LinkUnusable
    now = timezone.now()
    link = (
        PortalLink.objects.filter(workspace=workspace, digest=credentials.digest(token))
        .select_related("case", "contact")
        .first()
    )
    if link is None or link.revoked_at is not None or link.expires_at <= now:
        raise LinkUnusable
    PortalLink.objects.filter(pk=link.pk, opened_at__isnull=True).update(opened_at=now)
    redact_delivered(workspace_id=workspace.pk)
    return link


def send_code(*, link: PortalLink, identity_id: int) -> PortalChallenge:
    """Send a new one-time code to one of the link's routes through the outbox (an
    automatic message, like an acknowledgement: it does not answer the case). Older
    codes of the link stop working. At most ``CODES_PER_LINK`` codes an hour.

    Raises PortalInvalid (not one of the routes) or ``Throttled``, with nothing sent.
    """
    if link.case.contact_id != link.contact_id:
        raise PortalInvalid("This link no longer matches the case; ask us for a new one.")
    identity = next((r for r in verification_routes(link.case) if r.pk == identity_id), None)
    if identity is None or identity.contact_id != link.contact_id:
        raise PortalInvalid("Choose one of the ways offered to receive your code.")
    redact_delivered(workspace_id=link.workspace_id)
    now = timezone.now()
    with transaction.atomic():
        spend(CODES_PER_LINK, str(link.pk), now=now)
        PortalChallenge.objects.filter(
            link=link, verified_at__isnull=True, expires_at__gt=now
        ).update(expires_at=now)
        challenge = PortalChallenge(
            workspace_id=link.workspace_id, link=link, identity=identity, expires_at=now + CODE_TTL
        )
        code = credentials.new_code()
        challenge.code_digest = credentials.code_digest(challenge_id=challenge.public_id, code=code)
        text = code_text(workspace=link.case.workspace, code=code)
        challenge.safe_text = text.replace(code, REMOVED_CODE)
        challenge.message = _queue_code(link.case, identity, text, challenge, now)
        challenge.save()
    return challenge


def code_text(*, workspace: Workspace, code: str) -> str:
    minutes = int(CODE_TTL.total_seconds() // 60)
    return (
        f"Your code for the {workspace.name} support portal is {code}. It expires in "
        f"{minutes} minutes. If you did not ask for it, you can ignore this message."
    )


def _queue_code(
    case: Case, identity: ContactIdentity, text: str, challenge: PortalChallenge, now: datetime
) -> Message:
    verdict = check_tone(text)
    if not verdict.allowed:
        raise PortalInvalid("The code message did not pass the tone guard; tell the support team.")
    channel, in_reply_to = answer_channel(
        case=case, visibility=Visibility.PRIVATE, channel=identity.channel
    )
    message = Message.objects.create(
        workspace_id=case.workspace_id,
        case=case,
        channel=channel,
        direction=Direction.OUTBOUND,
        visibility=Visibility.PRIVATE,
        in_reply_to=in_reply_to,
        brand_handle=case.workspace.brand_handle,
        text=text,
        sent_at=now,
        delivery_status=DeliveryStatus.QUEUED,
    )
    outbox = OutboxMessage.objects.create(
        workspace_id=case.workspace_id,
        case=case,
        message=message,
        idempotency_key=f"portal-code-{challenge.public_id}",
        channel=channel,
        available_at=now,
        tone_verdict={**verdict_dict(verdict), "automatic": True},
    )
    _check_recipient(outbox, identity)
    return message


def verify_code(
    *, link: PortalLink, challenge_id: uuid.UUID, code: str
) -> tuple[PortalSession, str]:
    """Check a typed code; on success open a portal session and return it with the
    cookie secret. Raises CodeRefused.

    One attempt is spent, by a conditional UPDATE committed before the code is even
    compared, so however many requests race, at most ``MAX_CODE_ATTEMPTS`` codes are
    ever evaluated for a challenge; the rest are refused unread.
    """
    challenge = (
        PortalChallenge.objects.filter(link=link, public_id=challenge_id)
        .select_related("identity")
        .first()
    )
    if challenge is None:
        raise CodeRefused("Ask for a code first.")
    now = timezone.now()
    spent = PortalChallenge.objects.filter(
        pk=challenge.pk,
        attempts__lt=MAX_CODE_ATTEMPTS,
        verified_at__isnull=True,
        expires_at__gt=now,
    ).update(attempts=F("attempts") + 1)
    if not spent:
        raise CodeRefused(_why_refused(challenge.pk, now))
    if not credentials.code_matches(
        challenge_id=challenge.public_id, stored=challenge.code_digest, code=code
    ):
        left = MAX_CODE_ATTEMPTS - _attempts(challenge.pk)
        if left <= 0:
            raise CodeRefused(
                "That code is not right, and that was the last try. Ask for a new code."
            )
        raise CodeRefused(f"That code is not right. {left} {'try' if left == 1 else 'tries'} left.")
    return open_session(link, challenge, now)


def _attempts(challenge_pk: int) -> int:
    return PortalChallenge.objects.values_list("attempts", flat=True).get(pk=challenge_pk)


def _why_refused(challenge_pk: int, now: datetime) -> str:
    challenge = PortalChallenge.objects.get(pk=challenge_pk)
    if challenge.verified_at is not None:
        return "This code was already used. Ask for a new code."
    if challenge.attempts >= MAX_CODE_ATTEMPTS:
        return "Too many wrong codes. Ask for a new code."
    return "This code has expired. Ask for a new code."


def open_session(
    link: PortalLink, challenge: PortalChallenge, now: datetime, *, method: str = "one-time code"
) -> tuple[PortalSession, str]:
    """The customer proved control of ``challenge.identity`` (a right code, or a Mastodon
    sign-in: ``fairdesk.portal.oauth``): mark the challenge verified, once, and open a
    portal session with the cookie secret. Raises CodeRefused if it already was."""
    secret = credentials.new_session_secret()
    with transaction.atomic():
        won = PortalChallenge.objects.filter(pk=challenge.pk, verified_at__isnull=True).update(
            verified_at=now
        )
        if not won:
            raise CodeRefused("This code was already used. Ask for a new code.")
        session = PortalSession.objects.create(
            workspace_id=link.workspace_id,
            contact_id=link.contact_id,
            link=link,
            identity=challenge.identity,
            digest=credentials.digest(secret),
            expires_at=min(now + SESSION_TTL, link.expires_at),
        )
        events.identity_verified(session, method=method, at=now).save()
    redact_delivered(workspace_id=link.workspace_id)
    return session, secret


def end_session(*, session: PortalSession) -> None:
    PortalSession.objects.filter(pk=session.pk, ended_at__isnull=True).update(
        ended_at=timezone.now()
    )


# --- the customer's case -----------------------------------------------------------------


def post_reply(
    *,
    session: PortalSession,
    case: Case,
    text: str,
    key: str,
    files: Sequence[uploads.Upload] = (),
) -> Message:
    """File the customer's private reply on ``case`` (see the module doc for why not
    through the pipeline), with ``files`` (from ``uploads.accept``) as its attachments;
    a reply of files only gets the text ``FILES_ONLY_TEXT``. The same ``key`` again
    returns the message already filed, with the files it was filed with.

    Raises PermissionDenied (not the session contact's case) or PortalInvalid, with
    nothing written: no message, no attachment, no file."""
    _check_own(session, case)
    body = (text or "").strip()
    if not body and not files:
        raise PortalInvalid("Write a message or attach a file before sending.")
    if len(body) > MAX_REPLY_CHARS:
        raise PortalInvalid(f"A message can be at most {MAX_REPLY_CHARS:,} characters.")
    try:
        uploads.check(files)
    except uploads.UploadRefused as refused:
        raise PortalInvalid(str(refused)) from refused
    body = body or FILES_ONLY_TEXT
    if session.identity is None:
        raise PortalInvalid("Please confirm it is you again: open your link and ask for a code.")
    external_id = f"portal-{key}"
    existing = _filed(case, external_id)
    if existing is not None:
        return existing
    triage = _triage(case).classifier.classify([body])[0]
    try:
        with transaction.atomic():
            return _file_reply(session, case, body, external_id, triage, files)
    except IntegrityError:  # the same form, posted twice at once
        existing = _filed(case, external_id)
        if existing is None:
            raise
        return existing


def _check_own(session: PortalSession, case: Case) -> None:
    if case.workspace_id != session.workspace_id or case.contact_id != session.contact_id:
        raise PermissionDenied("Not your case.")


def _filed(case: Case, external_id: str) -> Message | None:
    existing = Message.objects.filter(
        workspace_id=case.workspace_id, channel=CHANNEL, external_id=external_id
    ).first()
    if existing is not None and existing.case_id != case.pk:
        raise PortalInvalid("This form was already used for another case; reload the page.")
    return existing


def _file_reply(
    session: PortalSession,
    case: Case,
    body: str,
    external_id: str,
    triage: TriageResult,
    files: Sequence[uploads.Upload],
) -> Message:
    now = timezone.now()
    lock_contacts([case.contact_id])  # the pipeline's lock order: contact, then case
    locked = Case.objects.select_for_update().select_related("workspace").get(pk=case.pk)
    _check_own(session, locked)
    if locked.status == CaseStatus.CLOSED:
        raise PortalInvalid("This case is closed. Contact us again and we will open a new one.")
    message = Message.objects.create(
        workspace_id=locked.workspace_id,
        case=locked,
        channel=CHANNEL,
        direction=Direction.INBOUND,
        visibility=Visibility.PRIVATE,
        identity=session.identity,
        external_id=external_id,
        text=body,
        sent_at=now,
        delivery_status=DeliveryStatus.RECEIVED,
        sentiment=triage.sentiment,
        stance=triage.stance,
        triage=triage.to_dict(),
    )
    uploads.store(
        workspace_id=locked.workspace_id,
        channel=CHANNEL,
        message_external_id=external_id,
        files=files,
    )
    events = _apply_reply(locked, triage, at=now)
    params: dict[str, object] = {"message_id": message.pk, "channel": CHANNEL}
    if files:
        params["attachments"] = len(files)
    events.append(CaseEvent(type=CaseEvent.Type.MESSAGE_RECEIVED, params=params, at=now))
    for event in events:
        event.workspace_id = locked.workspace_id
        event.case = locked
    CaseEvent.objects.bulk_create(events)
    return message


def _triage(case: Case) -> "WorkspaceTriage":
    """The workspace's classifier, imported on first use: the fast tier's libraries cost
    every process that loads the URLs (CLI commands, workers) a second at start-up."""
    from fairdesk.inbound.triage_cache import triage_for_workspace

    return triage_for_workspace(case.workspace)


def _apply_reply(case: Case, triage: TriageResult, *, at: datetime) -> list[CaseEvent]:
    """The customer spoke: the case's clock, severity and team move exactly as the
    pipeline moves them for a message on any other channel."""
    severity = _triage(case).severity_of(triage)
    previous = case.severity
    events: list[CaseEvent] = []
    if apply_inbound(case, at=at, severity=severity):
        events.append(severity_changed(case, previous, triage.signals, at=at))
        if triage.signals:
            case.reason = triage.signals[0]
        if "security_report" in triage.signals:
            teams = list(Team.objects.filter(workspace_id=case.workspace_id))
            team = team_for(teams, topic=case.topic, signals=triage.signals)
            if team is not None and team.pk != case.team_id:
                case.team = team
                events.append(rerouted(case, team.name, at=at))
    refresh_deadlines(case, targets_table(case.workspace))
    case.save(update_fields=[*DEADLINE_FIELDS, "reason", "team"])
    return events


def record_csat(*, session: PortalSession, case: Case, score: int, comment: str) -> CsatResponse:
    """The customer's one answer on a closed case: 1 (poor) to 5 (great), and a comment."""
    _check_own(session, case)
    if case.status != CaseStatus.CLOSED:
        raise PortalInvalid("You can rate a case once it is closed.")
    if not 1 <= score <= 5:
        raise PortalInvalid("Choose a rating from 1 to 5.")
    comment = (comment or "").strip()
    if len(comment) > MAX_COMMENT_CHARS:
        raise PortalInvalid(f"A comment can be at most {MAX_COMMENT_CHARS:,} characters.")
    answer = save_answer(
        case=case, channel=CHANNEL, score=score, comment=comment, at=timezone.now()
    )
    if answer is None:
        raise PortalInvalid("You have already rated this case. Thank you!")
    return answer
