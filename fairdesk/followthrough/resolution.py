"""Made whole: an agent proposes resolution, the customer is asked "Is this fixed for
you?", and the case closes on a yes or after a quiet period — or reopens with its
history on anything else.

* ``propose_resolution`` — only when every work order is done or cancelled. The case
  becomes resolved (its deadlines stop), a ``Resolution`` row records the proposal and
  the question goes out through the outbox on the customer's channel, signed by the
  proposing agent.
* Any customer message on a resolved case reopens it (``cases.lifecycle.apply_inbound``
  in the pipeline). ``decide_resolutions`` (the ``fairdesk followthrough`` step) then
  reads what the customer wrote since the proposal: when every message is a plain
  confirmation (``rules.is_confirmation``) the case closes as confirmed and the customer
  is thanked; otherwise the proposal is marked reopened and the case stays open.
  The same step closes resolved cases nobody answered within
  ``FAIRDESK_QUIET_CLOSE_DAYS`` (default 7), and records a proposal an agent undid
  (reopened, or closed without a yes) as such.
* Closing on a yes (thanks) or after the quiet period (a short note) sends one message
  that also asks "How did we do, from 1 to 5?" (``satisfaction``): a score in reply is
  the case's satisfaction answer, as one given in the portal would be.

Lock order everywhere: the case row, then its resolution row.
"""

from collections.abc import Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from fairdesk.cases.lifecycle import refresh_deadlines
from fairdesk.cases.models import Case, CaseStatus, Direction, Message
from fairdesk.followthrough import events
from fairdesk.followthrough.models import Resolution, WorkOrder
from fairdesk.followthrough.notices import NoticeBlocked, queue_notice
from fairdesk.followthrough.rules import is_confirmation
from fairdesk.followthrough.satisfaction import QUESTION as CSAT_QUESTION
from fairdesk.followthrough.updates import mark_told
from fairdesk.insights.models import RootCause
from fairdesk.insights.services import active_cause, tag_locked_case
from fairdesk.portal.models import CsatResponse
from fairdesk.replies.models import OutboxMessage
from fairdesk.routing.queries import targets_table
from fairdesk.workspaces.models import Agent

PROPOSABLE = (
    CaseStatus.NEW,
    CaseStatus.OPEN,
    CaseStatus.PENDING_CUSTOMER,
    CaseStatus.PENDING_INTERNAL,
)
CASE_FIELDS = [
    "status",
    "resolved_at",
    "closed_at",
    "awaiting_since",
    "first_response_due_at",
    "next_response_due_at",
    "resolution_due_at",
    "escalation_at",
    "updated_at",
]
QUESTION = (
    "We believe your issue is now fixed (case {reference}). Is this fixed for you? "
    'Just reply "yes" if it is — or tell us what is still wrong and we will pick it '
    "straight back up. If we don't hear from you, we will close the case in {days} days. "
    "^{initials}"
)
THANKS = (
    "Thank you for confirming. We have closed case {reference}. If anything goes wrong "
    "again, just write to us here."
)
CLOSED_QUIETLY = (
    "We have not heard back, so we have closed case {reference}. If anything is still "
    "wrong, just write to us here."
)


class ResolutionRefused(Exception):
    """The case cannot be proposed as resolved now; nothing was written."""

    def __init__(self, reason: str, open_orders: Iterable[WorkOrder] = ()) -> None:
        super().__init__(reason)
        self.open_orders = list(open_orders)


def quiet_period() -> timedelta:
    return timedelta(days=settings.FAIRDESK_QUIET_CLOSE_DAYS)


def propose_resolution(*, case: Case, agent: Agent, root_cause: str = "") -> Resolution:
    """Resolve the case pending the customer's confirmation and ask them.

    Proposing again while a proposal waits returns that one (a double click asks once).
    ``root_cause``, a slug of the workspace's catalogue, tags the case in the same
    transaction. Raises ``ResolutionRefused`` (open work orders, or a closed case),
    ``RootCauseInvalid`` (before anything is written) or ``PermissionDenied``.
    """
    if agent.workspace_id != case.workspace_id:
        raise PermissionDenied("This case belongs to another workspace.")
    cause = active_cause(case.workspace_id, root_cause) if root_cause else None
    try:
        with transaction.atomic():
            return _propose(case=case, agent=agent, cause=cause)
    except IntegrityError:  # a racing proposal won the one-pending constraint
        existing = _pending(case)
        if existing is None:
            raise
        return existing


def _propose(*, case: Case, agent: Agent, cause: RootCause | None) -> Resolution:
    locked = Case.objects.select_for_update().get(pk=case.pk)
    if cause is not None:  # rolled back with the rest when the proposal is refused
        tag_locked_case(locked, cause=cause, agent=agent, at=timezone.now())
    pending = _pending(locked)
    if pending is not None:
        return pending
    if locked.status not in PROPOSABLE:
        raise ResolutionRefused(f"A {locked.get_status_display().lower()} case cannot be resolved.")
    open_orders = list(
        locked.work_orders.filter(status__in=[WorkOrder.Status.OPEN, WorkOrder.Status.IN_PROGRESS])
    )
    if open_orders:
        raise ResolutionRefused(
            "First finish or cancel: " + "; ".join(o.title for o in open_orders), open_orders
        )
    now = timezone.now()
    previous = locked.status
    locked.status = CaseStatus.RESOLVED
    locked.resolved_at = now
    locked.closed_at = None
    refresh_deadlines(locked, targets_table(locked.workspace))
    locked.save(update_fields=CASE_FIELDS)
    resolution = Resolution.objects.create(
        workspace_id=locked.workspace_id, case=locked, proposed_by=agent, proposed_at=now
    )
    events.resolution_proposed(locked, resolution, previous=previous, at=now).save()
    resolution.question = _ask(locked, resolution, agent)
    resolution.save(update_fields=["question", "updated_at"])
    mark_told(locked)
    return resolution


def _ask(case: Case, resolution: Resolution, agent: Agent) -> OutboxMessage:
    text = QUESTION.format(
        reference=case.reference, days=quiet_period().days, initials=agent.initials
    )
    try:
        return queue_notice(
            case=case,
            text=text,
            key=f"resolution-{resolution.public_id}",
            kind="resolution_question",
            author=agent,
        )
    except NoticeBlocked as blocked:  # fixed wording: this would be a bug, not a user error
        raise RuntimeError(f"The resolution question failed the tone guard: {blocked}") from blocked


def _pending(case: Case) -> Resolution | None:
    return Resolution.objects.filter(case=case, outcome=Resolution.Outcome.PENDING).first()


# -- the worker step ------------------------------------------------------------------


def decide_resolutions(*, now: datetime, limit: int = 200) -> dict[str, int]:
    """Settle every waiting proposal whose case moved (a customer message, an agent) or
    whose quiet period is over. Returns counts per outcome; a second run finds nothing."""
    waiting = Resolution.objects.filter(outcome=Resolution.Outcome.PENDING)
    moved = waiting.exclude(case__status=CaseStatus.RESOLVED)
    quiet = waiting.filter(case__status=CaseStatus.RESOLVED, proposed_at__lte=now - quiet_period())
    counts = {outcome: 0 for outcome in Resolution.Outcome.values if outcome != "pending"}
    for queryset in (moved, quiet):
        for resolution_id, case_id in _ids(queryset, limit):
            outcome = _decide_one(resolution_id, case_id, now=now)
            if outcome:
                counts[outcome] += 1
    return counts


def _ids(queryset: QuerySet[Resolution], limit: int) -> list[tuple[int, int]]:
    return list(queryset.order_by("proposed_at", "id").values_list("pk", "case_id")[:limit])


def _decide_one(resolution_id: int, case_id: int, *, now: datetime) -> str:
    with transaction.atomic():
        case = Case.objects.select_for_update().get(pk=case_id)
        resolution = Resolution.objects.select_for_update().get(pk=resolution_id)
        if resolution.outcome != Resolution.Outcome.PENDING:
            return ""  # another worker decided it
        answers = list(
            Message.objects.filter(
                case=case,
                direction=Direction.INBOUND,
                is_spam=False,
                created_at__gt=resolution.proposed_at,
            ).order_by("id")
        )
        return _decide(case, resolution, answers, now=now)


def _decide(case: Case, resolution: Resolution, answers: list[Message], *, now: datetime) -> str:
    if case.status == CaseStatus.CLOSED:  # an agent closed it meanwhile
        return _settle(resolution, Resolution.Outcome.QUIET_CLOSED, None, now=now)
    if answers and all(is_confirmation(message.text) for message in answers):
        return _close(case, resolution, Resolution.Outcome.CONFIRMED, now=now, answer=answers[-1])
    if answers or case.status != CaseStatus.RESOLVED:
        if case.status == CaseStatus.RESOLVED:  # the customer spoke yet the case stayed put
            case.status = CaseStatus.OPEN
            case.resolved_at = None
            refresh_deadlines(case, targets_table(case.workspace))
            case.save(update_fields=CASE_FIELDS)
        _settle(resolution, Resolution.Outcome.REOPENED, answers[0] if answers else None, now=now)
        events.resolution_rejected(case, resolution, at=now).save()
        return Resolution.Outcome.REOPENED
    if resolution.proposed_at <= now - quiet_period():
        return _close(case, resolution, Resolution.Outcome.QUIET_CLOSED, now=now)
    return ""


def _close(
    case: Case,
    resolution: Resolution,
    outcome: str,
    *,
    now: datetime,
    answer: Message | None = None,
) -> str:
    previous = case.status
    case.status = CaseStatus.CLOSED
    case.resolved_at = resolution.proposed_at
    case.closed_at = now
    if outcome == Resolution.Outcome.CONFIRMED:
        case.awaiting_since = None  # a "yes, thanks" needs no answer but our thanks
    refresh_deadlines(case, targets_table(case.workspace))
    case.save(update_fields=CASE_FIELDS)
    _settle(resolution, outcome, answer, now=now)
    events.case_closed(case, resolution, previous=previous, at=now).save()
    _say_closed(case, resolution)
    mark_told(case)
    return outcome


def _say_closed(case: Case, resolution: Resolution) -> None:
    """The closing message, asking the satisfaction question unless the case already
    has its one answer (closed before, then reopened)."""
    confirmed = resolution.outcome == Resolution.Outcome.CONFIRMED
    text = (THANKS if confirmed else CLOSED_QUIETLY).format(reference=case.reference)
    ask = not CsatResponse.objects.filter(case=case).exists()
    outbox = queue_notice(
        case=case,
        text=f"{text} {CSAT_QUESTION}" if ask else text,
        key=f"resolution-{'thanks' if confirmed else 'closed'}-{resolution.public_id}",
        kind="resolution_thanks" if confirmed else "quiet_close",
    )
    if ask:
        resolution.csat_question = outbox
        resolution.save(update_fields=["csat_question", "updated_at"])


def _settle(resolution: Resolution, outcome: str, answer: Message | None, *, now: datetime) -> str:
    resolution.outcome = outcome
    resolution.decided_at = now
    resolution.answer = answer
    resolution.save(update_fields=["outcome", "decided_at", "answer", "updated_at"])
    return outcome
