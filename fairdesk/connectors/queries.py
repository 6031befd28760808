"""Reads for connectors: which connected account speaks for a workspace on a channel."""

from collections.abc import Iterable, Sequence

from fairdesk.connectors.models import Channel

# Message channels served by accounts of another kind: a Facebook Page channel answers
# Messenger, and with an Instagram business account also answers on Instagram.
SERVING_KINDS: dict[str, tuple[str, ...]] = {
    "instagram": ("instagram", "facebook"),
    "messenger": ("facebook",),
}


def sending_account(
    *, workspace_id: int, channel: str, accounts: Sequence[Channel] | None = None
) -> Channel | None:
    """The workspace's connected account for messages on ``channel`` (oldest first), or
    None when the channel has no live connector (imported history, recorded demo).
    ``accounts``: the workspace's accounts by id, already read (:func:`accounts_of`)."""
    kinds = SERVING_KINDS.get(channel, (channel,))
    candidates: Iterable[Channel]
    if accounts is None:
        candidates = Channel.objects.filter(workspace_id=workspace_id, kind__in=kinds)
        candidates = candidates.order_by("id")
    else:
        candidates = (a for a in accounts if a.workspace_id == workspace_id and a.kind in kinds)
    for candidate in candidates:
        # A Facebook Page answers on Instagram only with an Instagram account configured.
        if channel != "instagram" or candidate.kind == channel:
            return candidate
        if (candidate.config or {}).get("instagram_account_id"):
            return candidate
    return None


def accounts_of(workspace_id: int) -> list[Channel]:
    """Every connected account of the workspace, by id: one read for several channels
    (a workspace has a handful)."""
    return list(Channel.objects.filter(workspace_id=workspace_id).order_by("id"))
