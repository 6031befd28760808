"""Mastodon notifications and statuses as interchange records (DESIGN section 10).

Built against docs.joinmastodon.org: the Notification, Status and Account entities,
``GET /api/v1/notifications`` and the streaming API's ``notification`` event (the same
Notification JSON), and the API guidelines on formatting: ``content`` is sanitised HTML
(``<p>``, ``<br>``, ``<span>``, ``<a>``; links split into ``invisible``/``ellipsis``
spans), ``spoiler_text`` and ``display_name`` are plain text.

Only ``mention`` notifications carry a customer's words; every other type (favourite,
reblog, follow, …) is ignored. The external id is the status id, which is local to the
instance: a channel is one account on one instance, so it is unique within the channel
(a workspace connecting two instances could see two statuses share an id). A status
written by the channel's own account is the brand's (outbound). Every value is hostile
input: HTML is reduced to text by the standard library's parser, never rendered; each
record returned has passed ``InterchangeMessage`` validation.

A status's files (``media_attachments[]``, the MediaAttachment entity: ``type`` image,
gifv, video, audio or unknown) become attachment links for the media worker: ``url``,
the copy on the channel's instance, or for media the instance has not copied
(``url`` null) the original on the author's server, ``remote_url``.
"""

import re
from html.parser import HTMLParser
from typing import Any

from fairdesk.connectors.payloads import PayloadError, dicts, interchange, media_links
from fairdesk.inbound.interchange import MAX_TEXT_CHARS

CHANNEL = "mastodon"
MAX_NAME_CHARS = 320
# Elements whose content is code or markup, never words for a person to read.
SKIPPED_ELEMENTS = frozenset({"script", "style", "template", "noscript", "iframe", "object"})
BLOCK_ELEMENTS = frozenset(
    {"p", "div", "blockquote", "pre", "ul", "ol", "li", "h1", "h2", "h3", "h4", "h5", "h6"}
)
PARAGRAPH = "\x00"  # marks a paragraph boundary until the text is assembled


def parse_notifications(
    notifications: Any, *, account_id: str, brand_handle: str
) -> list[dict[str, Any]]:
    """Interchange records for the ``mention`` notifications in a list of Notifications."""
    if not isinstance(notifications, list) or not all(isinstance(n, dict) for n in notifications):
        raise PayloadError("notifications are not a list of objects")
    raw: list[dict[str, Any]] = []
    for notification in notifications:
        if notification.get("type") != "mention":
            continue
        status = notification.get("status")
        if not isinstance(status, dict):
            raise PayloadError(f"mention {str(notification.get('id'))[:40]} has no status")
        raw.append(status_record(status, account_id=account_id, brand_handle=brand_handle))
    return interchange(raw)


def status_record(status: dict[str, Any], *, account_id: str, brand_handle: str) -> dict[str, Any]:
    """One Status as an interchange record (not yet validated)."""
    try:
        author = _author(status["account"])
        outbound = author["external_id"] == account_id
        reply_to = status.get("in_reply_to_id")
        return {
            "channel": CHANNEL,
            "external_id": str(status["id"]),
            "direction": "outbound" if outbound else "inbound",
            "visibility": "private" if status.get("visibility") == "direct" else "public",
            "created_at": str(status["created_at"]),
            "author": author,
            "text": status_text(status),
            "in_reply_to": str(reply_to) if reply_to else None,
            "brand_handle": brand_handle,
            "attachments": media_attachments(status),
        }
    except (KeyError, TypeError, AttributeError) as exc:
        raise PayloadError(f"malformed status: {type(exc).__name__} {str(exc)[:80]}") from exc


def media_attachments(status: dict[str, Any]) -> list[dict[str, str]]:
    """Attachment links for a status's files; a malformed item is left out."""
    return media_links(
        ((a.get("url"), a.get("remote_url")), a.get("type"))
        for a in dicts(status.get("media_attachments"))
    )


def _author(account: dict[str, Any]) -> dict[str, Any]:
    acct = str(account.get("acct") or account.get("username") or "")
    followers = account.get("followers_count")
    countable = isinstance(followers, int) and not isinstance(followers, bool) and followers >= 0
    return {
        "external_id": str(account["id"]),
        "handle": ("@" + acct if acct else "")[:MAX_NAME_CHARS],
        "display_name": str(account.get("display_name") or "")[:MAX_NAME_CHARS],
        "followers": followers if countable else None,
    }


def status_text(status: dict[str, Any]) -> str:
    """What the customer wrote: the content warning first, then the content as plain text,
    then a line per attached file (a post may be a photo with no words)."""
    parts = []
    spoiler = _lines(str(status.get("spoiler_text") or "")).strip()
    if spoiler:
        parts.append(f"CW: {spoiler}")
    body = html_to_text(str(status.get("content") or ""))
    if body:
        parts.append(body)
    attachments = [_attachment(a) for a in dicts(status.get("media_attachments"))]
    if attachments:
        parts.append("\n".join(attachments))
    return "\n\n".join(parts)[:MAX_TEXT_CHARS]


def _attachment(attachment: dict[str, Any]) -> str:
    kind = str(attachment.get("type") or "file")
    description = _lines(str(attachment.get("description") or "")).strip()
    return f"[{kind} attached: {description}]" if description else f"[{kind} attached]"


def html_to_text(html: str) -> str:
    """Sanitised status HTML as plain text: tags dropped (script and style with their
    content), ``<br>`` a line break, paragraphs separated by a blank line, entities
    unescaped, line endings normalised. The result is text to escape, never markup."""
    parser = _PlainText()
    parser.feed(html)
    parser.close()
    text = _lines("".join(parser.parts))
    text = re.sub(r"[ \t]+\n", "\n", text)
    paragraphs = (p.strip("\n") for p in text.split(PARAGRAPH))
    joined = "\n\n".join(p for p in paragraphs if p.strip())
    return re.sub(r"\n{3,}", "\n\n", joined).strip()


def _lines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


class _PlainText(HTMLParser):
    """Collects the text of an HTML fragment (see ``html_to_text``)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in SKIPPED_ELEMENTS:
            self.skipping += 1
        elif tag == "br" and not self.skipping:
            self.parts.append("\n")
        elif tag in BLOCK_ELEMENTS:
            self.parts.append(PARAGRAPH)

    def handle_endtag(self, tag: str) -> None:
        if tag in SKIPPED_ELEMENTS:
            self.skipping = max(self.skipping - 1, 0)
        elif tag in BLOCK_ELEMENTS:
            self.parts.append(PARAGRAPH)

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(data.replace(PARAGRAPH, ""))
