"""What every connector's ``parse`` shares: the error type and the last validation step."""

import re
from collections.abc import Iterable
from typing import Any

from pydantic import ValidationError

from fairdesk.inbound.interchange import MAX_ATTACHMENT_LINKS, InterchangeMessage

MAX_LINK_CHARS = 2000
# An http(s) URL with a host and no whitespace or control character (a NUL or a CR/LF in
# a link must never reach a header, a log line or a database text column).
WEB_LINK = re.compile(r"https?://[^\s/?#@\x00-\x1f\x7f][^\s\x00-\x1f\x7f]*")
MAX_KIND_CHARS = 30
CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class PayloadError(ValueError):
    """A signed payload that does not have the documented shape."""


def objects(container: dict[str, Any], key: str) -> list[dict[str, Any]]:
    """``container[key]`` as a list of JSON objects (missing means empty)."""
    items = container.get(key) or []
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise PayloadError(f"{key} is not a list of objects")
    return items


def media_links(candidates: Iterable[tuple[Any, Any]]) -> list[dict[str, str]]:
    """``(url, kind)`` pairs a platform gave for a message's files, as interchange
    attachment links for the media worker (``url`` may be a tuple of alternatives, best
    first: the first usable one is kept): only http(s) URLs with a host, each once, at
    most ``MAX_ATTACHMENT_LINKS``. Anything else (not a string, another scheme, too long,
    whitespace or a control character) is left out, never an error: a malformed file
    must not cost the customer's message."""
    links: list[dict[str, str]] = []
    seen: set[str] = set()
    for urls, kind in candidates:
        url = next((u for u in _alternatives(urls) if _is_web_link(u)), None)
        if url is None or url in seen:
            continue
        seen.add(url)
        label = CONTROL.sub("", kind).strip()[:MAX_KIND_CHARS] if isinstance(kind, str) else ""
        links.append({"url": url, "kind": label})
        if len(links) == MAX_ATTACHMENT_LINKS:
            break
    return links


def _alternatives(urls: Any) -> tuple[Any, ...]:
    return urls if isinstance(urls, tuple) else (urls,)


def _is_web_link(url: Any) -> bool:
    return isinstance(url, str) and len(url) <= MAX_LINK_CHARS and bool(WEB_LINK.fullmatch(url))


def dicts(value: Any) -> list[dict[str, Any]]:
    """The objects in ``value`` when it is a list (anything else: none), for optional
    parts of a payload where a malformed item is skipped rather than refused."""
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def interchange(raw: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Validate parsed records as interchange messages, or name the first bad field."""
    try:
        return [InterchangeMessage.model_validate(r).model_dump(mode="json") for r in raw]
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        raise PayloadError(f"invalid event: {where}: {error['msg']}") from exc
