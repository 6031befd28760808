"""Lanes partition customers so that concurrent workers rarely share one."""

from datetime import timedelta

from conftest import record
from fairdesk.inbound import claims
from fairdesk.inbound.interchange import InterchangeMessage
from fairdesk.inbound.models import InboundEvent
from fairdesk.inbound.services import LANES, lane_of, store_events
from fairdesk.workspaces.models import Workspace


def store(workspace: Workspace, *records: dict) -> None:
    clean = [InterchangeMessage.model_validate(r).model_dump(mode="json") for r in records]
    store_events(workspace=workspace, records=clean)


def brand_reply(external_id: str, text: str, *, parent: str, minutes: int) -> dict:
    return record(
        external_id,
        text,
        direction="outbound",
        author="brand",
        handle="@AcmeSupport",
        in_reply_to=parent,
        minutes=minutes,
    )


def lane(external_id: str) -> int:
    return InboundEvent.objects.get(external_id=external_id).lane


def test_a_customer_keeps_one_lane_and_brand_replies_follow_their_parent(
    workspace: Workspace,
) -> None:
    store(
        workspace,
        record("1", "My dryer broke", author="dana"),
        brand_reply("2", "Sorry! DM us", parent="1", minutes=1),
        record("3", "Still broken", author="dana", minutes=2),
    )
    store(workspace, brand_reply("4", "On it ^JC", parent="3", minutes=3))
    store(workspace, record("e1", "Booking", channel="email", author="Dana@Example.com"))
    expected = lane_of("x", "dana")
    assert [lane("1"), lane("2"), lane("3"), lane("4")] == [expected] * 4
    assert lane("e1") == lane_of("email", "dana@example.com") < LANES


def test_claim_takes_lanes_upwards_from_the_start_and_wraps_oldest_first(
    workspace: Workspace,
) -> None:
    store(
        workspace,
        *[record(f"m{i}", "Where is my parcel?", author=f"c{i}", minutes=i) for i in range(40)],
    )
    events = {e.id: e.lane for e in InboundEvent.objects.all()}
    start = sorted(set(events.values()))[len(set(events.values())) // 2]
    _, rows = claims.claim_rows(
        InboundEvent, limit=10, lease=timedelta(minutes=1), start_lane=start
    )
    claimed = sorted((events[r[0]], r[0]) for r in rows)
    expected = sorted((lane, pk) for pk, lane in events.items() if lane >= start)[:10]
    assert claimed == expected
    _, rest = claims.claim_rows(
        InboundEvent, limit=100, lease=timedelta(minutes=1), start_lane=start
    )
    assert len(rows) + len(rest) == 40  # the second claim wrapped around to the low lanes
    assert InboundEvent.objects.filter(status="pending").count() == 0
