"""REST polling of mention notifications against the stand-in instance."""

from typing import Any

import pytest
from django.core.management import call_command

from fairdesk.cases.models import Case, Message
from fairdesk.connectors import polling
from fairdesk.connectors.mastodon.standin import MastodonStandIn
from fairdesk.connectors.mastodon.tests.conftest import (
    ACME_TOKEN,
    GLOBEX_TOKEN,
    connect,
    fixture_json,
    mention,
    status_id,
)
from fairdesk.connectors.models import Channel
from fairdesk.contacts.models import ContactIdentity
from fairdesk.inbound.models import InboundEvent
from fairdesk.inbound.pipeline import drain
from fairdesk.workspaces.models import Workspace


def stored_ids(workspace: Workspace) -> list[str]:
    events = InboundEvent.objects.filter(workspace=workspace, channel="mastodon")
    return sorted(events.values_list("external_id", flat=True))


def reads(instance: MastodonStandIn) -> list[dict[str, list[str]]]:
    return [r.query for r in instance.requests_to("GET", r"^/api/v1/notifications$")]


def cursor(channel: Channel) -> dict[str, Any]:
    channel.refresh_from_db()
    return channel.cursor


def test_first_poll_takes_only_the_newest_page(
    workspace: Workspace, acme_instance: MastodonStandIn, acme_channel: Channel
) -> None:
    for n in range(1, 46):
        acme_instance.add_notification(mention(n))

    outcome = polling.poll_channel(acme_channel)

    assert (outcome.stored, outcome.pages, outcome.error) == (40, 1, "")
    assert stored_ids(workspace) == sorted(status_id(n) for n in range(6, 46))
    assert reads(acme_instance) == [{"types[]": ["mention"], "limit": ["40"]}]
    assert cursor(acme_channel) == {"since_id": "40000045"}
    request = acme_instance.requests_to("GET", "notifications")[0]
    assert request.headers["authorization"] == f"Bearer {ACME_TOKEN}"


def test_polling_stores_once_and_resumes_from_the_cursor(
    workspace: Workspace, acme_instance: MastodonStandIn, acme_channel: Channel
) -> None:
    acme_instance.add_notification(mention(1))
    assert polling.poll_channel(acme_channel).stored == 1

    again = polling.poll_channel(acme_channel)
    assert (again.stored, again.duplicates, again.pages) == (0, 0, 1)

    acme_instance.add_notification(mention(2))
    acme_instance.add_notification(fixture_json("notifications_mixed.json")[3])  # a favourite
    acme_instance.add_notification(mention(3))
    later = polling.poll_channel(acme_channel)

    assert (later.stored, later.pages) == (2, 2)  # the page, then the empty page ending it
    assert stored_ids(workspace) == [status_id(1), status_id(2), status_id(3)]
    assert reads(acme_instance)[-2:] == [
        {"types[]": ["mention"], "limit": ["40"], "since_id": ["40000001"]},
        {
            "types[]": ["mention"],
            "limit": ["40"],
            "since_id": ["40000001"],
            "max_id": ["40000002"],
        },
    ]
    assert cursor(acme_channel) == {"since_id": "40000003"}


def test_a_burst_larger_than_a_page_is_walked_back_without_loss(
    workspace: Workspace, acme_instance: MastodonStandIn, acme_channel: Channel
) -> None:
    acme_instance.add_notification(mention(0))
    polling.poll_channel(acme_channel)
    for n in range(1, 96):
        acme_instance.add_notification(mention(n))

    outcome = polling.poll_channel(acme_channel)

    assert (outcome.stored, outcome.duplicates, outcome.pages) == (95, 0, 4)
    assert stored_ids(workspace) == sorted(status_id(n) for n in range(96))
    assert [q.get("max_id") for q in reads(acme_instance)[1:]] == [
        None,
        ["40000056"],  # from the Link header: the oldest of the page before
        ["40000016"],
        ["40000001"],
    ]
    assert all(q["since_id"] == ["40000000"] for q in reads(acme_instance)[1:])
    assert cursor(acme_channel) == {"since_id": "40000095"}


def test_a_walk_cut_short_resumes_where_it_stopped_and_skips_nothing(
    workspace: Workspace,
    acme_instance: MastodonStandIn,
    acme_channel: Channel,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    acme_instance.add_notification(mention(0))
    polling.poll_channel(acme_channel)
    for n in range(1, 61):
        acme_instance.add_notification(mention(n))
    monkeypatch.setattr(polling, "MAX_PAGES", 1)
    polling.poll_channel(acme_channel)
    assert cursor(acme_channel) == {
        "since_id": "40000000",
        "max_id": "40000021",
        "newest": "40000060",
    }

    # the instance fails, then more mentions arrive before the walk goes on
    acme_instance.fail_next(503, path="/api/v1/notifications")
    failed = polling.poll_channel(acme_channel)
    assert failed.error.startswith("HTTP 503")
    assert cursor(acme_channel)["max_id"] == "40000021"
    for n in range(61, 66):
        acme_instance.add_notification(mention(n))
    monkeypatch.setattr(polling, "MAX_PAGES", 20)
    polling.poll_channel(acme_channel)  # ends the walk at 60
    polling.poll_channel(acme_channel)  # then reads what came since

    assert stored_ids(workspace) == sorted(status_id(n) for n in range(66))
    assert cursor(acme_channel) == {"since_id": "40000065"}
    assert InboundEvent.objects.filter(workspace=workspace).count() == 66


def test_a_re_read_after_a_crash_is_not_stored_twice(
    workspace: Workspace, acme_instance: MastodonStandIn, acme_channel: Channel
) -> None:
    for n in range(1, 4):
        acme_instance.add_notification(mention(n))
    polling.poll_channel(acme_channel)
    Channel.objects.filter(pk=acme_channel.pk).update(cursor={"since_id": "40000001"})
    acme_channel.refresh_from_db()

    outcome = polling.poll_channel(acme_channel)

    assert (outcome.stored, outcome.duplicates) == (0, 2)
    assert len(stored_ids(workspace)) == 3


def test_a_refused_token_stores_nothing_and_keeps_the_cursor(
    workspace: Workspace, acme_instance: MastodonStandIn
) -> None:
    channel = connect(workspace, acme_instance, token="revoked-token")
    acme_instance.add_notification(mention(1))

    outcome = polling.poll_channel(channel)

    assert outcome.error == 'HTTP 401 {"error": "The access token is invalid"}'
    channel.refresh_from_db()
    assert channel.cursor == {}
    assert channel.last_error == 'poll: HTTP 401 {"error": "The access token is invalid"}'
    assert not InboundEvent.objects.exists()


def test_a_malformed_page_stores_nothing(
    workspace: Workspace, acme_instance: MastodonStandIn, acme_channel: Channel
) -> None:
    broken = mention(1)
    del broken["status"]["account"]
    acme_instance.add_notification(mention(2))
    acme_instance.add_notification(broken)

    outcome = polling.poll_channel(acme_channel)

    assert outcome.error.startswith("malformed status: KeyError")
    assert cursor(acme_channel) == {}
    assert not InboundEvent.objects.exists()


def test_two_workspaces_never_mix(
    workspace: Workspace,
    other_workspace: Workspace,
    acme_instance: MastodonStandIn,
    globex_instance: MastodonStandIn,
    acme_channel: Channel,
    globex_channel: Channel,
) -> None:
    # the same instance-local ids on both instances: each workspace keeps its own
    acme_instance.add_notification(mention(1, text="Acme dryer broke"))
    globex_instance.add_notification(mention(1, text="Globex widget broke"))
    globex_instance.add_notification(mention(2, text="Globex widget still broken"))

    call_command("poll", "--once")
    drain()

    acme = Message.objects.filter(workspace=workspace, channel="mastodon")
    globex = Message.objects.filter(workspace=other_workspace, channel="mastodon")
    assert list(acme.values_list("external_id", "text")) == [(status_id(1), "Acme dryer broke")]
    assert sorted(globex.values_list("external_id", "text")) == [
        (status_id(1), "Globex widget broke"),
        (status_id(2), "Globex widget still broken"),
    ]
    assert {r.headers["authorization"] for r in acme_instance.requests} == {f"Bearer {ACME_TOKEN}"}
    assert {r.headers["authorization"] for r in globex_instance.requests} == {
        f"Bearer {GLOBEX_TOKEN}"
    }


def test_polled_mentions_become_cases_with_the_customer_identity(
    workspace: Workspace, acme_instance: MastodonStandIn, acme_channel: Channel
) -> None:
    acme_instance.add_notification(fixture_json("mention_hostile.json"))
    acme_instance.add_notification(fixture_json("mention_direct.json"))

    polling.poll_channel(acme_channel)
    drain()

    identities = ContactIdentity.objects.filter(workspace=workspace, channel="mastodon")
    assert sorted(identities.values_list("external_id", "handle")) == [
        ("109000000000000345", "@sam_k"),
        ("109500000000000666", "@eve@evil.example"),
    ]
    hostile = Message.objects.get(workspace=workspace, external_id="113200000000000003")
    assert hostile.text.startswith("CW: Refund\nrant\n\n@AcmeSupport =HYPERLINK(")
    assert hostile.visibility == "public"
    direct = Message.objects.get(workspace=workspace, external_id="113200000000000002")
    assert direct.visibility == "private"
    assert Case.objects.filter(workspace=workspace).count() == 2
