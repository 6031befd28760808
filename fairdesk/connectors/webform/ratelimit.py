"""Rate limits for the public web form, counted in the database (``RateCounter``).

Django's cache is not used: the configured one is the per-process local-memory cache,
so each web process would count on its own. A counter row per (scope, key, window) is
shared by every process and machine; the increment is one conditional UPDATE (or the
INSERT that starts a window), so concurrent requests never lose a hit.

Windows are fixed (aligned to multiples of their length since the epoch): cheap and
exact to test, at the price that a client may spend a whole budget at the end of one
window and another at the start of the next. Keys are HMAC-SHA256 of the value with the
secret key: no raw IP address or e-mail address is stored.
"""

import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F

from fairdesk.connectors.models import RateCounter

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Limit:
    """At most ``hits`` per ``window`` for each key of ``scope``."""

    scope: str
    hits: int
    window: timedelta


class Throttled(Exception):
    """Over the limit: nothing was stored. ``retry_after`` is whole seconds to wait."""

    def __init__(self, limit: Limit, retry_after: int) -> None:
        super().__init__(f"{limit.scope}: more than {limit.hits} in {limit.window}")
        self.limit = limit
        self.retry_after = retry_after


def spend(limit: Limit, value: str, *, now: datetime) -> int:
    """Count one hit of ``value``; raise ``Throttled`` when that makes it too many.

    Call it inside the transaction that stores what the hit is for: a refused hit then
    rolls back with everything else. Returns the hits counted in this window.
    """
    start = window_start(now, limit.window)
    key = keyed_hash(limit.scope, value)
    counter = RateCounter.objects.filter(scope=limit.scope, key=key, window_start=start)
    if not counter.update(hits=F("hits") + 1):
        try:
            with transaction.atomic():
                RateCounter.objects.create(scope=limit.scope, key=key, window_start=start, hits=1)
        except IntegrityError:  # another request started this window first
            counter.update(hits=F("hits") + 1)
        else:
            RateCounter.objects.filter(scope=limit.scope, window_start__lt=start).delete()
    hits = counter.values_list("hits", flat=True).get()
    if hits > limit.hits:
        retry_after = int((start + limit.window - now).total_seconds()) + 1
        raise Throttled(limit, retry_after)
    return hits


def window_start(now: datetime, window: timedelta) -> datetime:
    elapsed = (now - EPOCH) // window
    return EPOCH + elapsed * window


def keyed_hash(scope: str, value: str) -> str:
    message = f"{scope}:{value}".encode()
    return hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256).hexdigest()
