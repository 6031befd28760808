"""Writes to the inbound store: durable, idempotent, exactly once per (channel, external_id)."""

import json
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from fairdesk.inbound.bulk_writes import adapt_datetime, insert_values
from fairdesk.inbound.models import InboundEvent
from fairdesk.workspaces.models import Workspace

LANES = 64

EVENT_COLUMNS = (
    "lane",
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
    lanes = assign_lanes(workspace, unique)
    rows = [
        (
            lanes[(channel, external_id)],
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


def lane_of(channel: str, author_external_id: str) -> int:
    """The lane of a customer's messages on a channel: a stable hash, never the reach."""
    author = author_external_id.lower() if channel == "email" else author_external_id
    return zlib.crc32(f"{channel}:{author}".encode()) % LANES


def assign_lanes(
    workspace: Workspace, records: dict[tuple[str, str], dict[str, Any]]
) -> dict[tuple[str, str], int]:
    """A lane per record: the author's, except that a brand reply follows the message it
    answers (found in these records or already stored), so it is never processed long
    before its parent. A reply whose parent is unknown yet hashes its parent's id."""
    lanes: dict[tuple[str, str], int] = {}
    parents: dict[str, set[str]] = {}
    for (channel, _), record in records.items():
        if record["direction"] == "outbound" and record.get("in_reply_to"):
            parents.setdefault(channel, set()).add(record["in_reply_to"])
    stored: dict[tuple[str, str], int] = {}
    for channel, ids in parents.items():
        rows = InboundEvent.objects.filter(
            workspace=workspace, channel=channel, external_id__in=list(ids)
        ).values_list("external_id", "lane")
        stored.update({(channel, external_id): lane for external_id, lane in rows})
    for key, record in records.items():
        channel = key[0]
        parent = record.get("in_reply_to")
        if record["direction"] == "outbound" and parent:
            parent_key = (channel, parent)
            lanes[key] = lanes.get(parent_key, stored.get(parent_key, lane_of(channel, parent)))
        else:
            # An echo of a private message follows its recipient: the customer's own
            # answers in that thread are then processed after it, never before.
            person = record.get("recipient") or record["author"]["external_id"]
            lanes[key] = lane_of(channel, person)
    return lanes


def retry_dead(*, workspace: Workspace, ids: Sequence[int]) -> int:
    """Send dead events of this workspace back to the pipeline for a fresh set of attempts."""
    return InboundEvent.objects.filter(
        workspace=workspace, id__in=list(ids), status=InboundEvent.Status.DEAD
    ).update(status=InboundEvent.Status.PENDING, attempts=0, available_at=timezone.now())
