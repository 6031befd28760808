from collections import Counter
from datetime import timedelta

import pytest
from django.core.management.base import CommandError

from fairdesk.connectors.polling import poll_all
from fairdesk.demo.loading import dana_case
from fairdesk.demo.management.commands.demo import refuse_postgres
from fairdesk.demo.platforms import DemoPlatforms
from fairdesk.demo.replay import Replayer
from fairdesk.demo.setup import DemoWorkspace
from fairdesk.demo.stream import CHANNELS, ordinary_records, story_records
from fairdesk.inbound.interchange import InterchangeMessage
from fairdesk.inbound.models import InboundEvent
from fairdesk.inbound.pipeline import drain

from .conftest import NOW


def test_ordinary_records_are_valid_varied_and_deterministic() -> None:
    records = ordinary_records(NOW, 60)
    assert len(records) == 60
    assert records == ordinary_records(NOW, 60)
    assert {r["channel"] for r in records} == set(CHANNELS)
    for record in records:
        message = InterchangeMessage.model_validate(record)
        assert NOW - timedelta(hours=3) <= message.created_at <= NOW
    replies = [r for r in records if r["direction"] == "outbound"]
    inbound_ids = {(r["channel"], r["external_id"]) for r in records}
    assert replies and all((r["channel"], r["in_reply_to"]) in inbound_ids for r in replies)
    assert len({(r["channel"], r["external_id"]) for r in records}) == 60


def test_fresh_tags_give_fresh_ids_dated_now() -> None:
    first, second = ordinary_records(NOW, 5, tag="a1"), ordinary_records(NOW, 5, tag="a2")
    assert not {r["external_id"] for r in first} & {r["external_id"] for r in second}
    stories = story_records(NOW, "a1")
    assert not {r["external_id"] for r in stories} & {r["external_id"] for r in story_records(NOW)}
    live = ordinary_records(NOW, 5, tag="z", spread=timedelta(0))
    assert {r["created_at"] for r in live} == {"2026-11-02T12:00:00Z"}


def test_story_records_cover_every_story() -> None:
    channels = Counter(r["channel"] for r in story_records(NOW))
    assert channels == {"x": 5, "facebook": 1, "email": 1, "instagram": 30}


def test_replay_adds_traffic_and_new_story_instances(
    demo: DemoWorkspace, platforms: DemoPlatforms
) -> None:
    replayer = Replayer(demo.workspace, platforms, per_tick=2, story_every=1, run_id="t")
    assert replayer.tick(NOW) == 3  # two ordinary messages and a new security report
    assert replayer.tick(NOW) == 5  # two ordinary, Dana's tweet, the brand reply, her DM
    assert replayer.waiting_for_case == {"t2": NOW}
    poll_all()
    drain()
    case = dana_case(demo.workspace, "t2")
    assert case is not None
    replayer.tick(NOW)  # praise, and Dana's e-mail now that her case exists
    assert replayer.waiting_for_case == {}
    drain()
    assert case.messages.filter(channel="email").count() == 1
    assert not InboundEvent.objects.exclude(status=InboundEvent.Status.DONE).exists()


def test_demo_refuses_postgres_unless_allowed() -> None:
    postgres = "django.db.backends.postgresql"
    with pytest.raises(CommandError, match="--allow-database-url"):
        refuse_postgres(engine=postgres, database_url="postgres://db/x", allow=False)
    refuse_postgres(engine=postgres, database_url="postgres://db/x", allow=True)
    refuse_postgres(engine="django.db.backends.sqlite3", database_url="sqlite:///x", allow=False)
    refuse_postgres(engine="django.db.backends.sqlite3", database_url="", allow=False)
