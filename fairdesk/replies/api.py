"""Reply API: an agent answers a case. The tone guard and the outbox live in services."""

import uuid
from datetime import datetime
from typing import Any, Literal

from django.shortcuts import get_object_or_404
from ninja import Field, Router, Schema
from pydantic import field_validator

from fairdesk.api_auth import current_agent
from fairdesk.cases.models import Case
from fairdesk.replies.models import OutboxMessage
from fairdesk.replies.services import ReplyInvalid, ToneBlocked, submit_reply

router = Router()


class ReplyIn(Schema):
    text: str = Field(min_length=1, max_length=10_000)
    visibility: Literal["public", "private"]
    channel: str = Field(
        default="",
        max_length=30,
        description="Private replies only: the customer's channel to move to "
        "(x, facebook, instagram, mastodon, bluesky, email); empty = where they last wrote.",
    )
    idempotency_key: str = Field(
        min_length=8,
        max_length=100,
        description="Sending the same key again returns the same reply and sends nothing new.",
    )

    @field_validator("text")
    @classmethod
    def not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("text must not be blank")
        return value


class ReplyOut(Schema):
    id: int = Field(description="The outbox entry.")
    idempotency_key: str
    status: str = Field(description="Outbox state: held, pending, sending, sent or dead.")
    channel: str
    visibility: str
    text: str
    delivery_status: str
    created_at: datetime
    sent_at: datetime | None


class ToneIssueOut(Schema):
    kind: str
    excerpt: str
    explanation: str


class ToneBlockedOut(Schema):
    blocked: bool = True
    issues: list[ToneIssueOut]
    suggestion: str | None


class ReplyRejectedOut(Schema):
    detail: str


def _reply_out(outbox: OutboxMessage) -> ReplyOut:
    message = outbox.message
    return ReplyOut(
        id=outbox.pk,
        idempotency_key=outbox.idempotency_key,
        status=outbox.status,
        channel=outbox.channel,
        visibility=message.visibility,
        text=message.text,
        delivery_status=message.delivery_status,
        created_at=outbox.created_at,
        sent_at=outbox.sent_at,
    )


@router.post(
    "/cases/{public_id}/replies",
    response={201: ReplyOut, 422: ToneBlockedOut | ReplyRejectedOut},
    summary="Reply to a case",
)
def create_reply(request: Any, public_id: uuid.UUID, body: ReplyIn) -> tuple[int, Any]:
    """Queue a reply through the tone guard. A blocked reply is a 422 listing the issues.

    The same idempotency key again returns the reply already queued and sends nothing new.
    """
    agent = current_agent(request)
    case = get_object_or_404(Case, workspace=agent.workspace, public_id=public_id)
    try:
        outbox = submit_reply(
            case=case,
            agent=agent,
            text=body.text,
            visibility=body.visibility,
            idempotency_key=body.idempotency_key,
            channel=body.channel,
        )
    except ToneBlocked as blocked:
        verdict = blocked.verdict
        issues = [
            ToneIssueOut(kind=i.kind, excerpt=i.excerpt, explanation=i.explanation)
            for i in verdict.issues
        ]
        return 422, ToneBlockedOut(issues=issues, suggestion=verdict.suggestion or None)
    except ReplyInvalid as invalid:
        return 422, ReplyRejectedOut(detail=str(invalid))
    return 201, _reply_out(outbox)
