"""The Meta connector piece by piece: routing, Graph error mapping, usage headers,
reconciliation reads, configuration, and the stand-in's own rules."""

import hashlib
import hmac
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from fairdesk.connectors import registry
from fairdesk.connectors.base import (
    OutboundRequest,
    PermanentSendError,
    PollError,
    RateLimited,
    Recipient,
    SendError,
)
from fairdesk.connectors.config import ConfigError, MetaConfig, validate_config
from fairdesk.connectors.meta.connector import CONNECTOR, Route, refusal, regain_time, route
from fairdesk.connectors.meta.standin import MetaStandIn
from fairdesk.connectors.meta.tests.conftest import IG_ACCOUNT_ID, PAGE_ID
from fairdesk.connectors.models import Channel
from fairdesk.connectors.queries import sending_account
from fairdesk.connectors.services import create_channel
from fairdesk.workspaces.models import Workspace

TOKEN = "EAApage-token-unit"
SECRET = "unit-app-secret"
NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
POST = f"{PAGE_ID}_220000000000001"
COMMENT = "220000000000001_330000000000001"
CONFIG = MetaConfig(page_id=PAGE_ID, instagram_account_id=IG_ACCOUNT_ID)


def request(
    channel: str, visibility: str, in_reply_to: str = "", recipient: str = "", text: str = "Hi"
) -> OutboundRequest:
    return OutboundRequest(
        idempotency_key="k",
        text=text,
        visibility=visibility,
        channel=channel,
        in_reply_to=in_reply_to,
        recipient=Recipient(external_id=recipient) if recipient else None,
    )


@pytest.mark.parametrize(
    ("outbound", "expected"),
    [
        (request("facebook", "public", COMMENT), Route("comment", COMMENT, {}, False)),
        (request("facebook", "public", POST), Route("comment", POST, {}, False)),
        (request("instagram", "public", "178657"), Route("ig_reply", "178657", {}, True)),
        (
            request("messenger", "private", "m_x", "61001"),
            Route("message", "", {"id": "61001"}, False),
        ),
        (
            request("instagram", "private", "dm-aWdf", "6177"),
            Route("message", "", {"id": "6177"}, True),
        ),
        (
            request("facebook", "private", COMMENT, "61001"),
            Route("private_reply", COMMENT, {"comment_id": COMMENT}, False),
        ),
        (
            request("facebook", "private", POST),
            Route("private_reply", POST, {"post_id": POST}, False),
        ),
        (
            request("instagram", "private", "178657", "6177"),
            Route("private_reply", "178657", {"comment_id": "178657"}, True),
        ),
    ],
)
def test_route_follows_channel_visibility_and_the_answered_message(
    outbound: OutboundRequest, expected: Route
) -> None:
    assert route(CONFIG, outbound) == expected


@pytest.mark.parametrize(
    ("outbound", "error"),
    [
        (request("messenger", "public", "m_x", "61001"), "Messenger conversations are private"),
        (request("instagram", "public", "dm-aWdf"), "a public reply on instagram must answer"),
        (request("facebook", "public"), "a public reply on facebook must answer"),
        (request("facebook", "private"), "a private reply needs the comment or post"),
        (request("messenger", "private", "m_x"), "a direct message needs the customer's id"),
        (request("x", "public", "1"), "'x' is not a Meta message channel"),
        (request("facebook", "public", "../../me/feed"), "is not a Graph object id"),
        (request("facebook", "public", "1?fields=x"), "is not a Graph object id"),
        (request("messenger", "private", "m_x", "6100/../1"), "is not a Graph object id"),
    ],
)
def test_replies_meta_cannot_take_are_refused_before_any_call(
    outbound: OutboundRequest, error: str
) -> None:
    with pytest.raises(PermanentSendError, match=error):
        route(CONFIG, outbound)


def test_instagram_needs_an_instagram_account() -> None:
    with pytest.raises(PermanentSendError, match="no Instagram account configured"):
        route(MetaConfig(page_id=PAGE_ID), request("instagram", "public", "178657"))


def graph_answer(
    status: int, code: int | None = None, headers: dict[str, str] | None = None, **extra: Any
) -> httpx.Response:
    error = {"message": f"(#{code}) refused", "type": "OAuthException", "code": code, **extra}
    body = {"error": error} if code is not None else {"nope": True}
    return httpx.Response(status, json=body, headers=headers or {})


@pytest.mark.parametrize(
    ("response", "kind"),
    [
        (graph_answer(400, 4), RateLimited),
        (graph_answer(400, 17), RateLimited),
        (graph_answer(403, 32), RateLimited),
        (graph_answer(400, 613), RateLimited),
        (graph_answer(400, 80001), RateLimited),
        (graph_answer(400, 80006), RateLimited),
        (graph_answer(429), RateLimited),
        (graph_answer(400, 100), PermanentSendError),
        (graph_answer(403, 10, error_subcode=2018278), PermanentSendError),
        (graph_answer(403, 200), PermanentSendError),
        (graph_answer(400, 551, error_subcode=1545041), PermanentSendError),
        (graph_answer(400, 190), PermanentSendError),
        (graph_answer(400, 1), SendError),
        (graph_answer(400, 2), SendError),
        (graph_answer(400, 368, is_transient=True), SendError),
        (graph_answer(500, 1), SendError),
        (graph_answer(502), SendError),
        (httpx.Response(503, text="<html>busy</html>"), SendError),
        (httpx.Response(302, headers={"Location": "https://elsewhere.example"}), SendError),
    ],
)
def test_graph_errors_map_by_code_not_only_by_status(
    response: httpx.Response, kind: type[Exception]
) -> None:
    assert type(refusal(response)) is kind


def test_the_refusal_carries_metas_words_and_an_explanation() -> None:
    response = graph_answer(400, 551, error_subcode=1545041)
    assert str(refusal(response)) == (
        "HTTP 400 Graph error 551/1545041 (OAuthException): (#551) refused — the person is "
        "not available (blocked the Page or turned off messages)"
    )


def buc(*estimates: object) -> dict[str, str]:
    usage = [
        {"type": "pages", "call_count": 100, "total_time": 9, "estimated_time_to_regain_access": e}
        for e in estimates
    ]
    return {"X-Business-Use-Case-Usage": json.dumps({PAGE_ID: usage, "other": "x"})}


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        (buc(17), NOW + timedelta(minutes=17)),
        (buc(3, 42, 0), NOW + timedelta(minutes=42)),
        (buc(0), NOW + timedelta(minutes=15)),
        (buc(10**9), NOW + timedelta(hours=24)),
        (buc(-5, True, "60", float("nan")), NOW + timedelta(minutes=15)),
        (
            {
                "X-App-Usage": json.dumps(
                    {"call_count": 100, "total_time": 5, "estimated_time_to_regain_access": 7}
                )
            },
            NOW + timedelta(minutes=7),
        ),
        (
            {"X-Page-Usage": json.dumps({"estimated_time_to_regain_access": 2.5})},
            NOW + timedelta(minutes=2.5),
        ),
        (
            {"X-Business-Use-Case-Usage": "{not json", "Retry-After": "90"},
            NOW + timedelta(seconds=90),
        ),
        ({"X-App-Usage": '{"call_count":100}'}, NOW + timedelta(minutes=15)),
        ({}, NOW + timedelta(minutes=15)),
    ],
)
def test_regain_time_reads_the_usage_headers(headers: dict[str, str], expected: datetime) -> None:
    assert regain_time(httpx.Headers(headers), NOW) == expected


def test_a_throttled_write_is_rate_limited_until_the_estimate() -> None:
    response = graph_answer(400, 80001, headers=buc(19))
    before = datetime.now(UTC)
    limited = refusal(response)
    after = datetime.now(UTC)
    assert isinstance(limited, RateLimited)
    assert before + timedelta(minutes=19) <= limited.retry_at <= after + timedelta(minutes=19)


# -- against the stand-in -----------------------------------------------------------


@pytest.fixture
def graph() -> Iterator[MetaStandIn]:
    with MetaStandIn() as standin:
        assert isinstance(standin, MetaStandIn)
        standin.add_page(
            PAGE_ID,
            TOKEN,
            name="Acme Support",
            instagram_account_id=IG_ACCOUNT_ID,
            instagram_username="@acmesupport",
            app_secret=SECRET,
        )
        standin.seed_post(POST)
        standin.seed_comment(COMMENT, parent=POST, author_id="61001", author_name="Dana", text="?")
        yield standin


@pytest.fixture
def page(workspace: Workspace, graph: MetaStandIn) -> Channel:
    return create_channel(
        workspace=workspace,
        kind="facebook",
        name="Acme",
        config={
            "page_id": PAGE_ID,
            "instagram_account_id": IG_ACCOUNT_ID,
            "instagram_username": "acmesupport",
            "api_base": graph.url,
        },
        credentials={"page_access_token": TOKEN, "app_secret": SECRET},
    )


def test_find_sent_matches_only_the_pages_own_reply_with_the_same_text(
    page: Channel, graph: MetaStandIn
) -> None:
    account = registry.account(page)
    text = "Line one\r\nline two ^JC"
    # A customer quoting the reply word for word is not the Page's reply.
    graph.seed_comment(
        "220000000000001_5", parent=COMMENT, author_id="61009", author_name="Q", text=text
    )
    outbound = request("facebook", "public", COMMENT, text=text)
    assert CONNECTOR.find_sent(account, outbound) is None

    posted = CONNECTOR.send(account, outbound)
    graph.replies_to(COMMENT)[-1].text = "Line one\nline two ^JC"  # Meta keeps LF only

    assert CONNECTOR.find_sent(account, outbound) == posted
    assert (
        CONNECTOR.find_sent(account, request("facebook", "public", COMMENT, text="Other")) is None
    )
    [lookup, *_] = graph.requests_to("GET", "/comments$")
    assert (lookup.arg("fields"), lookup.arg("filter"), lookup.arg("order")) == (
        "id,from,message",
        "stream",
        "reverse_chronological",
    )


def test_find_sent_in_a_conversation_uses_the_conversations_api(
    page: Channel, graph: MetaStandIn
) -> None:
    graph.seed_message(PAGE_ID, "61001", "Hi there")
    account = registry.account(page)
    outbound = request("messenger", "private", "m_x", "61001", text="We are on it ^JC")
    assert CONNECTOR.find_sent(account, outbound) is None

    mid = CONNECTOR.send(account, outbound)

    assert CONNECTOR.find_sent(account, outbound) == mid
    lookup = graph.requests_to("GET", f"/{PAGE_ID}/conversations$")[-1]
    assert (lookup.arg("platform"), lookup.arg("user_id"), lookup.arg("fields")) == (
        "messenger",
        "61001",
        "messages{id,message,from,created_time}",
    )


def test_find_sent_for_a_private_reply_reads_the_comments_conversation(
    page: Channel, graph: MetaStandIn
) -> None:
    account = registry.account(page)
    outbound = request("facebook", "private", COMMENT, "61001", text="Details sent ^JC")
    assert CONNECTOR.find_sent(account, outbound) is None

    mid = CONNECTOR.send(account, outbound)

    assert CONNECTOR.find_sent(account, outbound) == mid
    with pytest.raises(PermanentSendError, match="Only one private reply"):
        CONNECTOR.send(account, outbound)


def test_a_failed_reconciliation_read_is_a_poll_error(page: Channel, graph: MetaStandIn) -> None:
    graph.fail_next(500, method="GET")
    with pytest.raises(PollError, match="HTTP 500"):
        CONNECTOR.find_sent(registry.account(page), request("facebook", "public", COMMENT))


def test_a_created_answer_without_an_id_is_retryable(page: Channel, graph: MetaStandIn) -> None:
    graph.fail_next(200, body={"success": True}, method="POST")
    with pytest.raises(SendError, match="without a usable id") as raised:
        CONNECTOR.send(registry.account(page), request("facebook", "public", COMMENT))
    assert not isinstance(raised.value, PermanentSendError)


def test_an_unreachable_graph_is_retryable(page: Channel, graph: MetaStandIn) -> None:
    graph.stop()
    with pytest.raises(SendError) as raised:
        CONNECTOR.send(registry.account(page), request("facebook", "public", COMMENT))
    assert not isinstance(raised.value, PermanentSendError)


def test_the_token_and_the_app_secret_proof_are_sent(page: Channel, graph: MetaStandIn) -> None:
    CONNECTOR.send(registry.account(page), request("facebook", "public", COMMENT))

    [sent] = graph.requests_to("POST", "/comments$")
    assert sent.headers["authorization"] == f"Bearer {TOKEN}"
    # Computed independently: hex(HMAC-SHA256(app secret, token)).
    expected = hmac.new(SECRET.encode(), TOKEN.encode(), hashlib.sha256).hexdigest()
    assert sent.arg("appsecret_proof") == expected
    assert "access_token" not in sent.query


@pytest.mark.parametrize(
    ("credentials", "error"),
    [
        ({"page_access_token": "EAAwrong"}, "Graph error 190 (OAuthException): Invalid OAuth"),
        ({"page_access_token": TOKEN, "app_secret": "wrong"}, "Invalid appsecret_proof"),
        ({"page_access_token": TOKEN}, "Invalid appsecret_proof"),
        ({"page_access_token": "EAA tok\r\nX-Evil: 1"}, "has a malformed token"),
    ],
)
def test_the_standin_refuses_a_bad_token_like_graph(
    workspace: Workspace, graph: MetaStandIn, credentials: dict[str, str], error: str
) -> None:
    channel = create_channel(
        workspace=workspace,
        kind="facebook",
        name="Acme",
        config={"page_id": PAGE_ID, "api_base": graph.url},
        credentials=credentials,
    )
    with pytest.raises(PermanentSendError, match=re.escape(error)):
        CONNECTOR.send(registry.account(channel), request("facebook", "public", COMMENT))
    assert graph.replies_to(COMMENT) == []


def test_a_message_longer_than_messenger_allows_is_refused(
    page: Channel, graph: MetaStandIn
) -> None:
    graph.seed_message(PAGE_ID, "61001", "Hi")
    outbound = request("messenger", "private", "m_x", "61001", text="x" * 2001)
    with pytest.raises(PermanentSendError, match="Graph error 100"):
        CONNECTOR.send(registry.account(page), outbound)
    assert graph.sent == []


# -- configuration and routing to the account ---------------------------------------


def test_config_defaults_and_validation() -> None:
    clean = validate_config("facebook", {"page_id": PAGE_ID})
    assert (clean["api_base"], clean["graph_version"]) == ("https://graph.facebook.com", "v25.0")
    assert (
        validate_config("instagram", {"page_id": PAGE_ID, "graph_version": "v21.0"})[
            "graph_version"
        ]
        == "v21.0"
    )
    for bad in (
        {"api_base": "ftp://graph.facebook.com"},
        {"api_base": "https://graph.facebook.com/v1?x=1"},
        {"api_base": "javascript:alert(1)"},
        {"graph_version": "21.0"},
        {"graph_version": "v21.0/../../me"},
    ):
        with pytest.raises(ConfigError):
            validate_config("facebook", {"page_id": PAGE_ID, **bad})


def test_messenger_and_instagram_are_answered_by_the_facebook_page(
    workspace: Workspace, other_workspace: Workspace
) -> None:
    plain = create_channel(
        workspace=workspace, kind="facebook", name="A", config={"page_id": PAGE_ID}
    )
    assert sending_account(workspace_id=workspace.pk, channel="messenger") == plain
    assert sending_account(workspace_id=workspace.pk, channel="facebook") == plain
    assert sending_account(workspace_id=workspace.pk, channel="instagram") is None
    with_ig = create_channel(
        workspace=workspace,
        kind="facebook",
        name="B",
        config={"page_id": "104200000000002", "instagram_account_id": IG_ACCOUNT_ID},
    )
    assert sending_account(workspace_id=workspace.pk, channel="instagram") == with_ig
    assert sending_account(workspace_id=other_workspace.pk, channel="messenger") is None
    assert registry.connector("facebook") is CONNECTOR
    assert registry.connector("instagram") is CONNECTOR
