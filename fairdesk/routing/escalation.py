"""Escalation when a deadline comes near: a CaseEvent, once per deadline.

The queue already shows such a case as "breaching soon" from its deadline alone; the
escalation adds the event to the case's timeline (and so to the audit log and the
supervisor's attention) exactly once per deadline, however often the sweep runs.
"""

from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from fairdesk.cases.models import QUEUE_STATUSES, Case
from fairdesk.routing import events
from fairdesk.routing.assignment import DEFAULT_POLICY, policies
from fairdesk.routing.models import Escalation
from fairdesk.workspaces.models import Workspace

MAX_PER_SWEEP = 500


def escalate_due(*, workspace: Workspace, now: datetime | None = None) -> int:
    """Escalate the queued cases whose next deadline is within their team's
    ``escalate_before_minutes`` (or already passed). Returns how many were escalated."""
    now = now or timezone.now()
    table = policies(workspace.pk)
    horizon = max(p.escalate_before_minutes for p in table.values())
    escalated = 0
    for case in _due(workspace, until=now + timedelta(minutes=horizon)):
        lead = table.get(case.team_id, DEFAULT_POLICY).escalate_before_minutes
        assert case.escalation_at is not None
        if case.escalation_at <= now + timedelta(minutes=lead):
            escalated += _escalate(case, now=now)
    return escalated


def _due(workspace: Workspace, *, until: datetime) -> list[Case]:
    done = Escalation.objects.filter(case=OuterRef("pk"), deadline=OuterRef("escalation_at"))
    return list(
        Case.objects.filter(
            workspace=workspace, status__in=QUEUE_STATUSES, escalation_at__lte=until
        )
        .exclude(Exists(done))
        .order_by("escalation_at", "id")[:MAX_PER_SWEEP]
    )


def _escalate(case: Case, *, now: datetime) -> int:
    deadline = case.escalation_at
    assert deadline is not None
    try:
        with transaction.atomic():
            Escalation.objects.create(workspace_id=case.workspace_id, case=case, deadline=deadline)
            events.escalated(case, deadline=deadline, which=which_deadline(case), at=now).save()
    except IntegrityError:  # another sweep escalated this deadline first
        return 0
    return 1


def which_deadline(case: Case) -> str:
    """The name of the deadline the queue key stands for."""
    for name, value in (
        ("first response", case.first_response_due_at),
        ("next response", case.next_response_due_at),
        ("resolution", case.resolution_due_at),
    ):
        if value is not None and value == case.escalation_at:
            return name
    return "deadline"
