"""The callback quality check, run on every reply beside the tone guard.

A customer who asked to be called back must not be answered with only a link to the
help center or "visit our website". When the case has an open callback work order, or
the customer's latest message asks for a call, a reply that leans on self-service and
says nothing about calling (``rules.self_service_deflection``) is stopped with a
``callback_deflection`` issue in the tone guard's own structure: the agent sees the
reason and a suggestion, and the usual supervisor override applies.

Called from ``replies.services._draft``; kept here because callbacks are follow-through's
business and the tone module is pure text with no case to look at.
"""

from fairdesk.cases.models import Case, Direction, Message
from fairdesk.followthrough.models import WorkOrder
from fairdesk.followthrough.rules import asks_for_callback, self_service_deflection
from fairdesk.triage.types import ToneIssue, ToneVerdict

KIND = "callback_deflection"
EXPLANATION = (
    "The customer asked to be called back; a link to the help center or the website does "
    "not answer that. Schedule the call, or say when we will call."
)
SUGGESTION = (
    "Confirm the call, e.g. \"We'll call you at 3 pm today on the number you gave us. "
    'If another time suits you better, just reply here."'
)


def check_callback_answer(*, case: Case, text: str, verdict: ToneVerdict) -> ToneVerdict:
    """``verdict`` with a ``callback_deflection`` issue added when the reply deflects a
    callback request; unchanged otherwise."""
    excerpt = self_service_deflection(text)
    if not excerpt or not callback_requested(case):
        return verdict
    issue = ToneIssue(KIND, excerpt, EXPLANATION)
    suggestion = " ".join(part for part in (verdict.suggestion, SUGGESTION) if part)
    return ToneVerdict(allowed=False, issues=(*verdict.issues, issue), suggestion=suggestion)


def callback_requested(case: Case) -> bool:
    """An open callback order on the case, or the customer's latest message asks for one."""
    if case.pk is None:
        return False
    open_callback = WorkOrder.objects.filter(
        case=case,
        kind=WorkOrder.Kind.CALLBACK,
        status__in=[WorkOrder.Status.OPEN, WorkOrder.Status.IN_PROGRESS],
    )
    if open_callback.exists():
        return True
    latest = (
        Message.objects.filter(case=case, direction=Direction.INBOUND, is_spam=False)
        .order_by("-sent_at", "-id")
        .values_list("text", flat=True)
        .first()
    )
    return latest is not None and asks_for_callback(latest)
