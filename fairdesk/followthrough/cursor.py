"""Reading new inbound messages once: the shared loop of the follow-through steps that
react to what customers wrote (callbacks, satisfaction answers).

A ``ScanCursor`` per step remembers the last message id read; the cursor and the
step's writes move in one transaction, so a second run (or a crash and a rerun) reads
nothing twice. Messages younger than ``settle()`` are left for the next run: ids are
handed out before a pipeline transaction commits, so a younger, lower id may still be
invisible.
"""

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction

from fairdesk.cases.models import Direction, Message
from fairdesk.followthrough.models import ScanCursor


def settle() -> timedelta:
    """How old a message must be before it is read: the pipeline's lease, after which a
    batch still uncommitted has been given to another worker."""
    return timedelta(seconds=settings.FAIRDESK_WORKER_LEASE_SECONDS)


def read_new_inbound(
    name: str,
    *,
    now: datetime,
    limit: int,
    consider: Callable[[Message], int],
    related: tuple[str, ...] = ("case",),
    **filters: Any,
) -> int:
    """Hand the next ``limit`` inbound messages matching ``filters`` to ``consider`` in
    id order, inside one transaction with cursor ``name``; returns the sum it returned."""
    with transaction.atomic():
        ScanCursor.objects.get_or_create(name=name)
        cursor = ScanCursor.objects.select_for_update().get(name=name)
        messages = list(
            Message.objects.filter(
                id__gt=cursor.position,
                created_at__lte=now - settle(),
                direction=Direction.INBOUND,
                **filters,
            )
            .select_related(*related)
            .order_by("id")[:limit]
        )
        done = sum(consider(message) for message in messages)
        if messages:
            cursor.position = messages[-1].pk
            cursor.save(update_fields=["position", "updated_at"])
    return done
