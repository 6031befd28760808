"""Reads for connectors: which connected account speaks for a workspace on a channel."""

from fairdesk.connectors.models import Channel

# Message channels served by accounts of another kind: a Facebook Page channel answers
# Messenger, and with an Instagram business account also answers on Instagram.
SERVING_KINDS: dict[str, tuple[str, ...]] = {
    "instagram": ("instagram", "facebook"),
    "messenger": ("facebook",),
}


def sending_account(*, workspace_id: int, channel: str) -> Channel | None:
    """The workspace's connected account for messages on ``channel`` (oldest first), or
    None when the channel has no live connector (imported history, recorded demo)."""
    kinds = SERVING_KINDS.get(channel, (channel,))
    candidates = Channel.objects.filter(workspace_id=workspace_id, kind__in=kinds).order_by("id")
    for candidate in candidates:
        # A Facebook Page answers on Instagram only with an Instagram account configured.
        if channel != "instagram" or candidate.kind == channel:
            return candidate
        if (candidate.config or {}).get("instagram_account_id"):
            return candidate
    return None
