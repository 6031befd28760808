"""Writes to the inbound store: durable, idempotent, exactly once per (channel, external_id)."""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from fairdesk.inbound.models import InboundEvent
from fairdesk.workspaces.models import Workspace


@dataclass(slots=True)
class StoreResult:
    stored: int = 0
    duplicates: int = 0


def store_events(
    *, workspace: Workspace, records: Sequence[dict[str, Any]], source: str = "interchange"
) -> StoreResult:
    """Store validated interchange records as pending events; repeats are no-ops."""
    result = StoreResult()
    unique: dict[tuple[str, str], dict[str, Any]] = {}
    for record in records:
        key = (record["channel"], record["external_id"])
        if key in unique:
            result.duplicates += 1
        else:
            unique[key] = record
    if not unique:
        return result
    existing = _existing_keys(workspace, unique.keys())
    now = timezone.now()
    fresh = [
        InboundEvent(
            workspace=workspace,
            channel=channel,
            external_id=external_id,
            source=source,
            payload=record,
            available_at=now,
            received_at=now,
        )
        for (channel, external_id), record in unique.items()
        if (channel, external_id) not in existing
    ]
    result.duplicates += len(unique) - len(fresh)
    with transaction.atomic():
        InboundEvent.objects.bulk_create(fresh, ignore_conflicts=True, batch_size=500)
    result.stored = len(fresh)
    return result


def _existing_keys(workspace: Workspace, keys: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
    by_channel: dict[str, list[str]] = {}
    for channel, external_id in keys:
        by_channel.setdefault(channel, []).append(external_id)
    found: set[tuple[str, str]] = set()
    for channel, ids in by_channel.items():
        for start in range(0, len(ids), 500):
            rows = InboundEvent.objects.filter(
                workspace=workspace, channel=channel, external_id__in=ids[start : start + 500]
            ).values_list("external_id", flat=True)
            found.update((channel, external_id) for external_id in rows)
    return found


def retry_dead(*, workspace: Workspace, ids: Sequence[int]) -> int:
    """Send dead events of this workspace back to the pipeline for a fresh set of attempts."""
    return InboundEvent.objects.filter(
        workspace=workspace, id__in=list(ids), status=InboundEvent.Status.DEAD
    ).update(status=InboundEvent.Status.PENDING, attempts=0, available_at=timezone.now())
