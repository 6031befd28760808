"""The pipeline worker: pending inbound events become messages on fair cases.

Per claimed batch: parse → triage (one batch call) → resolve identities → thread into
cases → severity, team and SLA deadlines → persist messages, cases and events in one
transaction that also marks the events done. Queries are per batch, never per message.
A batch that fails to persist is retried event by event so one bad event cannot block
the rest; an event that keeps failing ends in the visible ``dead`` state with its error.
"""

import logging
import random
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import DatabaseError, transaction
from django.utils import timezone
from pydantic import ValidationError

from fairdesk.connectors import media
from fairdesk.inbound import claims
from fairdesk.inbound.interchange import InterchangeMessage
from fairdesk.inbound.models import InboundEvent
from fairdesk.inbound.services import LANES
from fairdesk.inbound.threading import BatchThreader
from fairdesk.inbound.triage_cache import triage_for_workspace
from fairdesk.triage import TriageResult
from fairdesk.workspaces.models import Workspace

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Parsed:
    """One event, parsed and triaged, ready to be threaded."""

    event_id: int
    message: InterchangeMessage
    triage: TriageResult | None = None
    severity: str = "normal"
    spam: bool = False
    duplicate_of: str = ""


@dataclass(slots=True)
class ClaimedEvent:
    """What the pipeline needs of a claimed event, as returned by the claim itself."""

    id: int
    workspace_id: int
    payload: str | dict[str, Any]
    attempts: int


CLAIMED_COLUMNS = ("workspace_id", "payload", "attempts")


@dataclass(slots=True)
class BatchOutcome:
    done: int = 0
    retried: int = 0
    dead: int = 0
    deferred: int = 0
    failures: dict[int, str] = field(default_factory=dict)


def lease() -> timedelta:
    return timedelta(seconds=settings.FAIRDESK_WORKER_LEASE_SECONDS)


def run_once(*, limit: int | None = None) -> BatchOutcome:
    """Claim one batch and process it. Returns what happened to its events."""
    token, rows = claims.claim_rows(
        InboundEvent,
        limit=limit or settings.FAIRDESK_WORKER_BATCH,
        lease=lease(),
        columns=CLAIMED_COLUMNS,
        start_lane=random.randrange(LANES),  # spreading load, not security
    )
    if not rows:
        return BatchOutcome()
    return process_events(token=token, events=[ClaimedEvent(*row) for row in rows])


def drain(*, limit: int | None = None) -> int:
    """Process everything pending now (events deferred to later are left). Returns count."""
    total = 0
    while True:
        outcome = run_once(limit=limit)
        handled = outcome.done + outcome.retried + outcome.dead + outcome.deferred
        if handled == 0:
            return total
        total += outcome.done + outcome.dead


def process_claimed(*, token: str, ids: list[int]) -> BatchOutcome:
    rows = (
        InboundEvent.objects.filter(id__in=ids, claim_token=token)
        .order_by("id")
        .values_list("id", *CLAIMED_COLUMNS)
    )
    return process_events(token=token, events=[ClaimedEvent(*row) for row in rows])


def process_events(*, token: str, events: Sequence[ClaimedEvent]) -> BatchOutcome:
    outcome = BatchOutcome()
    by_workspace: dict[int, list[ClaimedEvent]] = defaultdict(list)
    for event in events:
        by_workspace[event.workspace_id].append(event)
    for workspace_id, group in by_workspace.items():
        workspace = Workspace.objects.get(id=workspace_id)
        parsed = parse_and_triage(workspace, group, outcome)
        persist_or_split(workspace, parsed, {e.id: e for e in group}, token, outcome)
    for event_id, error in outcome.failures.items():
        fail_event(token=token, event_id=event_id, error=error, outcome=outcome)
    return outcome


def parse_and_triage(
    workspace: Workspace, events: Sequence[ClaimedEvent], outcome: BatchOutcome
) -> list[Parsed]:
    parsed: list[Parsed] = []
    for event in events:
        try:
            if isinstance(event.payload, str | bytes):
                # PostgreSQL and SQLite hand JSON back as text: validate it in one step.
                message = InterchangeMessage.model_validate_json(event.payload)
            else:
                message = InterchangeMessage.model_validate(event.payload)
        except ValidationError as error:
            outcome.failures[event.id] = f"invalid payload: {error.errors()[0]['msg']}"
            continue
        parsed.append(Parsed(event_id=event.id, message=message))
    inbound = [p for p in parsed if p.message.direction == "inbound"]
    if inbound:
        triage = triage_for_workspace(workspace)
        results = triage.classifier.classify([p.message.text for p in inbound])
        for item, result in zip(inbound, results, strict=True):
            item.triage = result
            item.severity = triage.severity_of(result)
            key = f"{item.message.channel}:{item.message.external_id}"
            item.duplicate_of = triage.duplicates.add(key, item.message.text) or ""
            item.spam = result.spam or item.duplicate_of in triage.spam_keys
            if item.spam:
                triage.spam_keys.add(key)
    return parsed


def persist_or_split(
    workspace: Workspace,
    parsed: list[Parsed],
    events: dict[int, ClaimedEvent],
    token: str,
    outcome: BatchOutcome,
) -> None:
    if not parsed:
        return
    try:
        persist(workspace, parsed, events, token, outcome)
    except claims.LostClaim:
        log.warning("lost the claim on a batch of %d events; another worker has them", len(parsed))
    except (DatabaseError, ValueError, KeyError) as error:
        if len(parsed) == 1:
            outcome.failures[parsed[0].event_id] = f"{type(error).__name__}: {error}"[:2000]
            return
        for item in parsed:
            persist_or_split(workspace, [item], events, token, outcome)


def persist(
    workspace: Workspace,
    parsed: list[Parsed],
    events: dict[int, ClaimedEvent],
    token: str,
    outcome: BatchOutcome,
) -> None:
    now = timezone.now()
    with transaction.atomic():
        threader = BatchThreader(workspace=workspace, now=now)
        result = threader.thread(parsed, events)
        threader.save(result)
        waiting = set(result.deferred)
        media.enqueue(
            workspace=workspace,
            messages=[p.message for p in parsed if p.event_id not in waiting and not p.spam],
        )
        if result.deferred:
            claims.release_done(
                InboundEvent,
                token=token,
                ids=result.deferred,
                values={
                    "status": InboundEvent.Status.PENDING,
                    "available_at": now + timedelta(seconds=1),
                    "claim_token": "",
                    "lease_until": None,
                },
            )
        deferred = set(result.deferred)
        done = [p.event_id for p in parsed if p.event_id not in deferred]
        claims.release_done(
            InboundEvent,
            token=token,
            ids=done,
            values={
                "status": InboundEvent.Status.DONE,
                "processed_at": now,
                "last_error": "",
                "claim_token": "",
                "lease_until": None,
            },
        )
    outcome.done += len(done)
    outcome.deferred += len(result.deferred)


def fail_event(*, token: str, event_id: int, error: str, outcome: BatchOutcome) -> None:
    """Back off and retry later, or give up visibly after the last attempt."""
    event = InboundEvent.objects.filter(id=event_id, claim_token=token).first()
    if event is None:
        return
    now = timezone.now()
    if event.attempts >= settings.FAIRDESK_MAX_ATTEMPTS:
        status, available_at = InboundEvent.Status.DEAD, now
        outcome.dead += 1
    else:
        status = InboundEvent.Status.PENDING
        available_at = now + timedelta(seconds=min(2**event.attempts, 3600))
        outcome.retried += 1
    InboundEvent.objects.filter(id=event_id, claim_token=token).update(
        status=status,
        available_at=available_at,
        last_error=error,
        claim_token="",
        lease_until=None,
    )


def run_forever(*, idle_sleep: float = 0.5, gather: float | None = None, stop: "StopFlag") -> None:
    """The worker loop: reclaim abandoned batches, process, sleep when idle.

    After a batch smaller than the limit the loop waits ``gather`` seconds (default
    ``FAIRDESK_WORKER_GATHER_MS``) before claiming again, so that under a steady
    stream events are handled in batches rather than one claim, one triage pass and one
    commit each: a worker re-claiming at once spends most of its time on per-batch costs
    and takes the CPU the web server needs to acknowledge deliveries. A full batch means a
    backlog: the next one is claimed at once.
    """
    limit = settings.FAIRDESK_WORKER_BATCH
    pause = settings.FAIRDESK_WORKER_GATHER_MS / 1000 if gather is None else gather
    last_reclaim = 0.0
    while not stop.requested:
        if time.monotonic() - last_reclaim > 5:
            claims.reclaim_expired(InboundEvent)
            last_reclaim = time.monotonic()
        outcome = run_once(limit=limit)
        handled = outcome.done + outcome.retried + outcome.dead + outcome.deferred
        if handled == 0:
            stop.wait(idle_sleep)
        elif handled < limit and pause > 0:
            stop.wait(pause)


class StopFlag:
    """Set by SIGTERM/SIGINT: the current batch finishes, then the loop ends."""

    def __init__(self) -> None:
        import threading

        self._event = threading.Event()

    @property
    def requested(self) -> bool:
        return self._event.is_set()

    def set(self) -> None:
        self._event.set()

    def wait(self, seconds: float) -> None:
        self._event.wait(seconds)
