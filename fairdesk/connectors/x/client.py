"""The X API v2 calls the connector makes, one function per endpoint.

Built against the X API v2 reference (docs.x.com/x-api):

- ``POST /2/tweets`` with ``{"text", "reply": {"in_reply_to_tweet_id"}}``; answers 201
  ``{"data": {"id", "text"}}`` (docs.x.com/x-api/posts/create-post).
- ``POST /2/dm_conversations/with/:participant_id/messages`` with ``{"text"}``; answers
  201 ``{"data": {"dm_conversation_id", "dm_event_id"}}``
  (docs.x.com/x-api/direct-messages/create-dm-message-by-participant-id).
- ``GET /2/users/:id/tweets`` and ``GET /2/users/:id/mentions`` (``since_id``,
  ``pagination_token``, ``max_results``, ``tweet.fields``, ``expansions``,
  ``user.fields``, ``media.fields``); answers ``{"data": [...], "includes": {"users":
  [...], "media": [...]}, "meta":
  {"newest_id", "oldest_id", "result_count", "next_token"}}``
  (docs.x.com/x-api/posts/user-mention-timeline-by-user-id, docs.x.com/x-api/fundamentals/
  pagination).
- ``GET /2/dm_conversations/with/:participant_id/dm_events`` (``dm_event.fields``,
  ``event_types``); answers ``{"data": [{"id", "event_type", "text", "sender_id"}]}``
  (docs.x.com/x-api/direct-messages/lookup/quickstart).

Authentication is an OAuth 2.0 user-context access token sent as ``Authorization:
Bearer``, refreshed before it expires and once after a 401 (``tokens.py``); a 429
carries ``x-rate-limit-reset`` in Unix seconds (docs.x.com/x-api/fundamentals/rate-limits).
"""

from collections.abc import Callable
from typing import Any

import httpx

from fairdesk.connectors import http
from fairdesk.connectors.base import Account, PollError, SendError
from fairdesk.connectors.x import tokens
from fairdesk.connectors.x.tokens import MissingToken, access_token

__all__ = ["MissingToken", "access_token"]

RESET = http.epoch_reset("x-rate-limit-reset")
PAGE_SIZE = 100
TIMELINE_FIELDS = "referenced_tweets,in_reply_to_user_id,created_at"
MENTION_FIELDS = (
    "created_at,conversation_id,in_reply_to_user_id,referenced_tweets,author_id,note_tweet,"
    "attachments"
)
MENTION_EXPANSIONS = "author_id,referenced_tweets.id,attachments.media_keys"
MENTION_MEDIA_FIELDS = "type,url,preview_image_url,variants"
MENTION_USER_FIELDS = "username,name,public_metrics"
DM_EVENT_FIELDS = "id,text,event_type,sender_id,created_at"


def _client(account: Account, token: str) -> httpx.Client:
    return http.client(account.config.api_base, headers={"Authorization": f"Bearer {token}"})


def _authorized(account: Account, call: Callable[[httpx.Client], httpx.Response]) -> httpx.Response:
    """One call with a token good for the next minutes; after a 401 (revoked or expired
    early), once more with a refreshed one. A 401 means nothing was done: safe to repeat."""
    token = tokens.fresh_token(account)
    with _client(account, token) as client:
        response = call(client)
    if response.status_code == 401 and tokens.can_refresh(account):
        token = tokens.refresh(account, stale=token)
        with _client(account, token) as client:
            response = call(client)
    return response


def post_tweet(account: Account, *, text: str, in_reply_to: str) -> str:
    """Post a tweet (a reply when ``in_reply_to``); the new tweet's id."""
    body: dict[str, Any] = {"text": text}
    if in_reply_to:
        body["reply"] = {"in_reply_to_tweet_id": in_reply_to}
    response = http.checked_send(
        lambda: _authorized(account, lambda client: client.post("/2/tweets", json=body)),
        reset=RESET,
    )
    return _created_id(response, "id")


def post_dm(account: Account, *, participant_id: str, text: str) -> str:
    """Send a one-to-one DM; the new DM event's id."""
    path = f"/2/dm_conversations/with/{participant_id}/messages"
    response = http.checked_send(
        lambda: _authorized(account, lambda client: client.post(path, json={"text": text})),
        reset=RESET,
    )
    return _created_id(response, "dm_event_id")


def _created_id(response: httpx.Response, key: str) -> str:
    """The id in a 2xx creation answer. Without one the post may still have happened, so
    this is a retryable error (the retry reconciles before sending again)."""
    try:
        value = response.json()["data"][key]
    except (ValueError, KeyError, TypeError) as exc:
        raise SendError(f"X answered {response.status_code} without data.{key}") from exc
    if not isinstance(value, str) or not value.isdigit():
        raise SendError(f"X answered {response.status_code} with a malformed data.{key}")
    return value


def user_tweets(account: Account) -> dict[str, Any]:
    """The brand account's most recent tweets (one page), for reconciliation."""
    params = {"max_results": PAGE_SIZE, "tweet.fields": TIMELINE_FIELDS}
    return _read(account, f"/2/users/{account.config.brand_user_id}/tweets", params)


def conversation_events(account: Account, *, participant_id: str) -> dict[str, Any]:
    """The most recent DM events of the one-to-one conversation with ``participant_id``."""
    params = {
        "max_results": PAGE_SIZE,
        "dm_event.fields": DM_EVENT_FIELDS,
        "event_types": "MessageCreate",
    }
    return _read(account, f"/2/dm_conversations/with/{participant_id}/dm_events", params)


def mentions(account: Account, *, since_id: str, pagination_token: str) -> dict[str, Any]:
    """One page of the brand account's mention timeline, newest first."""
    params: dict[str, Any] = {
        "max_results": PAGE_SIZE,
        "expansions": MENTION_EXPANSIONS,
        "user.fields": MENTION_USER_FIELDS,
        "tweet.fields": MENTION_FIELDS,
        "media.fields": MENTION_MEDIA_FIELDS,
    }
    if since_id:
        params["since_id"] = since_id
    if pagination_token:
        params["pagination_token"] = pagination_token
    return _read(account, f"/2/users/{account.config.brand_user_id}/mentions", params)


def _read(account: Account, path: str, params: dict[str, Any]) -> dict[str, Any]:
    try:
        return http.json_object(
            http.checked_read(
                lambda: _authorized(account, lambda client: client.get(path, params=params))
            )
        )
    except SendError as exc:  # no token, or its refresh failed: this poll fails
        raise PollError(str(exc)) from exc
