"""How long a reply may be, per channel and visibility: one rule, checked before queueing.

The connectors refuse an over-long text at send time (``PermanentSendError``), which
only shows as a dead letter minutes later. ``submit_reply`` asks this module first, with
the final text (signature ``^XY`` included), so the agent hears at once and nothing is
queued. The counting is the connectors' own, imported, never re-implemented: X's
weighting (``x.connector.weighted_length``), Bluesky's graphemes
(``bluesky.graphemes.count``), Mastodon's URL and mention rules
(``mastodon.connector.countable_length``, with the customer's mention the connector adds).

Limits, by where the reply goes:

- X: a post 280 weighted characters; a direct message 10,000 characters.
- Mastodon: the instance's ``max_characters`` when the channel's configuration records
  it, else Mastodon's default 500; public and direct posts alike.
- Bluesky: a post 300 graphemes / 3,000 bytes; a chat message 1,000 / 10,000.
- Facebook: a comment 8,000 characters; Messenger (and a private reply) 2,000.
- Instagram: a comment 2,200 characters; a direct message 1,000 bytes.
- E-mail, web form, phone (answered by e-mail): no platform limit; the reply box's own
  cap (``services.MAX_REPLY_CHARS``) applies.

The composer shows the same limits with a live counter (``cases/static/cases/
composer.js``, approximate); this module is the authority.
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fairdesk.cases.models import Case, Direction, Message, Visibility
from fairdesk.connectors.bluesky import graphemes
from fairdesk.connectors.bluesky.adapter import (
    MAX_MESSAGE_BYTES,
    MAX_MESSAGE_GRAPHEMES,
    MAX_POST_BYTES,
    MAX_POST_GRAPHEMES,
)
from fairdesk.connectors.mastodon.connector import (
    DEFAULT_MAX_CHARACTERS,
    DEFAULT_URL_CHARACTERS,
    MENTION,
    addressed,
    countable_length,
)
from fairdesk.connectors.models import Channel
from fairdesk.connectors.queries import sending_account
from fairdesk.connectors.x.connector import (
    MAX_DM_LENGTH,
    MAX_TWEET_LENGTH,
    SINGLE_WEIGHT,
    URL_LENGTH,
    weighted_length,
)

# Meta's documented limits (developers.facebook.com: Graph API comments, Messenger Send
# API "2000 characters", Instagram Messaging "less than 1000 bytes", Instagram comments).
FACEBOOK_COMMENT_CHARS = 8_000
MESSENGER_CHARS = 2_000
INSTAGRAM_COMMENT_CHARS = 2_200
INSTAGRAM_DM_BYTES = 1_000


@dataclass(frozen=True, slots=True)
class Limit:
    """How a channel measures a text (``counter``, in ``unit``) and the most it takes.

    ``max`` None: the platform sets no limit. ``max_bytes``: a second, UTF-8 limit some
    platforms add. ``client`` names the browser's approximation of ``counter``.
    """

    max: int | None
    unit: str
    counter: Callable[[str], int]
    where: str
    client: str = "chars"
    max_bytes: int | None = None
    url_length: int = 0
    prefix: str = ""

    def problem(self, text: str) -> str:
        """Why ``text`` is too long here, in words an agent can act on; '' when it fits."""
        used = self.counter(text)
        if self.max is not None and used > self.max:
            return (
                f"This reply is {used:,} {self.unit} and {self.where} takes at most "
                f"{self.max:,} (the signature included): shorten it by {used - self.max:,}."
            )
        size = len(text.encode("utf-8", "surrogatepass"))
        if self.max_bytes is not None and size > self.max_bytes:
            return (
                f"This reply is {size:,} bytes and {self.where} takes at most "
                f"{self.max_bytes:,}: shorten it (emoji and accented letters take several)."
            )
        return ""

    def for_browser(self) -> dict[str, Any]:
        """What ``composer.js`` needs to count like this (approximately)."""
        data: dict[str, Any] = {
            "max": self.max,
            "max_bytes": self.max_bytes,
            "unit": self.unit,
            "where": self.where,
            "client": self.client,
            "url_length": self.url_length,
            "prefix": self.prefix,
        }
        if self.client == "x":
            data["single"] = [list(span) for span in SINGLE_WEIGHT]
        return data


def final_text(body: str, initials: str) -> str:
    """The text that leaves: the agent's words signed ``^XY`` under the brand handle."""
    return f"{body} ^{initials}"


def limit_for(
    channel: str,
    visibility: str,
    account_config: Mapping[str, Any] | None = None,
    *,
    recipient_handle: str = "",
) -> Limit:
    """The limit of a reply on ``channel`` with ``visibility``. ``account_config`` is the
    sending account's configuration (Mastodon: its instance's ``max_characters``);
    ``recipient_handle`` the customer's handle, which Mastodon replies start with."""
    private = visibility == Visibility.PRIVATE
    config = account_config or {}
    if channel == "x":
        if private:
            return Limit(MAX_DM_LENGTH, "characters", len, "a direct message on X")
        return Limit(
            MAX_TWEET_LENGTH,
            "characters as X counts them (a URL 23, an emoji or CJK character 2)",
            weighted_length,
            "a post on X",
            client="x",
            url_length=URL_LENGTH,
        )
    if channel == "mastodon":
        return _mastodon(config, recipient_handle, private=private)
    if channel == "bluesky":
        if private:
            return Limit(
                MAX_MESSAGE_GRAPHEMES,
                "characters",
                graphemes.count,
                "a Bluesky chat message",
                client="graphemes",
                max_bytes=MAX_MESSAGE_BYTES,
            )
        return Limit(
            MAX_POST_GRAPHEMES,
            "characters",
            graphemes.count,
            "a Bluesky post",
            client="graphemes",
            max_bytes=MAX_POST_BYTES,
        )
    return _meta_or_unlimited(channel, private=private)


def _mastodon(config: Mapping[str, Any], handle: str, *, private: bool) -> Limit:
    limit = config.get("max_characters")
    if not isinstance(limit, int) or isinstance(limit, bool) or limit <= 0:
        limit = DEFAULT_MAX_CHARACTERS
    mention = handle if MENTION.fullmatch(handle or "") else ""
    return Limit(
        limit,
        "characters as Mastodon counts them (a URL 23, the customer's @mention included)",
        lambda text: countable_length(addressed(text, mention), DEFAULT_URL_CHARACTERS),
        "a direct post on Mastodon" if private else "a post on Mastodon",
        client="mastodon",
        url_length=DEFAULT_URL_CHARACTERS,
        prefix=mention,
    )


def _meta_or_unlimited(channel: str, *, private: bool) -> Limit:
    if channel == "instagram" and private:
        return Limit(
            None, "characters", len, "an Instagram direct message", max_bytes=INSTAGRAM_DM_BYTES
        )
    if channel == "instagram":
        return Limit(INSTAGRAM_COMMENT_CHARS, "characters", len, "an Instagram comment")
    if channel == "messenger" or (channel == "facebook" and private):
        return Limit(MESSENGER_CHARS, "characters", len, "a Messenger message")
    if channel == "facebook":
        return Limit(FACEBOOK_COMMENT_CHARS, "characters", len, "a Facebook comment")
    return Limit(None, "characters", len, "an e-mail")


def reply_limit(
    *,
    case: Case,
    channel: str,
    visibility: str,
    accounts: Sequence[Channel] | None = None,
    handles: dict[str, str] | None = None,
) -> Limit:
    """The limit of a reply on this case going out on ``channel``: the sending account's
    configuration and, on Mastodon, the customer's handle the connector will mention.
    ``accounts``: the workspace's connected accounts, when read already for several limits;
    ``handles``: a dict shared by several limits of one case, so that the customer's handle
    on a channel is read once (a public and a direct Mastodon post mention the same one)."""
    account = sending_account(workspace_id=case.workspace_id, channel=channel, accounts=accounts)
    handle = ""
    if channel == "mastodon":
        handles = {} if handles is None else handles
        if channel not in handles:
            handles[channel] = _customer_handle(case, channel)
        handle = handles[channel]
    return limit_for(
        channel, visibility, account.config if account else None, recipient_handle=handle
    )


def length_problem(*, case: Case, channel: str, visibility: str, text: str) -> str:
    """Why the final ``text`` cannot go out on ``channel``; '' when it fits."""
    return reply_limit(case=case, channel=channel, visibility=visibility).problem(text)


def _customer_handle(case: Case, channel: str) -> str:
    """The handle of the case's own customer on ``channel`` (their latest message there,
    else any identity of theirs there), as ``replies.outbound`` picks the recipient."""
    latest = (
        Message.objects.filter(
            case=case,
            channel=channel,
            direction=Direction.INBOUND,
            identity__contact_id=case.contact_id,
        )
        .order_by("-sent_at", "-id")
        .values_list("identity__handle", flat=True)
        .first()
    )
    if latest is not None:
        return latest
    identity = case.contact.newest_identities().get(channel)
    return identity.handle if identity is not None else ""
