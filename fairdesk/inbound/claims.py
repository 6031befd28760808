"""Claiming rows of a work table atomically, on PostgreSQL and SQLite alike.

A claim stamps rows with a fresh token and a lease. Work done later commits only if the
rows still carry that token (``release_done``), in the same transaction as its effects,
so a worker killed at any instant loses nothing and duplicates nothing: its rows become
claimable again when the lease runs out.
"""

import uuid
from datetime import datetime, timedelta

from django.db import connection, models, transaction
from django.utils import timezone


def new_token() -> str:
    return uuid.uuid4().hex


def claim(
    model: type[models.Model], *, limit: int, lease: timedelta, now: datetime | None = None
) -> tuple[str, list[int]]:
    """Claim up to ``limit`` pending rows of ``model``; returns (token, ids)."""
    now = now or timezone.now()
    token = new_token()
    table = model._meta.db_table
    skip_locked = "FOR UPDATE SKIP LOCKED" if connection.vendor == "postgresql" else ""
    sql = f"""
        UPDATE {table}
           SET status = 'processing_marker', claim_token = %s, lease_until = %s,
               attempts = attempts + 1
         WHERE id IN (
                SELECT id FROM {table}
                 WHERE status = 'pending' AND available_at <= %s
                 ORDER BY available_at, id
                 LIMIT %s {skip_locked})
           AND status = 'pending'
        RETURNING id
    """.replace("processing_marker", processing_status(model))
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, [token, now + lease, now, limit])
        ids = sorted(row[0] for row in cursor.fetchall())
    return token, ids


def processing_status(model: type[models.Model]) -> str:
    return "sending" if model._meta.model_name == "outboxmessage" else "processing"


def release_done(
    model: type[models.Model], *, token: str, ids: list[int], values: dict[str, object]
) -> None:
    """Inside the caller's transaction: finish claimed rows, or raise if the claim was lost."""
    updated = model._default_manager.filter(
        id__in=ids, claim_token=token, status=processing_status(model)
    ).update(**values)
    if updated != len(ids):
        raise LostClaim(f"{len(ids) - updated} of {len(ids)} rows were reclaimed by another worker")


def reclaim_expired(model: type[models.Model], *, now: datetime | None = None) -> int:
    """Return rows whose worker died (lease ran out) to the pending state."""
    now = now or timezone.now()
    return model._default_manager.filter(
        status=processing_status(model), lease_until__lt=now
    ).update(status="pending", claim_token="", lease_until=None)


class LostClaim(Exception):
    """The lease ran out and another worker took the rows: roll back, do nothing."""
