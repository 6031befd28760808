"""The cheap webhook path: a per-process copy of the channel that never outlives an edit, the
channel's health mark written at most once a second and outside the store's transaction."""

import json

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from fairdesk.connectors import services
from fairdesk.connectors.models import Channel
from fairdesk.connectors.services import update_channel
from fairdesk.connectors.x.tests.conftest import (
    ACME_SECRET,
    GLOBEX_SECRET,
    fixture_json,
    signature,
)
from fairdesk.inbound.models import InboundEvent

NEW_SECRET = "rotated-consumer-secret-0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c"


def _body(n: int) -> bytes:
    """The recorded mention with its own id, so each delivery is a new event."""
    payload = fixture_json("tweet_mention.json")
    payload["tweet_create_events"][0]["id_str"] = str(1849100000000000100 + n)
    return json.dumps(payload).encode()


def _post(channel: Channel, body: bytes, secret: str, kind: str = "x") -> int:
    return (
        Client()
        .post(
            f"/webhooks/{kind}/{channel.public_id}/",
            body,
            content_type="application/json",
            headers={
                "x-twitter-webhooks-signature": signature(secret, body),
                "x-hub-signature-256": signature(secret, body),
            },
        )
        .status_code
    )


def test_a_rotated_secret_counts_from_the_next_delivery(x_channel: Channel) -> None:
    assert _post(x_channel, _body(1), ACME_SECRET) == 200  # the channel is now cached

    update_channel(
        channel=x_channel,
        name=x_channel.name,
        config=x_channel.config,
        credentials={"consumer_secret": NEW_SECRET},
    )

    assert _post(x_channel, _body(2), ACME_SECRET) == 401
    assert _post(x_channel, _body(3), NEW_SECRET) == 200
    assert set(InboundEvent.objects.values_list("external_id", flat=True)) == {
        "1849100000000000101",
        "1849100000000000103",
    }


def test_a_deleted_channel_is_gone_at_once(x_channel: Channel) -> None:
    assert _post(x_channel, _body(1), ACME_SECRET) == 200
    Channel.objects.filter(pk=x_channel.pk).delete()

    assert _post(x_channel, _body(2), ACME_SECRET) == 404
    assert InboundEvent.objects.count() == 1  # the first delivery's event, stored before


def test_the_cached_channel_answers_only_its_own_kind_and_workspace(
    x_channel: Channel, globex_channel: Channel
) -> None:
    assert _post(x_channel, _body(1), ACME_SECRET) == 200
    # The X channel's id on the Meta endpoint, and another workspace's secret on it: refused.
    assert _post(x_channel, _body(2), ACME_SECRET, kind="meta") == 404
    assert _post(x_channel, _body(3), GLOBEX_SECRET) == 401
    assert _post(globex_channel, _body(4), ACME_SECRET) == 401
    assert list(InboundEvent.objects.values_list("workspace_id", flat=True)) == [
        x_channel.workspace_id
    ]


def test_a_cached_delivery_reads_one_narrow_row_and_marks_health_once(
    x_channel: Channel,
) -> None:
    assert _post(x_channel, _body(1), ACME_SECRET) == 200
    with CaptureQueriesContext(connection) as queries:
        assert _post(x_channel, _body(2), ACME_SECRET) == 200
    sql = [q["sql"] for q in queries.captured_queries]
    workspace_table = x_channel.workspace._meta.db_table
    channel_table = Channel._meta.db_table

    assert not any(workspace_table in s for s in sql)  # the copy holds its workspace
    assert sum(s.startswith("SELECT") and channel_table in s for s in sql) == 1
    # The health mark was written by the first delivery; the second, within a second,
    # does not queue on the channel row again.
    assert not any(s.startswith("UPDATE") for s in sql)


def test_the_health_mark_follows_time(x_channel: Channel, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1000.0]
    monkeypatch.setattr(services.time, "monotonic", lambda: clock[0])
    assert _post(x_channel, _body(1), ACME_SECRET) == 200
    x_channel.refresh_from_db()
    first = x_channel.last_event_at
    assert first is not None

    clock[0] += 0.5
    assert _post(x_channel, _body(2), ACME_SECRET) == 200
    x_channel.refresh_from_db()
    assert x_channel.last_event_at == first

    clock[0] += services.EVENT_MARK_SECONDS
    assert _post(x_channel, _body(3), ACME_SECRET) == 200
    x_channel.refresh_from_db()
    assert x_channel.last_event_at is not None and x_channel.last_event_at > first


def test_a_rejected_delivery_leaves_no_health_mark(x_channel: Channel) -> None:
    assert _post(x_channel, _body(1), "not-the-secret") == 401
    x_channel.refresh_from_db()
    assert x_channel.last_event_at is None
