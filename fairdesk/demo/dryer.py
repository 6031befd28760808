"""The rest of Dana's dryer story, played through the real services once her case exists:
she signs in to the portal with the link and code Jo sends her by DM, continues there
privately (her dryer's model and when she is home; Jo answers in the portal and she is
told so by DM), the replacement heating element ships and the technician fixes the
dryer (two work orders), she is told how things stand, Jo asks "Is this fixed for
you?", Dana says yes by DM (through the X webhook like every DM in the demo), the
follow-through step closes the case and thanks her, and she rates the service in the
portal.

The steps happen at the moment the demo loads, in order, after Dana's messages (which
are dated in the past): the services stamp their own times. Every step finds what an
earlier load did and does nothing again, so loading twice changes nothing.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import QuerySet
from django.utils import timezone

from fairdesk.cases.models import Case, CaseStatus, Visibility
from fairdesk.demo.delivery import deliver
from fairdesk.demo.platforms import DemoPlatforms
from fairdesk.demo.stream import dana_confirmation_record
from fairdesk.followthrough.models import ExpectationUpdate, ReplyNotice, Resolution, WorkOrder
from fairdesk.followthrough.resolution import propose_resolution
from fairdesk.followthrough.services import NewWorkOrder, create_work_order, update_work_order
from fairdesk.followthrough.tasks import run_followthrough
from fairdesk.inbound.pipeline import drain
from fairdesk.portal.credentials import CODE_DIGITS
from fairdesk.portal.models import CsatResponse, PortalSession
from fairdesk.portal.queries import verification_routes
from fairdesk.portal.services import (
    open_link,
    post_reply,
    record_csat,
    send_code,
    send_portal_link,
    verify_code,
)
from fairdesk.replies.services import submit_reply
from fairdesk.workspaces.models import Agent, Team

AGENT = "jo"
TEAM = "field-service"
PORTAL_KEY = "demo-dana-portal"
PORTAL_NOTE = "Thanks, Dana. Let's continue privately: your case, its status and ETA are here."
DANA_PORTAL_KEY = "demo-dana-portal-reply"
DANA_PORTAL_TEXT = (
    "The dryer is a DR-550, serial 55-0192, bought in March 2024. "
    "I am home on weekdays after 3pm, and all of Thursday morning."
)
JO_PORTAL_KEY = "demo-jo-portal-answer"
JO_PORTAL_TEXT = (
    "Thank you, Dana. The right heating element for the DR-550 is on its way, and our "
    "technician will fit it on Thursday morning while you are home."
)
CSAT_SCORE = 5
CSAT_COMMENT = "Quick and friendly: new heating element fitted, the dryer heats again."
BASE_URL = "http://127.0.0.1"  # redacted from the stored DM once it is delivered
_TOKEN = re.compile(r"/l/([^/\s]+)/")
_CODE = re.compile(rf"\b(\d{{{CODE_DIGITS}}})\b")


@dataclass(frozen=True, slots=True)
class Order:
    """One work order of the story: what it is, and when it is due after ``now``."""

    key: str
    kind: str
    title: str
    customer_label: str
    due_in: timedelta


PART = Order(
    "demo-dana-part",
    WorkOrder.Kind.PART_SHIPMENT,
    "Ship heating element HE-550 for dryer DR-550 (serial 55-0192)",
    "Replacement heating element on its way",
    timedelta(days=2),
)
VISIT = Order(
    "demo-dana-visit",
    WorkOrder.Kind.TECHNICIAN_VISIT,
    "Fit the new heating element at the customer's home (Thursday morning)",
    "Technician visit on Thursday morning",
    timedelta(days=3),
)


@dataclass(slots=True)
class Ending:
    """What playing the ending did: Dana's "yes" stored (or found again), and how many
    events were processed and messages sent on the way."""

    stored: int = 0
    duplicates: int = 0
    processed: int = 0
    sent: int = 0


def finish_dana_story(
    case: Case, now: datetime, *, platforms: DemoPlatforms, send: Callable[[], int]
) -> Ending:
    """Play the story's ending on ``case`` (Dana's), ``send`` sending what is queued."""
    agent = Agent.objects.select_related("workspace").get(
        workspace_id=case.workspace_id, user__username=AGENT
    )
    ending = Ending()
    session = _signed_in(case, agent, ending, send)
    _continue_privately(session, case, agent)
    ending.sent += send()
    _run_when_due(ReplyNotice.objects.filter(case=case))  # "a new reply" by DM
    ending.sent += send()
    orders = _work_orders(case, agent, now)
    _run_when_due(ExpectationUpdate.objects.filter(case=case))  # the part is on its way
    ending.sent += send()
    _work_done(orders, agent)
    if not Resolution.objects.filter(case=case).exists():
        propose_resolution(case=case, agent=agent)
    ending.sent += send()
    answer = [dana_confirmation_record(timezone.now())]
    delivered = deliver(workspace=case.workspace, platforms=platforms, records=answer)
    ending.stored, ending.duplicates = delivered.stored, delivered.duplicates
    ending.processed = drain()
    run_followthrough()
    ending.sent += send()
    _rate(session, case)
    return ending


def _signed_in(case: Case, agent: Agent, ending: Ending, send: Callable[[], int]) -> PortalSession:
    """Jo sends the portal link by DM; Dana opens it, asks for a code by DM and types it
    (each DM goes out before she acts on it). A later load finds her session."""
    sent = send_portal_link(
        case=case,
        agent=agent,
        base_url=BASE_URL,
        idempotency_key=PORTAL_KEY,
        channel="x",
        note=PORTAL_NOTE,
    )
    session = PortalSession.objects.filter(link=sent.link).order_by("id").first()
    if session is not None:
        return session
    return _sign_in(case, sent.outbox.message.text, ending, send)


def _sign_in(
    case: Case, link_message: str, ending: Ending, send: Callable[[], int]
) -> PortalSession:
    """What Dana does with the two DMs she receives (read here from their text as queued,
    kept in memory: the demo's DMs only reach a stand-in, and the stored copies lose
    the secret once delivered)."""
    ending.sent += send()
    token = _TOKEN.search(link_message)
    if token is None:
        raise RuntimeError("The portal link message carries no link.")
    link = open_link(workspace=case.workspace, token=token.group(1))
    route = next(r for r in verification_routes(link.case) if r.channel == "x")
    challenge = send_code(link=link, identity_id=route.pk)
    ending.sent += send()
    code = _CODE.search(challenge.message.text if challenge.message else "")
    if code is None:
        raise RuntimeError("The code message carries no code.")
    session, _secret = verify_code(link=link, challenge_id=challenge.public_id, code=code.group(1))
    return session


def _continue_privately(session: PortalSession, case: Case, agent: Agent) -> None:
    """Dana writes in the portal what a public thread is no place for, and Jo answers her
    there (private replies go where she last wrote privately: the portal). The keys find
    both again on a later load."""
    post_reply(session=session, case=case, text=DANA_PORTAL_TEXT, key=DANA_PORTAL_KEY)
    submit_reply(
        case=case,
        agent=agent,
        text=JO_PORTAL_TEXT,
        visibility=Visibility.PRIVATE,
        idempotency_key=JO_PORTAL_KEY,
    )


def _work_orders(case: Case, agent: Agent, now: datetime) -> list[WorkOrder]:
    """The part shipment, then the visit that needs the part (found again by key)."""
    team = Team.objects.get(workspace_id=case.workspace_id, slug=TEAM)
    orders: list[WorkOrder] = []
    for spec in (PART, VISIT):
        existing = WorkOrder.objects.filter(
            workspace_id=case.workspace_id, idempotency_key=spec.key
        ).first()
        orders.append(
            existing
            or create_work_order(
                case=case,
                actor=agent,
                order=NewWorkOrder(
                    kind=spec.kind,
                    team=team,
                    title=spec.title,
                    customer_label=spec.customer_label,
                    due_at=now + spec.due_in,
                    idempotency_key=spec.key,
                    depends_on=tuple(orders),
                ),
            )
        )
    return orders


def _run_when_due(notices: "QuerySet[ExpectationUpdate] | QuerySet[ReplyNotice]") -> None:
    """The follow-through worker's run once a coalesced notice has settled
    (``coalesce.SETTLE``): Dana is told. Nothing is due on a later load."""
    due = notices.filter(due_at__isnull=False).values_list("due_at", flat=True).first()
    if due is not None:
        run_followthrough(now=due)


# The state an order must be in to be moved to each of these.
MOVES_FROM = {
    WorkOrder.Status.IN_PROGRESS: WorkOrder.Status.OPEN,
    WorkOrder.Status.DONE: WorkOrder.Status.IN_PROGRESS,
}


def _work_done(orders: list[WorkOrder], agent: Agent) -> None:
    """Each order is started, then done, in order (a done order is left alone)."""
    for order in orders:
        for status, required in MOVES_FROM.items():
            order.refresh_from_db()
            if order.status == required:
                update_work_order(work_order=order, actor=agent, status=status)


def _rate(session: PortalSession, case: Case) -> None:
    """Dana's answer to the satisfaction question in the portal, once."""
    case.refresh_from_db()
    if case.status == CaseStatus.CLOSED and not CsatResponse.objects.filter(case=case).exists():
        record_csat(session=session, case=case, score=CSAT_SCORE, comment=CSAT_COMMENT)
