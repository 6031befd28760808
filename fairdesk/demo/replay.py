"""Live traffic for the running demo: a few fresh messages every few seconds, and now
and then a new instance of a story, delivered through the platforms (``delivery.py``).
The poller thread reads what went to Mastodon and Bluesky; the pipeline worker thread
processes what is stored.
"""

import secrets
from datetime import datetime, timedelta

from django.utils import timezone

from fairdesk.demo.delivery import deliver
from fairdesk.demo.loading import store_dana_email
from fairdesk.demo.platforms import DemoPlatforms
from fairdesk.demo.stream import STORIES, Record, ordinary_records
from fairdesk.inbound.pipeline import StopFlag
from fairdesk.workspaces.models import Workspace


class Replayer:
    """``tick`` delivers one round of traffic; ``run`` ticks until asked to stop."""

    def __init__(
        self,
        workspace: Workspace,
        platforms: DemoPlatforms,
        *,
        per_tick: int = 3,
        story_every: int = 8,
        run_id: str = "",
    ) -> None:
        self.workspace = workspace
        self.platforms = platforms
        self.per_tick = per_tick
        self.story_every = story_every
        self.run_id = run_id or secrets.token_hex(2)
        self.ticks = 0
        self.waiting_for_case: dict[str, datetime] = {}  # Dana instances: tag -> their "now"

    def tick(self, now: datetime) -> int:
        """Deliver this round's records; returns how many were new (stored, or put on a
        polled platform)."""
        self.ticks += 1
        tag = f"{self.run_id}{self.ticks}"
        records: list[Record] = ordinary_records(now, self.per_tick, tag=tag, spread=timedelta(0))
        story = self.story_due()
        if story is not None:
            records += STORIES[story](now, tag)
            if story == "dana":
                self.waiting_for_case[tag] = now
        delivered = deliver(workspace=self.workspace, platforms=self.platforms, records=records)
        return delivered.stored + delivered.seeded + self.follow_up()

    def story_due(self) -> str | None:
        if self.ticks % self.story_every:
            return None
        names = list(STORIES)
        return names[(self.ticks // self.story_every - 1) % len(names)]

    def follow_up(self) -> int:
        """Send each waiting Dana her e-mail once the pipeline has opened her case."""
        stored = 0
        for tag, at in list(self.waiting_for_case.items()):
            result = store_dana_email(self.workspace, at, tag)
            if result is not None:
                stored += result.stored
                del self.waiting_for_case[tag]
        return stored

    def run(self, stop: StopFlag, *, every: float = 4.0) -> None:
        while not stop.requested:
            self.tick(timezone.now())
            stop.wait(every)
