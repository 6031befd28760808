"""Portal links over HTTP: an agent (or their tooling) sends a case's customer a link."""

import uuid
from datetime import datetime
from typing import Any

from django.http import HttpRequest
from ninja import Field, Router, Schema, Status
from pydantic import ConfigDict

from fairdesk.api_auth import current_agent
from fairdesk.cases.queries import case_for
from fairdesk.portal.services import MAX_KEY_CHARS, MAX_NOTE_CHARS, PortalInvalid, send_portal_link
from fairdesk.replies.api import ReplyRejectedOut, ToneBlockedOut, ToneIssueOut
from fairdesk.replies.services import ReplyInvalid, ToneBlocked

router = Router()


class PortalLinkIn(Schema):
    model_config = ConfigDict(extra="forbid")

    channel: str = Field(
        default="",
        max_length=30,
        description="The customer's private channel (x, facebook, messenger, instagram, "
        "mastodon, bluesky, email); empty = the channel the case started on.",
    )
    note: str = Field(default="", max_length=MAX_NOTE_CHARS, description="Shown before the link.")
    idempotency_key: str = Field(
        min_length=8,
        max_length=MAX_KEY_CHARS,
        description="Sending the same key again returns the same link and sends nothing new.",
    )


class PortalLinkOut(Schema):
    id: uuid.UUID = Field(description="The link's public id (never its secret).")
    case: uuid.UUID
    channel: str
    expires_at: datetime
    outbox_id: int
    outbox_status: str


@router.post(
    "/cases/{public_id}/portal-link",
    response={201: PortalLinkOut, 422: ToneBlockedOut | ReplyRejectedOut},
    summary="Send the customer a portal link",
)
def create_portal_link(
    request: HttpRequest, public_id: uuid.UUID, body: PortalLinkIn
) -> Status[Any]:
    """Queue a private message with a signed portal link to the case's customer through
    the outbox (tone-checked). The link's secret is never returned or stored."""
    agent = current_agent(request)
    case = case_for(workspace=agent.workspace, public_id=public_id)
    try:
        sent = send_portal_link(
            case=case,
            agent=agent,
            base_url=request.build_absolute_uri("/"),
            idempotency_key=body.idempotency_key,
            channel=body.channel,
            note=body.note,
        )
    except ToneBlocked as blocked:
        verdict = blocked.verdict
        issues = [
            ToneIssueOut(kind=i.kind, excerpt=i.excerpt, explanation=i.explanation)
            for i in verdict.issues
        ]
        return Status(422, ToneBlockedOut(issues=issues, suggestion=verdict.suggestion or None))
    except (PortalInvalid, ReplyInvalid) as invalid:
        return Status(422, ReplyRejectedOut(detail=str(invalid)))
    link = sent.link
    return Status(
        201,
        PortalLinkOut(
            id=link.public_id,
            case=case.public_id,
            channel=link.channel,
            expires_at=link.expires_at,
            outbox_id=sent.outbox.pk,
            outbox_status=sent.outbox.status,
        ),
    )
