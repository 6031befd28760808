"""Reads for the channel health page: each connected account's ingest and sending state."""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Q

from fairdesk.connectors.models import Channel
from fairdesk.replies.models import OutboxMessage
from fairdesk.workspaces.models import Workspace

WEBHOOK_ROUTES = {"x": "x", "facebook": "meta", "instagram": "meta"}


@dataclass(frozen=True, slots=True)
class ChannelHealth:
    channel: Channel
    queued: int
    dead: int
    webhook_path: str

    @property
    def status(self) -> str:
        """ok / waiting (rate limited) / error (latest error newer than latest event)."""
        blocked = self.channel.send_blocked_until
        if self.channel.last_error_at and (
            self.channel.last_event_at is None
            or self.channel.last_error_at > self.channel.last_event_at
        ):
            return "error"
        if blocked is not None and blocked > datetime.now(blocked.tzinfo):
            return "waiting"
        return "ok"


def channel_health(workspace: Workspace) -> list[ChannelHealth]:
    """Every channel of ``workspace`` with its outbox counts (two queries in all)."""
    channels = list(Channel.objects.filter(workspace=workspace).order_by("kind", "name"))
    counts: dict[int, dict[str, int]] = {
        row["account_id"]: {"queued": row["queued"], "dead": row["dead"]}
        # Sent rows (the vast majority) are left out by the WHERE, not counted and dropped.
        for row in OutboxMessage.objects.filter(
            workspace=workspace, account__isnull=False, status__in=["pending", "sending", "dead"]
        )
        .values("account_id")
        .annotate(
            queued=Count("id", filter=Q(status__in=["pending", "sending"])),
            dead=Count("id", filter=Q(status="dead")),
        )
    }
    return [
        ChannelHealth(
            channel=channel,
            queued=counts.get(channel.pk, {}).get("queued", 0),
            dead=counts.get(channel.pk, {}).get("dead", 0),
            webhook_path=(
                f"/webhooks/{WEBHOOK_ROUTES[channel.kind]}/{channel.public_id}/"
                if channel.kind in WEBHOOK_ROUTES
                else ""
            ),
        )
        for channel in channels
    ]
