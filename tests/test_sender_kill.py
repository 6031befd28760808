"""A sender killed with SIGKILL after X accepted a reply, before it committed, posts
nothing twice.

The real ``fairdesk sender`` runs as a subprocess against a scratch database (SQLite file
or PostgreSQL, like the worker kill test) and an X stand-in on loopback in this process.
The stand-in records the n-th tweet as X would accept it and then holds its answer; the
sender is killed right then, so the platform has the post and our database does not.
After the lease is expired, ``fairdesk sender --drain`` must reclaim the interrupted rows,
find the accepted tweet among the brand's recent posts (``find_sent``) instead of posting
it again, and send the rest: one tweet per reply, each Message carrying its tweet's id.

Replies of two workspaces (two brand accounts on the one stand-in, one customer per
case) are interleaved in the outbox, and their texts are hostile input (markup, CRLF,
spreadsheet formulas) that X escapes when it reads them back.
"""

import json
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from fairdesk.connectors.standin import Request, Response
from fairdesk.connectors.x.standin import XStandIn
from fairdesk.connectors.x.tests.accounts import ACME_TOKEN, GLOBEX_TOKEN
from fairdesk.connectors.x.tests.conftest import (
    ACME_SECRET,
    BRAND_ID,
    GLOBEX_BRAND_ID,
    GLOBEX_SECRET,
)
from tests.subprocess_db import fairdesk, python, scratch_database, spawn

TWEETS = r"^/2/tweets$"
TIMELINES = r"^/2/users/\d+/tweets$"
WAIT = 120.0  # seconds; generous, only reached when something is broken
SHOPS = {
    "acme": {"handle": "@AcmeSupport", "brand": BRAND_ID},
    "globex": {"handle": "@GlobexHelp", "brand": GLOBEX_BRAND_ID},
}
# (workspace, the customer's tweet the reply answers, reply text), in outbox order.
REPLIES = [
    ("acme", "1849100000000002001", "Tom & Jerry <b>fixed</b> it, Dana ^_^"),
    ("globex", "1849100000000002002", "<script>alert('x')</script> Your parcel ships today."),
    ("acme", "1849100000000002003", '=HYPERLINK("evil","refund") we have sent your refund'),
    ("globex", "1849100000000002004", "Line one\r\nBcc: victim@example.com we are on it"),
    ("acme", "1849100000000002005", "+SUM(1+1) &amp; your replacement is booked for Tuesday"),
]

SEED = """
import json
from fairdesk.cases.tests.factories import make_case
from fairdesk.connectors.services import create_channel
from fairdesk.replies.services import submit_reply
from fairdesk.workspaces.services import create_agent, create_workspace

shops, replies = json.loads(PLAN)
agents = {}
for slug, shop in shops.items():
    workspace = create_workspace(name=slug.title(), slug=slug, brand_handle=shop["handle"])
    create_channel(
        workspace=workspace,
        kind="x",
        name=shop["handle"],
        config={"brand_user_id": shop["brand"], "brand_handle": shop["handle"],
                "api_base": shop["api"]},
        credentials={"consumer_secret": shop["secret"], "access_token": shop["token"]},
    )
    agents[slug] = create_agent(
        workspace=workspace, username=f"agent-{slug}", password="correct-horse-battery",
        display_name=f"Agent {slug}", initials=slug[:2].upper(),
    )
for n, (slug, target, text) in enumerate(replies):
    agent = agents[slug]
    case = make_case(agent.workspace, external_id=target, handle=f"@customer{n}",
                     name=f"Customer {n}")
    submit_reply(case=case, agent=agent, text=text, visibility="public",
                 idempotency_key=f"kill-{n}")
"""

SNAPSHOT = """
import json
from fairdesk.replies.models import OutboxMessage
print(json.dumps([
    {
        "workspace": o.workspace.slug,
        "status": o.status,
        "attempts": o.attempts,
        "external_id": o.message.external_id,
        "delivery": o.message.delivery_status,
        "text": o.message.text,
        "target": o.case.messages.get(direction="inbound").external_id,
    }
    for o in OutboxMessage.objects.select_related("workspace", "message").order_by("id")
]))
"""

EXPIRE_LEASES = """
from datetime import UTC, datetime
from fairdesk.replies.models import OutboxMessage
claimed = OutboxMessage.objects.filter(status="sending")
print(claimed.update(lease_until=datetime(2020, 1, 1, tzinfo=UTC)))
"""


class StallingX(XStandIn):
    """X that records the ``stall_at``-th tweet (the platform has accepted it) and then
    holds its answer until ``release`` is set: the window in which the sender dies."""

    def __init__(self, *, stall_at: int) -> None:
        super().__init__()
        self.stall_at = stall_at
        self.stalled = threading.Event()
        self.release = threading.Event()

    def create_tweet(self, request: Request) -> Response:
        response = super().create_tweet(request)
        with self.lock:
            posted = len(self.tweets)
        if response.status == 201 and posted == self.stall_at:
            self.stalled.set()
            self.release.wait(WAIT)
        return response


@contextmanager
def running_x(stall_at: int) -> Iterator[StallingX]:
    api = StallingX(stall_at=stall_at)
    api.add_account(user_id=BRAND_ID, username="AcmeSupport", token=ACME_TOKEN)
    api.add_account(user_id=GLOBEX_BRAND_ID, username="GlobexHelp", token=GLOBEX_TOKEN)
    api.start()
    try:
        yield api
    finally:
        api.release.set()
        api.stop()


def seed(env: dict[str, str], api: StallingX) -> None:
    secrets = {"acme": (ACME_SECRET, ACME_TOKEN), "globex": (GLOBEX_SECRET, GLOBEX_TOKEN)}
    shops = {
        slug: {**shop, "api": api.url, "secret": secrets[slug][0], "token": secrets[slug][1]}
        for slug, shop in SHOPS.items()
    }
    python(env, f"PLAN = {json.dumps(json.dumps([shops, REPLIES]))}\n" + SEED)


def kill_when_stalled(env: dict[str, str], api: StallingX) -> None:
    """Run ``fairdesk sender`` until X holds the accepted tweet, then SIGKILL it."""
    worker = spawn(env, "sender")
    try:
        while not api.stalled.wait(0.05):
            if worker.poll() is not None:
                pytest.fail(f"the sender exited ({worker.returncode}) before posting")
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait(WAIT)
    assert worker.returncode == -signal.SIGKILL
    api.release.set()


def snapshot(env: dict[str, str]) -> list[dict[str, str | int | None]]:
    return json.loads(python(env, SNAPSHOT))


def assert_killed_mid_send(killed: list[dict[str, str | int | None]], kill_at: int) -> None:
    """The kill landed after X accepted the tweet and before the sender committed it: the
    interrupted row and the rest of its claim are still claimed, their messages queued."""
    unsent = len(REPLIES) - kill_at + 1
    assert [(r["status"], r["attempts"], r["delivery"]) for r in killed] == [
        ("sent", 1, "sent")
    ] * (kill_at - 1) + [("sending", 1, "queued")] * unsent
    assert [r["external_id"] for r in killed[kill_at - 1 :]] == [None] * unsent


def assert_each_sent_once(
    rows: list[dict[str, str | int | None]], api: StallingX, kill_at: int
) -> None:
    """Every reply SENT, carrying the id of exactly one tweet of its own account."""
    tweets = {t.id: t for t in api.tweets}
    assert [(r["status"], r["delivery"]) for r in rows] == [("sent", "sent")] * len(REPLIES)
    assert len(api.tweets) == len(tweets) == len(REPLIES)
    assert sorted(str(r["external_id"]) for r in rows) == sorted(tweets)
    assert rows[kill_at - 1]["external_id"] == api.tweets[kill_at - 1].id
    for row, (slug, target, text) in zip(rows, REPLIES, strict=True):
        tweet = tweets[str(row["external_id"])]
        signed = f"{text} ^{slug[:2].upper()}"  # the agent's initials sign the reply
        assert (row["workspace"], row["target"], row["text"]) == (slug, target, signed)
        assert (tweet.author_id, tweet.in_reply_to, tweet.text) == (
            SHOPS[slug]["brand"],
            target,
            signed,
        )


@pytest.mark.slow
@pytest.mark.parametrize("kill_at", [1, 3])
def test_sigkill_after_x_accepted_a_reply_posts_each_reply_exactly_once(
    tmp_path: Path, kill_at: int
) -> None:
    with running_x(stall_at=kill_at) as api, scratch_database(tmp_path) as env:
        seed(env, api)
        kill_when_stalled(env, api)
        killed = snapshot(env)
        expired = int(python(env, EXPIRE_LEASES))
        fairdesk(env, "sender", "--drain")
        rows = snapshot(env)
    unsent = len(REPLIES) - kill_at + 1

    assert_killed_mid_send(killed, kill_at)
    assert expired == unsent
    assert_each_sent_once(rows, api, kill_at)
    # Rows sent before the kill kept one attempt; the killed claim was reclaimed once,
    # and only the interrupted reply was found on X instead of being posted again.
    assert [r["attempts"] for r in rows] == [1] * (kill_at - 1) + [2] * unsent
    assert len(api.requests_to("POST", TWEETS)) == len(REPLIES)
    assert len(api.requests_to("GET", TIMELINES)) == unsent
