"""Live mentions over the streaming API, with the REST backfill on every connect.

The stream runs in the test's thread (it needs the test's database connection); a
scenario thread plays the instance: it touches only the stand-in, never the database.
The reader looks at ``stop`` on heartbeats and when a connection ends; the stand-in
sends no heartbeats here, so every event queued before the scenario's final disconnect is
read before the stream stops.
"""

import json
import threading
from collections.abc import Callable
from typing import Any

from fairdesk.connectors.mastodon import streaming
from fairdesk.connectors.mastodon.standin import MastodonStandIn
from fairdesk.connectors.mastodon.streaming import Backoff, ServerEvent
from fairdesk.connectors.mastodon.tests.conftest import FIXTURES, fixture_json, mention, status_id
from fairdesk.connectors.models import Channel
from fairdesk.inbound.models import InboundEvent
from fairdesk.workspaces.models import Workspace

QUICK = Backoff(first=0.01, cap=0.05)


def stream_until_done(
    channel: Channel, instance: MastodonStandIn, scenario: Callable[[threading.Event], None]
) -> None:
    """Stream ``channel`` while ``scenario`` plays the instance in another thread; the
    scenario sets the stop. A failure in the scenario stops the stream and is raised."""
    stop = threading.Event()
    failures: list[BaseException] = []

    def play() -> None:
        try:
            scenario(stop)
        except BaseException as exc:
            failures.append(exc)
            stop.set()
        instance.disconnect()

    player = threading.Thread(target=play, daemon=True)
    player.start()
    streaming.stream_channel(channel, stop=stop, backoff=QUICK)
    player.join()
    if failures:
        raise failures[0]


def stored_ids(workspace: Workspace) -> list[str]:
    return sorted(
        InboundEvent.objects.filter(workspace=workspace).values_list("external_id", flat=True)
    )


def backfill_reads(instance: MastodonStandIn) -> list[dict[str, list[str]]]:
    return [r.query for r in instance.requests_to("GET", r"^/api/v1/notifications$")]


def test_server_events_from_a_recorded_stream() -> None:
    lines = (FIXTURES / "stream_recording.txt").read_text().split("\n")

    events = list(streaming.server_events(lines))

    assert [e.name if e else None for e in events] == [
        None,
        None,
        "notification",
        "filters_changed",
        None,
        "notification",
    ]
    first, second = (e for e in events if e is not None and e.name == "notification")
    assert json.loads(first.data) == fixture_json("mention_public.json")
    assert json.loads(second.data)["type"] == "favourite"
    assert list(streaming.server_events(["data: a", "data:b", "id: 7", "", "data: c"])) == [
        ServerEvent("message", "a\nb")
    ]


def test_a_live_mention_is_stored_and_what_arrived_while_away_is_backfilled(
    workspace: Workspace,
    other_workspace: Workspace,
    acme_instance: MastodonStandIn,
    acme_channel: Channel,
    globex_instance: MastodonStandIn,
    globex_channel: Channel,
) -> None:
    acme_instance.add_notification(mention(1))  # before we ever connect
    globex_instance.add_notification(mention(9))

    def scenario(stop: threading.Event) -> None:
        acme_instance.wait_until(lambda i: i.streams_backfilled(1))
        acme_instance.add_notification(mention(2))  # streamed live
        acme_instance.go_down()  # the connection drops and reconnecting fails…
        acme_instance.add_notification(mention(3))  # …while this one arrives
        acme_instance.wait_until(lambda i: i.refused >= 1)
        acme_instance.come_up()
        acme_instance.wait_until(lambda i: i.streams_backfilled(2))
        acme_instance.add_notification(mention(4))  # streamed live again
        stop.set()

    stream_until_done(acme_channel, acme_instance, scenario)

    assert stored_ids(workspace) == [status_id(n) for n in (1, 2, 3, 4)]
    assert stored_ids(other_workspace) == []
    acme_channel.refresh_from_db()
    assert acme_channel.cursor == {"since_id": "40000004"}
    assert acme_channel.last_event_at is not None
    assert acme_channel.last_error == 'stream: HTTP 502 {"error": "Bad gateway"}'
    # the first backfill took the newest page; the second resumed after the streamed
    # mention 2 and walked down to it, finding 3
    reads = backfill_reads(acme_instance)
    assert [q.get("since_id") for q in reads] == [None, ["40000002"], ["40000002"]]
    assert reads[2]["max_id"] == ["40000003"]
    assert globex_instance.requests == []


def test_an_unreadable_event_is_read_again_by_the_reconnect_backfill(
    workspace: Workspace, acme_instance: MastodonStandIn, acme_channel: Channel
) -> None:
    def scenario(stop: threading.Event) -> None:
        acme_instance.wait_until(lambda i: i.streams_backfilled(1))
        acme_instance.add_notification(mention(1), stream=False)
        acme_instance.send_raw(json.dumps(mention(1))[:80])  # cut off mid-event
        acme_instance.wait_until(lambda i: i.streams_backfilled(2))
        acme_instance.add_notification(mention(2))
        stop.set()

    stream_until_done(acme_channel, acme_instance, scenario)

    assert stored_ids(workspace) == [status_id(1), status_id(2)]
    acme_channel.refresh_from_db()
    assert acme_channel.last_error == "stream: a streamed notification is not JSON"
    assert acme_channel.cursor == {"since_id": "40000002"}


def test_other_streamed_notifications_are_ignored(
    workspace: Workspace, acme_instance: MastodonStandIn, acme_channel: Channel
) -> None:
    favourite: dict[str, Any] = fixture_json("notifications_mixed.json")[3]

    def scenario(stop: threading.Event) -> None:
        acme_instance.wait_until(lambda i: i.streams_backfilled(1))
        acme_instance.add_notification({**favourite, "id": "40000005"})
        acme_instance.add_notification(mention(6))
        stop.set()

    stream_until_done(acme_channel, acme_instance, scenario)

    assert stored_ids(workspace) == [status_id(6)]
    acme_channel.refresh_from_db()
    assert acme_channel.cursor == {"since_id": "40000006"}
    assert acme_channel.last_error == ""


def test_a_refused_token_is_recorded_and_retried(
    workspace: Workspace, acme_instance: MastodonStandIn, acme_channel: Channel
) -> None:
    acme_instance.token = "rotated-token"

    def scenario(stop: threading.Event) -> None:
        acme_instance.wait_until(lambda i: len(i.requests) >= 2)  # two refused connects
        stop.set()

    stream_until_done(acme_channel, acme_instance, scenario)

    acme_channel.refresh_from_db()
    assert acme_channel.last_error == 'stream: HTTP 401 {"error": "The access token is invalid"}'
    assert backfill_reads(acme_instance) == []
    assert stored_ids(workspace) == []


def test_backoff_doubles_up_to_its_cap() -> None:
    backoff = Backoff(first=1.0, cap=10.0)

    assert [backoff.delay(n) for n in range(6)] == [1.0, 1.0, 2.0, 4.0, 8.0, 10.0]
