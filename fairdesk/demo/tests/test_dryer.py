"""Dana's dryer story runs to the end in the loaded demo: portal sign-in, her private
continuation there (Jo answers in the portal, she is told by DM), two work orders, a
status update, "Is this fixed for you?", her "yes" by DM, closed, rated."""

from typing import Any

from django.db.models import Model

from fairdesk.cases.models import Case, CaseEvent, CaseStatus, Message
from fairdesk.demo.dryer import CSAT_COMMENT, DANA_PORTAL_TEXT, JO_PORTAL_TEXT, PART, VISIT
from fairdesk.demo.loading import LoadSummary, dana_case, load_demo_stream
from fairdesk.demo.platforms import DemoPlatforms
from fairdesk.demo.setup import DemoWorkspace
from fairdesk.demo.stream import DANA_CONFIRMATION
from fairdesk.followthrough.models import ExpectationUpdate, ReplyNotice, Resolution, WorkOrder
from fairdesk.followthrough.reply_notices import NOTICE
from fairdesk.followthrough.satisfaction import QUESTION as CSAT_QUESTION
from fairdesk.portal.models import CsatResponse, PortalChallenge, PortalLink, PortalSession
from fairdesk.portal.queries import customer_timeline
from fairdesk.replies.models import OutboxMessage

from .conftest import NOW

# (type, what distinguishes it) for every event on Dana's case, in timeline order.
EXPECTED_EVENTS = [
    ("opened", "x"),
    ("routed", ""),
    ("reply_queued", "x private"),  # Jo's portal link by DM
    ("portal_link_sent", "x"),
    ("reply_sent", "x"),  # the link
    ("reply_sent", "x"),  # the one-time code Dana asked for in the portal
    ("identity_verified", "x one-time code"),
    ("message_received", "portal"),  # Dana's model number and when she is home
    ("reply_queued", "portal private"),  # Jo answers her there
    ("reply_sent", "portal"),
    ("reply_queued", "x private portal_reply_notice"),  # "You have a new reply" by DM
    ("reply_sent", "x"),
    ("work_order_created", "part_shipment open"),
    ("work_order_created", "technician_visit open"),
    ("reply_queued", "email private expectations_update"),
    ("reply_sent", "email"),
    ("work_order_updated", "part_shipment in_progress"),
    ("work_order_updated", "part_shipment done"),
    ("work_order_updated", "technician_visit in_progress"),
    ("work_order_updated", "technician_visit done"),
    ("status_changed", "resolved resolution_proposed"),
    ("reply_queued", "email private resolution_question"),
    ("reply_sent", "email"),
    ("status_changed", "closed customer_confirmed"),
    ("reply_queued", "x private resolution_thanks"),  # with "How did we do, from 1 to 5?"
    ("reply_sent", "x"),
    ("satisfaction_rated", "portal 5"),
]


def dana(demo: DemoWorkspace) -> Case:
    case = dana_case(demo.workspace)
    assert case is not None
    return case


def describe(event: CaseEvent) -> tuple[str, str]:
    p: dict[str, Any] = event.params
    if event.type in ("opened", "reply_sent", "portal_link_sent", "message_received"):
        detail = [p.get("channel", "")]
    elif event.type == "identity_verified":
        detail = [p["channel"], p["method"]]
    elif event.type == "satisfaction_rated":
        detail = [p["channel"], str(p["score"])]
    elif event.type == "reply_queued":
        detail = [p["channel"], p["visibility"], p.get("automatic", "")]
    elif event.type.startswith("work_order"):
        detail = [p["kind"], p["status"]]
    elif event.type == "status_changed":
        detail = [p["status"], p["reason"]]
    else:
        detail = []
    return event.type, " ".join(d for d in detail if d)


def test_dana_case_has_the_whole_story_in_order(demo: DemoWorkspace, loaded: LoadSummary) -> None:
    case = dana(demo)
    events = list(case.events.order_by("at", "id"))
    assert [describe(e) for e in events] == EXPECTED_EVENTS
    times = [e.at for e in events]
    assert times == sorted(times)
    assert case.status == CaseStatus.CLOSED
    assert case.closed_at == events[-4].at


def test_work_orders_are_done_in_order_for_field_service(
    demo: DemoWorkspace, loaded: LoadSummary
) -> None:
    part, visit = dana(demo).work_orders.order_by("id")
    assert [(o.kind, o.status, o.team.slug) for o in (part, visit)] == [
        ("part_shipment", "done", "field-service"),
        ("technician_visit", "done", "field-service"),
    ]
    assert (part.customer_label, visit.customer_label) == (
        PART.customer_label,
        VISIT.customer_label,
    )
    assert list(visit.depends_on.all()) == [part]
    assert (part.due_at, visit.due_at) == (NOW + PART.due_in, NOW + VISIT.due_in)
    assert part.done_at is not None and visit.started_at is not None
    assert part.done_at < visit.started_at


def test_dana_is_told_asked_and_answers_by_dm(demo: DemoWorkspace, loaded: LoadSummary) -> None:
    case = dana(demo)
    outbound = case.messages.filter(direction="outbound", sent_at__gt=NOW).order_by("sent_at")
    texts = list(outbound.values_list("channel", "delivery_status", "text"))
    assert [(channel, status) for channel, status, _ in texts] == [
        ("x", "sent"),  # the link
        ("x", "sent"),  # the code
        ("portal", "sent"),  # Jo's private answer
        ("x", "sent"),  # "You have a new reply"
        ("email", "sent"),  # the update
        ("email", "sent"),  # "Is this fixed for you?"
        ("x", "sent"),  # thanks, and how did we do
    ]
    assert texts[4][2].startswith(
        f"Update on your case {case.reference}: We are working on it. "
        "Next step: Replacement heating element on its way. Expected by "
    )
    assert "Is this fixed for you?" in texts[5][2]
    assert texts[6][2].startswith(f"Thank you for confirming. We have closed case {case.reference}")
    assert texts[6][2].endswith(f"{CSAT_QUESTION}")
    answer = case.messages.get(text=DANA_CONFIRMATION)
    assert (answer.channel, answer.direction, answer.visibility) == ("x", "inbound", "private")
    resolution = Resolution.objects.get(case=case)
    assert (resolution.outcome, resolution.answer, resolution.proposed_by) == (
        "confirmed",
        answer,
        demo.agents["jo"],
    )
    assert not OutboxMessage.objects.filter(case=case).exclude(status="sent").exists()
    assert ExpectationUpdate.objects.get(case=case).due_at is None


def test_dana_continues_privately_in_the_portal_on_the_same_case(
    demo: DemoWorkspace, loaded: LoadSummary
) -> None:
    case = dana(demo)
    mine = case.messages.get(channel="portal", direction="inbound")
    session = PortalSession.objects.get(link__case=case)
    assert (mine.text, mine.visibility, mine.identity) == (
        DANA_PORTAL_TEXT,
        "private",
        session.identity,
    )
    answer = case.messages.get(channel="portal", direction="outbound")
    assert (answer.text, answer.visibility, answer.agent) == (
        f"{JO_PORTAL_TEXT} ^{demo.agents['jo'].initials}",
        "private",
        demo.agents["jo"],
    )
    # Both are on the timeline Dana sees in the portal, one after the other, after the
    # public start of her case.
    seen = [(entry.mine, entry.text) for entry in customer_timeline(case)]
    mine_at = seen.index((True, DANA_PORTAL_TEXT))
    assert seen[mine_at + 1] == (False, answer.text)
    assert seen[0][0] is True and mine_at > 0
    # She was told by DM — once, without Jo's words — and the notice is settled.
    notice = case.messages.get(text__startswith="You have a new reply")
    assert (notice.channel, notice.visibility) == ("x", "private")
    assert notice.text == NOTICE.format(reference=case.reference)
    assert JO_PORTAL_TEXT[:30] not in notice.text
    row = ReplyNotice.objects.get(case=case)
    assert (row.due_at, row.sent_count) == (None, 1)


def test_dana_signed_in_to_the_portal_and_rated_the_case(
    demo: DemoWorkspace, loaded: LoadSummary
) -> None:
    case = dana(demo)
    link = PortalLink.objects.get(case=case)
    assert (link.channel, link.contact, link.opened_at is not None) == ("x", case.contact, True)
    challenge = PortalChallenge.objects.get(link=link)
    assert challenge.verified_at is not None and challenge.attempts == 1
    session = PortalSession.objects.get(link=link)
    assert (session.contact, session.identity) == (case.contact, challenge.identity)
    csat = CsatResponse.objects.get()
    assert (csat.case, csat.contact, csat.channel, csat.score, csat.comment) == (
        case,
        case.contact,
        "portal",
        5,
        CSAT_COMMENT,
    )
    # The secrets left the database once delivered.
    assert "[link removed" in link.message.text  # type: ignore[union-attr]
    assert "[code removed" in challenge.message.text  # type: ignore[union-attr]


def test_loading_twice_leaves_dana_story_as_it_was(
    demo: DemoWorkspace, platforms: DemoPlatforms, loaded: LoadSummary
) -> None:
    case = dana(demo)
    counted: tuple[type[Model], ...] = (
        Message,
        CaseEvent,
        WorkOrder,
        Resolution,
        OutboxMessage,
        CsatResponse,
        PortalLink,
        PortalChallenge,
        PortalSession,
        ReplyNotice,
    )
    before = {model.__name__: model._default_manager.count() for model in counted}
    events = list(case.events.values_list("id", "type", "at"))
    again = load_demo_stream(demo.workspace, NOW, platforms=platforms)
    assert (again.stored, again.processed, again.sent) == (0, 0, 0)
    assert again.duplicates == loaded.stored
    assert {model.__name__: model._default_manager.count() for model in counted} == before
    assert list(case.events.values_list("id", "type", "at")) == events
    case.refresh_from_db()
    assert case.status == CaseStatus.CLOSED
