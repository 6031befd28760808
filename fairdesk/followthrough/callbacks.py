"""Callbacks: a customer who asks to be called back gets a scheduled callback work order.

Triage has no callback signal, so the rule lives here (``rules.asks_for_callback``) and
runs as a ``fairdesk followthrough`` step that reads new inbound messages after the
pipeline stored them — the pipeline itself stays untouched. A cursor
(``cursor.read_new_inbound``) remembers the last message id read; the cursor and the
orders move in one transaction, and each order's idempotency key is derived from its
message, so a second run (or a crash and a rerun) creates nothing twice.

The order goes to the case's team (else the workspace's default team), due at the time
the customer asked for when ``rules.preferred_time`` can read one, else by the case's
next deadline. One open callback per case: a second request while one is open adds
nothing (the agent sees the message on the timeline).
"""

from datetime import datetime, timedelta

from django.utils import timezone

from fairdesk.cases.models import Case, CaseStatus, Message
from fairdesk.followthrough.cursor import read_new_inbound
from fairdesk.followthrough.models import WorkOrder
from fairdesk.followthrough.rules import asks_for_callback, preferred_time
from fairdesk.followthrough.services import (
    DuplicateWorkOrder,
    NewWorkOrder,
    WorkOrderInvalid,
    create_work_order,
)
from fairdesk.workspaces.models import Team

CURSOR = "callbacks"
BATCH = 500
FALLBACK_DUE = timedelta(days=1)
OPEN = (WorkOrder.Status.OPEN, WorkOrder.Status.IN_PROGRESS)


def schedule_callbacks(*, now: datetime, limit: int = BATCH) -> int:
    """Read the next batch of inbound messages; returns how many callbacks were created."""
    return read_new_inbound(
        CURSOR, now=now, limit=limit, consider=_consider, related=("case", "case__contact")
    )


def _consider(message: Message) -> int:
    case = message.case
    if case is None or message.is_spam or case.status == CaseStatus.CLOSED:
        return 0
    if not asks_for_callback(message.text):
        return 0
    if case.work_orders.filter(kind=WorkOrder.Kind.CALLBACK, status__in=OPEN).exists():
        return 0
    try:
        create_work_order(case=case, actor=None, order=callback_order(case, message))
    except (DuplicateWorkOrder, WorkOrderInvalid):
        return 0  # already scheduled from this message, or the case cannot take work
    return 1


def callback_order(case: Case, message: Message) -> NewWorkOrder:
    """The order for ``message``: internal title, customer-facing label, due time."""
    zone = timezone.get_default_timezone()
    wanted = preferred_time(message.text, after=message.sent_at, zone=zone)
    if wanted is not None:
        local = wanted.astimezone(zone)
        label = f"We will call you back on {local:%a %d %b} at {local:%H:%M} {local.tzname()}"
        due = wanted
    else:
        label = "We will call you back"
        due = case.escalation_at or case.resolution_due_at or message.sent_at + FALLBACK_DUE
    phone = case.contact.phone
    return NewWorkOrder(
        kind=WorkOrder.Kind.CALLBACK,
        team=_team(case),
        title=f"Call the customer back ({message.channel} message {message.pk})",
        customer_label=label,
        due_at=due,
        idempotency_key=f"callback-message-{message.pk}",
        details={
            "requested_in": message.pk,
            "preferred_time": wanted.isoformat() if wanted else None,
            "phone_known": bool(phone),
        },
    )


def _team(case: Case) -> Team:
    if case.team is not None:
        return case.team
    teams = Team.objects.filter(workspace_id=case.workspace_id)
    team = teams.filter(is_default=True).first() or teams.order_by("id").first()
    if team is None:
        raise WorkOrderInvalid("This workspace has no team to call the customer back.")
    return team
