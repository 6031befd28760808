"""Expectation updates: when a case's customer-visible status, next step or ETA changes,
the customer gets a short update on their channel — never spammy.

``note_change`` (called by ``services.refresh_expectations`` when one of the three
changed) only marks the case: the update is due after ``coalesce.SETTLE`` (so a burst
of edits becomes one message) and never sooner than ``FAIRDESK_UPDATE_INTERVAL_MINUTES``
after the previous one. ``send_due_updates`` (the ``fairdesk followthrough`` step) tells
the customer the state *at that moment*: the latest wins, and a change that was undone
in the meantime sends nothing. Internal fields (titles, owners, teams, references)
never enter the comparison or the text.
"""

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from fairdesk.cases.models import Case, CaseStatus
from fairdesk.followthrough.coalesce import due_rows, mark_due
from fairdesk.followthrough.models import ExpectationUpdate
from fairdesk.followthrough.notices import NoticeBlocked, log_blocked, queue_notice

KIND = "expectations_update"
# What the customer reads as the status. New, open and pending-internal cases are all
# "being worked on" from where they stand.
STATUS_WORDS = {
    CaseStatus.NEW: "We are working on it",
    CaseStatus.OPEN: "We are working on it",
    CaseStatus.PENDING_INTERNAL: "We are working on it",
    CaseStatus.PENDING_CUSTOMER: "Waiting for your reply",
    CaseStatus.RESOLVED: "Resolved",
    CaseStatus.CLOSED: "Closed",
}
QUIET_STATUSES = (CaseStatus.RESOLVED, CaseStatus.CLOSED)

Visible = tuple[str, str, datetime | None]


def visible_state(case: Case) -> Visible:
    """What the customer sees: status words, next step, ETA."""
    return STATUS_WORDS.get(case.status, ""), case.next_step, case.eta  # type: ignore[call-overload]


def note_change(case: Case) -> None:
    """The customer-visible state changed: an update is due (coalesced, rate-limited)."""
    mark_due(ExpectationUpdate, case=case)


def mark_told(case: Case) -> None:
    """The customer was just told the current state another way (the resolution
    question): nothing more is due."""
    status, next_step, eta = visible_state(case)
    ExpectationUpdate.objects.update_or_create(
        case=case,
        defaults={
            "workspace_id": case.workspace_id,
            "told_status": status,
            "told_next_step": next_step,
            "told_eta": eta,
            "due_at": None,
        },
    )


def send_due_updates(*, now: datetime, limit: int = 200) -> int:
    """Send every update due by ``now``; returns how many were queued. Idempotent: a
    row is settled in the same transaction as its outbox message."""
    due = due_rows(ExpectationUpdate, now=now, limit=limit)
    return sum(_send_one(row_id, case_id, now=now) for row_id, case_id in due)


def _send_one(row_id: int, case_id: int, *, now: datetime) -> int:
    with transaction.atomic():
        case = Case.objects.select_for_update().get(pk=case_id)
        row = ExpectationUpdate.objects.select_for_update().get(pk=row_id)
        if row.due_at is None or row.due_at > now:
            return 0  # another worker settled it
        state = visible_state(case)
        told = (row.told_status, row.told_next_step, row.told_eta)
        sent = 0
        if state != told and case.status not in QUIET_STATUSES:
            sent = _queue(case, row, state)
            if sent:
                row.last_sent_at = now
        row.told_status, row.told_next_step, row.told_eta = state
        row.due_at = None
        row.save()
        return sent


def _queue(case: Case, row: ExpectationUpdate, state: Visible) -> int:
    try:
        queue_notice(
            case=case,
            text=update_text(case, state),
            key=f"update-{case.public_id}-{row.sent_count + 1}",
            kind=KIND,
        )
    except NoticeBlocked as blocked:
        log_blocked(case, kind=KIND, verdict=blocked.verdict)
        return 0
    row.sent_count += 1
    return 1


def update_text(case: Case, state: Visible) -> str:
    """Short and customer-facing only: reference, status words, next step, ETA."""
    status, next_step, eta = state
    parts = [f"Update on your case {case.reference}: {status}."]
    if next_step:
        parts.append(f"Next step: {next_step.rstrip('.')}.")
    if eta is not None:
        local = timezone.localtime(eta)
        parts.append(f"Expected by {local:%a %d %b %Y, %H:%M} {local.tzname()}.")
    parts.append("Reply here any time if something is not right.")
    return " ".join(parts)
