"""What the composer shows before a reply is sent: where it goes, its final text, its
length against that channel's limit and the tone guard's verdict. Reads only.

The checks are the ones ``replies.services.submit_reply`` applies (the same channel
choice, signature, ``replies.limits`` rule and tone guard), so the preview says what
sending would do; sending still checks everything again.
"""

from dataclasses import dataclass
from typing import Any

from fairdesk.cases.models import Case, Visibility
from fairdesk.connectors.queries import accounts_of
from fairdesk.followthrough.quality import check_callback_answer
from fairdesk.replies.limits import Limit, final_text, reply_limit
from fairdesk.replies.services import (
    MAX_REPLY_CHARS,
    PRIVATE_ONLY,
    REPLY_VISIBILITIES,
    answer_channel,
    answer_channels,
    private_channels,
)
from fairdesk.triage import check_tone
from fairdesk.triage.types import ToneVerdict
from fairdesk.workspaces.models import Agent


@dataclass(frozen=True, slots=True)
class Preview:
    error: str = ""
    text: str = ""
    channel: str = ""
    visibility: str = ""
    brand_handle: str = ""
    used: int = 0
    limit: Limit | None = None
    too_long: str = ""
    verdict: ToneVerdict | None = None


def preview_reply(*, case: Case, agent: Agent, text: str, visibility: str, channel: str) -> Preview:
    """The reply as it would leave, or an ``error`` saying why it cannot be previewed."""
    body = (text or "").strip()
    channel = (channel or "").strip()
    if not body:
        return Preview(error="Write a reply to preview it.")
    if len(body) > MAX_REPLY_CHARS:
        return Preview(error=f"A reply can be at most {MAX_REPLY_CHARS:,} characters.")
    if visibility not in REPLY_VISIBILITIES:
        return Preview(error="Choose a public reply or a private message.")
    if channel and (
        visibility != Visibility.PRIVATE or channel not in dict(private_channels(case))
    ):
        return Preview(error="This customer cannot be reached privately on that channel.")
    target, visibility = reply_target(case=case, visibility=visibility, channel=channel)
    signed = final_text(body, agent.initials)
    limit = reply_limit(case=case, channel=target, visibility=visibility)
    return Preview(
        text=signed,
        channel=target,
        visibility=visibility,
        brand_handle=case.workspace.brand_handle,
        used=limit.counter(signed),
        limit=limit,
        too_long=limit.problem(signed),
        verdict=check_callback_answer(case=case, text=body, verdict=check_tone(body)),
    )


def reply_target(*, case: Case, visibility: str, channel: str = "") -> tuple[str, str]:
    """(channel, visibility) a reply goes out with, as ``submit_reply`` decides them."""
    target, _ = answer_channel(case=case, visibility=visibility, channel=channel)
    return _sent_as(target, visibility)


def _sent_as(target: str, visibility: str) -> tuple[str, str]:
    return target, (Visibility.PRIVATE if target in PRIVATE_ONLY else visibility)


def composer_limits(case: Case) -> dict[str, Any]:
    """The limit of every choice the reply box offers, for the live counter: the public
    reply, the private default and each private channel (key ``private:<channel>``)."""
    public, private = answer_channels(
        case=case, asked=[(Visibility.PUBLIC, ""), (Visibility.PRIVATE, "")]
    )
    choices = {
        "public": _sent_as(public[0], Visibility.PUBLIC),
        "private": _sent_as(private[0], Visibility.PRIVATE),
    }
    for name, _ in private_channels(case):  # a chosen private channel is where it goes
        choices[f"private:{name}"] = (name, Visibility.PRIVATE)
    found: dict[tuple[str, str], dict[str, Any]] = {}
    accounts = accounts_of(case.workspace_id)  # one read for every channel offered
    handles: dict[str, str] = {}  # and one of the customer's handle on each
    targets: dict[str, dict[str, Any]] = {}
    for key, target in choices.items():
        if target not in found:
            limit = reply_limit(
                case=case,
                channel=target[0],
                visibility=target[1],
                accounts=accounts,
                handles=handles,
            )
            found[target] = {"channel": target[0], **limit.for_browser()}
        targets[key] = found[target]
    return targets
