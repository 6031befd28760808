"""Writes to the inbound store: durable, idempotent, exactly once per (channel, external_id)."""

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from fairdesk.inbound.bulk_writes import adapt_datetime, insert_values
from fairdesk.inbound.models import InboundEvent
from fairdesk.workspaces.models import Workspace

EVENT_COLUMNS = (
    "workspace_id",
    "channel",
    "external_id",
    "source",
    "payload",
    "status",
    "attempts",
    "last_error",
    "available_at",
    "claim_token",
    "lease_until",
    "received_at",
    "processed_at",
)


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
    now = adapt_datetime(timezone.now())
    rows = [
        (
            workspace.pk,
            channel,
            external_id,
            source,
            json.dumps(record),
            InboundEvent.Status.PENDING.value,
            0,
            "",
            now,
            "",
            None,
            now,
            None,
        )
        for (channel, external_id), record in unique.items()
    ]
    with transaction.atomic():
        # One multi-row INSERT per chunk; rows already stored are skipped by the unique
        # constraint and counted as duplicates (no pre-check query).
        stored = insert_values(InboundEvent._meta.db_table, EVENT_COLUMNS, rows)
    result.stored = stored
    result.duplicates += len(unique) - stored
    return result


def retry_dead(*, workspace: Workspace, ids: Sequence[int]) -> int:
    """Send dead events of this workspace back to the pipeline for a fresh set of attempts."""
    return InboundEvent.objects.filter(
        workspace=workspace, id__in=list(ids), status=InboundEvent.Status.DEAD
    ).update(status=InboundEvent.Status.PENDING, attempts=0, available_at=timezone.now())
