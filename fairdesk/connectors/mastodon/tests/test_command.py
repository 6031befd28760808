"""``fairdesk stream``: one thread per Mastodon channel, stopped by SIGTERM or a time.

The threads open their own database connections, so these tests commit (transaction=True);
on SQLite the test database is a file (root conftest), so two threads' writes wait for each
other as in production.
"""

import os
import signal
import threading
from io import StringIO

import pytest
from django.core.management import call_command

from fairdesk.connectors.mastodon.standin import MastodonStandIn
from fairdesk.connectors.mastodon.tests.conftest import mention, status_id
from fairdesk.connectors.models import Channel
from fairdesk.inbound.models import InboundEvent
from fairdesk.workspaces.models import Workspace

pytestmark = pytest.mark.django_db(transaction=True)


def texts(workspace: Workspace) -> list[tuple[str, str]]:
    events = InboundEvent.objects.filter(workspace=workspace).order_by("external_id")
    return [(e.external_id, e.payload["text"]) for e in events]


@pytest.mark.parametrize("both", [False, True], ids=["one channel", "two workspaces"])
def test_each_channel_streams_in_its_own_thread_until_sigterm(
    request: pytest.FixtureRequest,
    workspace: Workspace,
    other_workspace: Workspace,
    acme_instance: MastodonStandIn,
    globex_instance: MastodonStandIn,
    acme_channel: Channel,
    both: bool,
) -> None:
    instances = [acme_instance]
    if both:
        request.getfixturevalue("globex_channel")
        instances.append(globex_instance)
    handler_before = signal.getsignal(signal.SIGTERM)
    for instance in (acme_instance, globex_instance):
        instance.add_notification(mention(1, text=f"{instance.account['acct']} backlog"))
    failures: list[BaseException] = []

    def scenario() -> None:
        try:
            for instance in instances:
                instance.wait_until(lambda i: i.streams_backfilled(1))
                instance.add_notification(mention(2, text=f"{instance.account['acct']} live"))
                # a reconnect's backfill starts only once the live mention is stored
                instance.disconnect()
            for instance in instances:
                instance.wait_until(lambda i: i.streams_backfilled(2))
        except BaseException as exc:
            failures.append(exc)
        os.kill(os.getpid(), signal.SIGTERM)
        for instance in instances:
            instance.disconnect()

    player = threading.Thread(target=scenario, daemon=True)
    player.start()
    out = StringIO()
    call_command("stream", "--once-seconds", "120", stdout=out)  # SIGTERM ends it first
    player.join()

    assert failures == []
    assert out.getvalue() == f"streaming {len(instances)} Mastodon channels\nstopped\n"
    assert texts(workspace) == [
        (status_id(1), "AcmeSupport backlog"),
        (status_id(2), "AcmeSupport live"),
    ]
    globex = [(status_id(1), "GlobexHelp backlog"), (status_id(2), "GlobexHelp live")]
    assert texts(other_workspace) == (globex if both else [])
    assert Channel.objects.count() == len(instances)
    for channel in Channel.objects.all():
        assert channel.cursor == {"since_id": "40000002"}
    assert signal.getsignal(signal.SIGTERM) == handler_before


def test_once_seconds_backfills_each_channel_then_stops(
    workspace: Workspace, acme_instance: MastodonStandIn, acme_channel: Channel
) -> None:
    acme_instance.heartbeat = 0.05  # the reader notices the stop at a heartbeat
    acme_instance.add_notification(mention(1, text="while we were away"))

    out = StringIO()
    call_command("stream", "--once-seconds", "0", stdout=out)

    assert out.getvalue() == "streaming 1 Mastodon channels\nstopped\n"
    assert texts(workspace) == [(status_id(1), "while we were away")]


def test_without_mastodon_channels_there_is_nothing_to_stream(workspace: Workspace) -> None:
    out = StringIO()
    call_command("stream", "--once-seconds", "0", stdout=out)

    assert out.getvalue() == "no Mastodon channels to stream\n"
