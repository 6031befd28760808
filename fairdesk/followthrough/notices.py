"""Automatic messages to the customer — "Is this fixed for you?", expectation updates,
the thank-you on confirmation — queued through the outbox like every reply.

They go out on the channel and visibility the customer last used on the case (a web
form or a phone call is answered by e-mail when we know the address, as agents' replies
are: ``replies.services.answer_channel``). The portal is not a channel anyone is told
on — nobody sees it until they open it — so it is passed over: the notice goes to the
channel the customer used before, privately once they have continued in the portal.
Their text is built only from customer-facing fields — the case reference, the work
orders' customer labels, the ETA — never from internal notes or internal titles, and it
passes the tone guard like anything else.

A message with no author is automatic: the sender does not count it as an answer, so it
does not stop the case's clock (``replies.sender._apply_to_case``).
"""

from datetime import datetime
from typing import Any

from django.utils import timezone

from fairdesk.cases.models import Case, CaseEvent, DeliveryStatus, Direction, Message, Visibility
from fairdesk.followthrough.coalesce import PORTAL
from fairdesk.replies.models import OutboxMessage
from fairdesk.replies.services import PRIVATE_ONLY, answer_channel, verdict_dict
from fairdesk.triage import check_tone
from fairdesk.triage.types import ToneVerdict
from fairdesk.workspaces.models import Agent

AUTOMATIC = "Fairdesk (automatic)"


class NoticeBlocked(Exception):
    """The tone guard stopped an automatic text (an agent-written label in it)."""

    def __init__(self, verdict: ToneVerdict) -> None:
        super().__init__("; ".join(issue.explanation for issue in verdict.issues))
        self.verdict = verdict


def last_used(case: Case) -> tuple[str, str]:
    """(channel, visibility) of the customer's latest message on the case outside the
    portal; private when their latest message of all was written in the portal."""
    inbound = Message.objects.filter(case=case, direction=Direction.INBOUND, is_spam=False)
    latest = (
        inbound.exclude(channel=PORTAL)
        .order_by("-sent_at", "-id")
        .values_list("channel", "visibility")
        .first()
    )
    channel, visibility = latest or (case.origin_channel, Visibility.PUBLIC)
    newest = inbound.order_by("-sent_at", "-id").values_list("channel", flat=True).first()
    if visibility == Visibility.PUBLIC and newest != PORTAL:
        return channel, Visibility.PUBLIC
    return channel, Visibility.PRIVATE


def queue_notice(
    *,
    case: Case,
    text: str,
    key: str,
    kind: str,
    author: Agent | None = None,
    private_on: str = "",
) -> OutboxMessage:
    """Queue ``text`` for the customer (call inside a transaction, with the case locked):
    on the channel they last used (``last_used``), or privately on ``private_on``.

    Raises ``NoticeBlocked`` when the tone guard stops it; nothing is written then.
    The same ``key`` again returns the row already queued.
    """
    existing = OutboxMessage.objects.filter(workspace_id=case.workspace_id, idempotency_key=key)
    found = existing.first()
    if found is not None:
        return found
    verdict = check_tone(text)
    if not verdict.allowed:
        raise NoticeBlocked(verdict)
    now = timezone.now()
    channel, visibility = (private_on, Visibility.PRIVATE) if private_on else last_used(case)
    channel, in_reply_to = answer_channel(case=case, visibility=visibility, channel=channel)
    if channel in PRIVATE_ONLY:
        visibility = Visibility.PRIVATE
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
        delivery_status=DeliveryStatus.QUEUED,
    )
    outbox = OutboxMessage.objects.create(
        workspace_id=case.workspace_id,
        case=case,
        message=message,
        idempotency_key=key,
        channel=channel,
        available_at=now,
        tone_verdict={**verdict_dict(verdict), "automatic": kind},
        author=author,
    )
    _queued_event(case, outbox, visibility=visibility, kind=kind, author=author, at=now)
    return outbox


def _queued_event(
    case: Case,
    outbox: OutboxMessage,
    *,
    visibility: str,
    kind: str,
    author: Agent | None,
    at: datetime,
) -> None:
    params: dict[str, Any] = {
        "outbox_id": outbox.pk,
        "channel": outbox.channel,
        "visibility": visibility,
        "author": author.display_name if author else AUTOMATIC,
        "automatic": kind,
    }
    CaseEvent.objects.create(
        workspace_id=case.workspace_id,
        case=case,
        type=CaseEvent.Type.REPLY_QUEUED,
        params=params,
        actor=author,
        at=at,
    )


def log_blocked(case: Case, *, kind: str, verdict: ToneVerdict) -> None:
    """An automatic text the tone guard stopped: the agents see why on the timeline."""
    CaseEvent.objects.create(
        workspace_id=case.workspace_id,
        case=case,
        type=CaseEvent.Type.REPLY_BLOCKED,
        params={
            "automatic": kind,
            "reasons": verdict_dict(verdict)["issues"],
            "suggestion": verdict.suggestion,
        },
        actor=None,
        at=timezone.now(),
    )
