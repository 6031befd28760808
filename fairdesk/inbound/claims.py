"""Claiming rows of a work table atomically, on PostgreSQL and SQLite alike.

A claim stamps rows with a fresh token and a lease. Work done later commits only if the
rows still carry that token (``release_done``), in the same transaction as its effects,
so a worker killed at any instant loses nothing and duplicates nothing: its rows become
claimable again when the lease runs out.
"""

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, models, transaction
from django.utils import timezone


def new_token() -> str:
    return uuid.uuid4().hex


def claim(
    model: type[models.Model], *, limit: int, lease: timedelta, now: datetime | None = None
) -> tuple[str, list[int]]:
    """Claim up to ``limit`` pending rows of ``model``; returns (token, ids)."""
    token, rows = claim_rows(model, limit=limit, lease=lease, now=now)
    return token, [row[0] for row in rows]


def claim_rows(
    model: type[models.Model],
    *,
    limit: int,
    lease: timedelta,
    now: datetime | None = None,
    columns: Sequence[str] = (),
    start_lane: int | None = None,
) -> tuple[str, list[tuple[Any, ...]]]:
    """Claim like ``claim``, returning (id, *columns) of each claimed row, by id.

    The claimed rows' columns come back from the claiming statement itself (RETURNING
    the values after the update), so no second query is needed to read them.

    With ``start_lane`` (tables with a ``lane`` column), rows are taken lane by lane from
    that lane upwards, wrapping around, oldest first within a lane: workers that start at
    random lanes get batches about different customers.
    """
    now = now or timezone.now()
    token = new_token()
    if start_lane is None:
        return token, _claim(model, token, now, lease, limit, columns, "", [], "available_at, id")
    with transaction.atomic():
        rows = _claim(
            model,
            token,
            now,
            lease,
            limit,
            columns,
            "AND lane >= %s",
            [start_lane],
            "lane, available_at, id",
        )
        if len(rows) < limit and start_lane > 0:
            rows += _claim(
                model,
                token,
                now,
                lease,
                limit - len(rows),
                columns,
                "AND lane < %s",
                [start_lane],
                "lane, available_at, id",
            )
    return token, sorted(rows, key=lambda row: row[0])


def _claim(
    model: type[models.Model],
    token: str,
    now: datetime,
    lease: timedelta,
    limit: int,
    columns: Sequence[str],
    lane_filter: str,
    lane_params: list[int],
    order: str,
) -> list[tuple[Any, ...]]:
    table = model._meta.db_table
    quote = connection.ops.quote_name
    names = [str(model._meta.get_field(c).column) for c in columns]  # type: ignore[union-attr]
    returning = ", ".join(["id", *(quote(name) for name in names)])
    postgresql = connection.vendor == "postgresql"
    skip_locked = "FOR UPDATE SKIP LOCKED" if postgresql else ""
    # The rows are picked once, in a materialised CTE: PostgreSQL may otherwise re-run a
    # ``WHERE id IN (SELECT … LIMIT n FOR UPDATE SKIP LOCKED)`` subquery per outer row
    # and claim more than ``limit`` rows.
    materialized = "MATERIALIZED" if postgresql else ""
    sql = f"""
        WITH picked AS {materialized} (
                SELECT id FROM {table}
                 WHERE status = 'pending' AND available_at <= %s {lane_filter}
                 ORDER BY {order}
                 LIMIT %s {skip_locked})
        UPDATE {table}
           SET status = 'processing_marker', claim_token = %s, lease_until = %s,
               attempts = attempts + 1
         WHERE id IN (SELECT id FROM picked)
           AND status = 'pending'
        RETURNING {returning}
    """.replace("processing_marker", processing_status(model))
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, [now, *lane_params, limit, token, now + lease])
        return sorted(cursor.fetchall(), key=lambda row: row[0])


def processing_status(model: type[models.Model]) -> str:
    return "sending" if model._meta.model_name == "outboxmessage" else "processing"


def release_done(
    model: type[models.Model], *, token: str, ids: list[int], values: dict[str, object]
) -> None:
    """Inside the caller's transaction: finish claimed rows, or raise if the claim was lost."""
    if connection.vendor == "postgresql" and ids:
        updated = _release_postgresql(model, token=token, ids=ids, values=values)
    else:
        updated = model._default_manager.filter(
            id__in=ids, claim_token=token, status=processing_status(model)
        ).update(**values)
    if updated != len(ids):
        raise LostClaim(f"{len(ids) - updated} of {len(ids)} rows were reclaimed by another worker")


def _release_postgresql(
    model: type[models.Model], *, token: str, ids: list[int], values: dict[str, object]
) -> int:
    """The same UPDATE with the ids as one array parameter (``id = ANY(%s)``), bound on
    the server: building and quoting hundreds of ``IN`` parameters cost more than the
    write."""
    from fairdesk.inbound.bulk_writes import cursor

    quote = connection.ops.quote_name
    fields = [model._meta.get_field(name) for name in values]
    assignments = ", ".join(
        f"{quote(str(f.column))} = ${n}"  # type: ignore[union-attr]
        for n, f in enumerate(fields, start=1)
    )
    params: list[object] = [
        f.get_db_prep_save(value, connection)  # type: ignore[union-attr]
        for f, value in zip(fields, values.values(), strict=True)
    ]
    n = len(params)
    sql = (
        f"UPDATE {quote(model._meta.db_table)} SET {assignments} "
        f"WHERE id = ANY(${n + 1}::bigint[]) AND claim_token = ${n + 2} AND status = ${n + 3}"
    )
    with cursor() as c:
        c.execute(sql, [*params, list(ids), token, processing_status(model)])
        return int(c.rowcount)


def reclaim_expired(model: type[models.Model], *, now: datetime | None = None) -> int:
    """Return rows whose worker died (lease ran out) to the pending state."""
    now = now or timezone.now()
    return model._default_manager.filter(
        status=processing_status(model), lease_until__lt=now
    ).update(status="pending", claim_token="", lease_until=None)


class LostClaim(Exception):
    """The lease ran out and another worker took the rows: roll back, do nothing."""
