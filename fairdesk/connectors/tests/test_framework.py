"""The parts every connector shares: polling from a cursor, HTTP error mapping, stand-ins."""

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from django.core.management import call_command

from conftest import record
from fairdesk.connectors import http, polling, registry
from fairdesk.connectors.base import (
    Account,
    Connector,
    PermanentSendError,
    PollError,
    PollResult,
    RateLimited,
    SendError,
)
from fairdesk.connectors.models import Channel
from fairdesk.connectors.services import create_channel
from fairdesk.connectors.standin import Request, Response, StandIn
from fairdesk.inbound.models import InboundEvent
from fairdesk.workspaces.models import Workspace


class FeedConnector(Connector):
    """Pages through a list of records two at a time; the cursor is the next index."""

    kind = "x"

    def __init__(self, records: list[dict[str, Any]]) -> None:
        self.records = records
        self.fail = False

    def poll(self, account: Account, cursor: dict[str, Any]) -> PollResult:
        if self.fail:
            raise PollError("HTTP 503 upstream")
        start = int(cursor.get("next", 0))
        page = self.records[start : start + 2]
        more = start + 2 < len(self.records)
        return PollResult(records=page, cursor={"next": start + len(page)}, more=more)


@pytest.fixture
def feed(
    workspace: Workspace, other_workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> FeedConnector:
    connector = FeedConnector([record(f"m-{n}", f"hello {n}", author=f"u-{n}") for n in range(5)])
    for ws in (workspace, other_workspace):
        create_channel(workspace=ws, kind="x", name="X", config={"brand_user_id": "1"})
    monkeypatch.setattr(registry, "connector", lambda kind: connector if kind == "x" else None)
    return connector


def test_polling_stores_every_page_and_moves_the_cursor(
    workspace: Workspace, other_workspace: Workspace, feed: FeedConnector
) -> None:
    channel = Channel.objects.get(workspace=workspace)
    outcome = polling.poll_channel(channel)
    assert (outcome.stored, outcome.pages, outcome.error) == (5, 3, "")
    channel.refresh_from_db()
    assert channel.cursor == {"next": 5}
    assert channel.last_poll_at is not None and channel.last_event_at is not None
    assert InboundEvent.objects.filter(workspace=workspace).count() == 5
    assert not InboundEvent.objects.filter(workspace=other_workspace).exists()
    # the next round resumes from the cursor: nothing new, nothing stored twice
    again = polling.poll_channel(channel)
    assert (again.stored, again.duplicates) == (0, 0)
    assert InboundEvent.objects.filter(workspace=workspace).count() == 5


def test_a_failed_poll_stores_nothing_and_keeps_the_cursor(
    workspace: Workspace, feed: FeedConnector
) -> None:
    feed.fail = True
    channel = Channel.objects.get(workspace=workspace)
    outcome = polling.poll_channel(channel)
    assert outcome.error == "HTTP 503 upstream"
    channel.refresh_from_db()
    assert channel.cursor == {}
    assert "503" in channel.last_error
    assert not InboundEvent.objects.exists()


def test_a_re_read_page_is_not_stored_twice(workspace: Workspace, feed: FeedConnector) -> None:
    channel = Channel.objects.get(workspace=workspace)
    polling.poll_channel(channel)
    Channel.objects.filter(pk=channel.pk).update(cursor={"next": 1})  # overlap after a crash
    channel.refresh_from_db()
    outcome = polling.poll_channel(channel)
    assert outcome.stored == 0 and outcome.duplicates == 4
    assert InboundEvent.objects.filter(workspace=workspace).count() == 5


def test_poll_command_polls_every_workspace(
    workspace: Workspace, other_workspace: Workspace, feed: FeedConnector
) -> None:
    call_command("poll", "--once")
    for ws in (workspace, other_workspace):
        assert InboundEvent.objects.filter(workspace=ws).count() == 5


def test_channels_without_a_connector_are_not_polled(workspace: Workspace) -> None:
    create_channel(workspace=workspace, kind="phone", name="Phone", config={})
    assert polling.pollable_channels() == []


class Platform(StandIn):
    def __init__(self) -> None:
        super().__init__()
        self.route("POST", r"/2/tweets", lambda r: Response(201, {"data": {"id": "99"}}))
        self.route("GET", r"/2/users/(?P<id>\d+)", self.user)

    def user(self, request: Request) -> Response:
        return Response(200, {"data": {"id": request.params["id"]}})


def test_http_errors_map_onto_connector_errors() -> None:
    with Platform() as platform, http.client(platform.url) as client:
        ok = http.checked_send(lambda: client.post("/2/tweets", json={"text": "hi"}))
        assert ok.json() == {"data": {"id": "99"}}
        assert platform.requests_to("POST", "/2/tweets")[0].json() == {"text": "hi"}
        assert http.checked_read(lambda: client.get("/2/users/7")).json()["data"]["id"] == "7"

        platform.fail_next(429, headers={"x-rate-limit-reset": "1893456000"})
        with pytest.raises(RateLimited) as limited:
            http.checked_send(
                lambda: client.post("/2/tweets", json={}),
                reset=http.epoch_reset("x-rate-limit-reset"),
            )
        assert limited.value.retry_at == datetime(2030, 1, 1, tzinfo=UTC)

        platform.fail_next(429, headers={"Retry-After": "120"})
        with pytest.raises(RateLimited) as limited:
            http.checked_send(lambda: client.post("/2/tweets", json={}))
        assert (limited.value.retry_at - datetime.now(UTC)).total_seconds() > 100

        platform.fail_next(503)
        with pytest.raises(SendError) as failed:
            http.checked_send(lambda: client.post("/2/tweets", json={}))
        assert not isinstance(failed.value, PermanentSendError)

        platform.fail_next(403, body={"detail": "You are not allowed to reply"})
        with pytest.raises(PermanentSendError, match="403"):
            http.checked_send(lambda: client.post("/2/tweets", json={}))

        platform.fail_next(500, path="/2/users")
        with pytest.raises(PollError):
            http.checked_read(lambda: client.get("/2/users/7"))
        assert client.get("/nowhere").status_code == 404


def test_an_unreachable_platform_is_a_retryable_error() -> None:
    with Platform() as platform:
        url = platform.url
    with http.client(url) as client, pytest.raises(SendError) as failed:
        http.checked_send(lambda: client.post("/2/tweets", json={}))
    assert not isinstance(failed.value, PermanentSendError)
    assert isinstance(failed.value.__cause__, httpx.HTTPError)
