"""The case events the portal writes: one small builder per event type (STYLE 10),
returned unsaved. Their params carry no secret — never a link, a token or a code — and
the customer's own words only where an agent needs them (a satisfaction comment)."""

from datetime import datetime

from fairdesk.cases.models import CaseEvent
from fairdesk.portal.models import CsatResponse, PortalLink, PortalSession

COMMENT_SHOWN = 200


def link_sent(link: PortalLink, *, at: datetime) -> CaseEvent:
    """An agent queued a portal link to the customer on one of their private channels."""
    return CaseEvent(
        workspace_id=link.workspace_id,
        case_id=link.case_id,
        type=CaseEvent.Type.PORTAL_LINK_SENT,
        params={"channel": link.channel, "expires_at": link.expires_at.isoformat()},
        actor=link.created_by,
        at=at,
    )


def identity_verified(session: PortalSession, *, method: str, at: datetime) -> CaseEvent:
    """The customer proved control of one of their identities and entered the portal
    (``method``: how, e.g. "one-time code")."""
    identity = session.identity
    return CaseEvent(
        workspace_id=session.workspace_id,
        case_id=session.link.case_id,
        type=CaseEvent.Type.IDENTITY_VERIFIED,
        params={"channel": identity.channel if identity else "", "method": method},
        actor=None,
        at=at,
    )


def satisfaction_rated(answer: CsatResponse, *, at: datetime) -> CaseEvent:
    """The customer's one answer to "How did we do?" (portal or their own channel)."""
    return CaseEvent(
        workspace_id=answer.workspace_id,
        case_id=answer.case_id,
        type=CaseEvent.Type.SATISFACTION_RATED,
        params={
            "score": answer.score,
            "channel": answer.channel,
            "comment": answer.comment[:COMMENT_SHOWN],
        },
        actor=None,
        at=at,
    )
