"""One way to talk HTTP to a platform: bounded timeouts, no redirects, and answers
mapped onto the connector errors (``base.py``) the sender and the poller understand."""

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import httpx

from fairdesk.connectors.base import PermanentSendError, PollError, RateLimited, SendError

TIMEOUT = httpx.Timeout(15.0, connect=5.0)
USER_AGENT = "Fairdesk/0.1 (+https://github.com/fairdesk)"
DEFAULT_RETRY = timedelta(minutes=1)

ResetParser = Callable[[Mapping[str, str]], datetime | None]


def client(base_url: str, *, headers: Mapping[str, str] | None = None) -> httpx.Client:
    """A client for one platform account. Redirects are not followed: an API that
    redirects a write is an error, not something to repeat elsewhere."""
    return httpx.Client(
        base_url=base_url.rstrip("/"),
        headers={"User-Agent": USER_AGENT, **(headers or {})},
        timeout=TIMEOUT,
        follow_redirects=False,
    )


def retry_after(headers: Mapping[str, str], now: datetime | None = None) -> datetime | None:
    """The standard ``Retry-After`` header (seconds or an HTTP date) as a time."""
    value = (headers.get("retry-after") or "").strip()
    if not value:
        return None
    now = now or datetime.now(UTC)
    if value.isdigit():
        return now + timedelta(seconds=int(value))
    try:
        return parsedate_to_datetime(value).astimezone(UTC)
    except (TypeError, ValueError):
        return None


def epoch_reset(header: str) -> ResetParser:
    """A parser for a header holding the reset time in Unix seconds (X's
    ``x-rate-limit-reset``, Bluesky's ``ratelimit-reset``)."""

    def parse(headers: Mapping[str, str]) -> datetime | None:
        value = (headers.get(header) or "").strip()
        if not value.isdigit():
            return None
        return datetime.fromtimestamp(int(value), tz=UTC)

    return parse


def checked_send(
    response_or_call: Callable[[], httpx.Response], *, reset: ResetParser | None = None
) -> httpx.Response:
    """Run one write request; its 2xx response, else the matching connector error.

    429 → ``RateLimited`` at the platform's reset time (``reset``, then ``Retry-After``,
    else a minute); 5xx and transport errors → ``SendError`` (retried later);
    other 4xx → ``PermanentSendError`` (the platform will not take it).
    """
    try:
        response = response_or_call()
    except httpx.HTTPError as exc:
        raise SendError(f"{type(exc).__name__}: {exc}") from exc
    status = response.status_code
    if status == 429:
        raise RateLimited(_reset_time(response.headers, reset), f"HTTP 429 {_excerpt(response)}")
    if status >= 500:
        raise SendError(f"HTTP {status} {_excerpt(response)}")
    if status >= 400:
        raise PermanentSendError(f"HTTP {status} {_excerpt(response)}")
    return response


def checked_read(call: Callable[[], httpx.Response]) -> httpx.Response:
    """Run one read request (polling, reconciliation); its 2xx response or ``PollError``."""
    try:
        response = call()
    except httpx.HTTPError as exc:
        raise PollError(f"{type(exc).__name__}: {exc}") from exc
    if response.status_code >= 300:
        raise PollError(f"HTTP {response.status_code} {_excerpt(response)}")
    return response


def json_object(response: httpx.Response) -> dict:
    """The response body as a JSON object, or ``PollError``."""
    try:
        data = response.json()
    except ValueError as exc:
        raise PollError("answer is not JSON") from exc
    if not isinstance(data, dict):
        raise PollError("answer is not a JSON object")
    return data


def _reset_time(headers: Mapping[str, str], reset: ResetParser | None) -> datetime:
    found = (reset(headers) if reset is not None else None) or retry_after(headers)
    return found or datetime.now(UTC) + DEFAULT_RETRY


def _excerpt(response: httpx.Response) -> str:
    return response.text[:200].replace("\n", " ")
