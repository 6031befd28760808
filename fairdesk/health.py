"""``GET /healthz``: is the database reachable, how is the inbound backlog doing, and
which triage models the pipeline uses (``triage_models``: "rules", or the trained heads
and their bundles: name, task, trained_at, validation score)."""

import logging
from typing import Any

from django.db import DatabaseError, connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from fairdesk.inbound.models import InboundEvent

log = logging.getLogger(__name__)

COUNT_CAP = 10_000


def _capped_count(status: str) -> int:
    """Counts at most ``COUNT_CAP + 1`` rows, so a huge backlog stays a cheap query."""
    return InboundEvent.objects.filter(status=status)[: COUNT_CAP + 1].count()


def _triage_tier() -> str:
    try:
        from fairdesk.triage import FastTriage
    except Exception:  # a broken triage install must not take the health check down
        return "unavailable"
    return str(getattr(FastTriage, "name", "fast"))


def _triage_models() -> dict[str, Any] | str:
    try:
        from fairdesk.inbound.triage_cache import models_in_use

        return models_in_use()
    except Exception:  # an unreadable data directory must not take the health check down
        log.exception("could not list the triage bundles")
        return "unavailable"


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    try:
        pending = _capped_count(InboundEvent.Status.PENDING)
        dead = _capped_count(InboundEvent.Status.DEAD)
    except DatabaseError:
        return JsonResponse({"ok": False}, status=503)
    return JsonResponse(
        {
            "ok": True,
            "database": connection.vendor,
            "pending_events": pending,
            "dead_events": dead,
            "triage": _triage_tier(),
            "triage_models": _triage_models(),
        }
    )
