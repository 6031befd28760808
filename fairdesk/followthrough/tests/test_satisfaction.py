"""CSAT on the customer's own channel: the closing message asks "How did we do, from 1
to 5?", a reply that starts with a score is the answer (once per case, shared with the
portal), and anything else is never swallowed — with two workspaces and two customers."""

import re
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from conftest import T0, record
from fairdesk.cases.models import Case, CaseEvent, CaseStatus
from fairdesk.followthrough.models import Resolution
from fairdesk.followthrough.resolution import propose_resolution
from fairdesk.followthrough.rules import csat_score
from fairdesk.followthrough.satisfaction import QUESTION
from fairdesk.followthrough.tasks import run_followthrough
from fairdesk.followthrough.tests.conftest import Clock
from fairdesk.insights.queries.csat import csat
from fairdesk.portal import services as portal
from fairdesk.portal.models import CsatResponse
from fairdesk.portal.queries import verification_routes
from fairdesk.replies.sender import send_pending
from fairdesk.workspaces.models import Agent, Workspace

Ingest = Callable[[Workspace, list[dict[str, Any]]], int]
HOSTILE = "<script>alert('x')</script>\r\nBcc: evil@example.com\r\n=HYPERLINK(\"http://evil\")"


def _minutes(clock: Clock) -> int:
    """The interchange ``minutes`` (after T0) of a message written now."""
    return int((clock.now - T0).total_seconds() // 60)


def _closed(
    ingest: Ingest, workspace: Workspace, agent: Agent, clock: Clock, *, author: str = "u-1"
) -> Case:
    """A case closed on the customer's "yes" by DM; the closing message has gone out."""
    first = record(f"{workspace.slug}-{author}-1", "My dryer stopped heating", author=author)
    ingest(workspace, [{**first, **_at(clock)}])
    case = Case.objects.filter(workspace=workspace).latest("id")
    propose_resolution(case=case, agent=agent)
    send_pending()
    _say(ingest, workspace, clock, "Yes, it works now, thanks", author=author)
    assert run_followthrough().confirmed == 1
    send_pending()
    case.refresh_from_db()
    assert case.status == CaseStatus.CLOSED
    return case


def _at(clock: Clock) -> dict[str, str]:
    return {"created_at": (T0 + timedelta(minutes=_minutes(clock))).isoformat()}


def _say(ingest: Ingest, workspace: Workspace, clock: Clock, text: str, **fields: Any) -> None:
    """The customer writes (a DM unless told otherwise), then the pipeline's batch settles."""
    clock.advance(minutes=5)
    fields.setdefault("visibility", "private")
    ingest(workspace, [record(f"m-{uuid.uuid4()}", text, minutes=_minutes(clock), **fields)])
    clock.advance(minutes=3)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("5", (5, "")),
        ("4 - quick and friendly", (4, "quick and friendly")),
        ("@AcmeSupport 3/5: slow but fixed", (3, "slow but fixed")),
        ("2 out of 5, still noisy", (2, "still noisy")),
        ("1 star", (1, "")),
        (f"2 {HOSTILE}", (2, HOSTILE)),
        ("5pm works for me", None),
        ("2 days later it stopped again", None),
        ("1 more thing: the door squeaks", None),
        ("3 times it failed", None),
        ("45 minutes on hold", None),
        ("4.5", None),
        ("0", None),
        ("6", None),
        ("Thanks! 5", None),
        ("=1+1", None),
        ("", None),
    ],
)
def test_what_counts_as_a_score(text: str, expected: tuple[int, str] | None) -> None:
    assert csat_score(text) == expected


def test_a_score_by_dm_after_closure_is_the_answer_and_reopens_nothing(
    workspace: Workspace,
    other_workspace: Workspace,
    agent: Agent,
    outsider: Agent,
    clock: Clock,
    ingest: Ingest,
) -> None:
    dana = _closed(ingest, workspace, agent, clock)
    globex_dana = _closed(ingest, other_workspace, outsider, clock)  # the same X account
    assert dana.messages.order_by("-id").first().text.endswith(QUESTION)  # type: ignore[union-attr]
    _say(ingest, workspace, clock, "4 - quick and friendly", author="u-2", handle="@bob")
    bob = Case.objects.filter(workspace=workspace).latest("id")
    cases = Case.objects.count()

    _say(ingest, workspace, clock, f"4 — fixed, but the first part was wrong {HOSTILE}")

    assert Case.objects.count() == cases  # no new case, and Dana's stays closed
    dana.refresh_from_db()
    assert (dana.status, dana.escalation_at, dana.awaiting_since) == ("closed", None, None)
    assert run_followthrough().csat_answers == 1
    assert run_followthrough().csat_answers == 0
    answer = CsatResponse.objects.get()
    assert (answer.case, answer.contact, answer.channel, answer.score) == (
        dana,
        dana.contact,
        "x",
        4,
    )
    assert answer.comment == f"fixed, but the first part was wrong {HOSTILE}"
    event = CaseEvent.objects.get(type=CaseEvent.Type.SATISFACTION_RATED)
    assert (event.case, event.params["channel"], event.params["score"]) == (dana, "x", 4)
    # Bob's "4 - …" is a message on his own new case, not anyone's rating.
    assert bob.contact_id != dana.contact_id and bob.status == CaseStatus.NEW
    assert not CsatResponse.objects.filter(case__in=[bob, globex_dana]).exists()
    # Insights count it under the case's channel of origin.
    report = csat(workspace, clock.now - timedelta(days=1), clock.now + timedelta(days=1))
    assert [(g.group, g.responses, g.score_sum) for g in report.by_channel] == [("x", 1, 4)]
    assert csat(other_workspace, T0, clock.now + timedelta(days=1)).total.responses == 0


def test_the_agent_sees_the_hostile_comment_escaped(
    workspace: Workspace, agent: Agent, clock: Clock, ingest: Ingest
) -> None:
    case = _closed(ingest, workspace, agent, clock)
    _say(ingest, workspace, clock, f"1 {HOSTILE}")
    run_followthrough()
    staff = Client()
    staff.force_login(agent.user)
    page = staff.get(reverse("case", args=[case.public_id])).content.decode()
    assert "Satisfaction rated" in page
    assert "<script>alert" not in page and "&lt;script&gt;" in page


def test_a_public_reply_to_the_question_after_a_quiet_close_counts(
    workspace: Workspace, agent: Agent, clock: Clock, ingest: Ingest, settings: Any
) -> None:
    settings.FAIRDESK_QUIET_CLOSE_DAYS = 2
    ingest(workspace, [{**record("t-1", "My dryer stopped heating"), **_at(clock)}])
    case = Case.objects.get(workspace=workspace)
    propose_resolution(case=case, agent=agent)
    clock.advance(days=2)
    assert run_followthrough().quiet_closed == 1
    send_pending()
    resolution = Resolution.objects.get(case=case)
    assert resolution.csat_question is not None
    question = resolution.csat_question.message
    question.refresh_from_db()
    assert (question.visibility, question.text.endswith(QUESTION)) == ("public", True)

    _say(
        ingest,
        workspace,
        clock,
        "@AcmeSupport 5 stars, thanks",
        visibility="public",
        in_reply_to=question.external_id,
    )

    assert run_followthrough().csat_answers == 1
    answer = CsatResponse.objects.get(case=case)
    assert (answer.channel, answer.score, answer.comment) == ("x", 5, "thanks")


@pytest.mark.parametrize(
    "text",
    [
        "2 days later it stopped heating again",
        "1 more thing: the door squeaks",
        "Thanks again! 5",
        "=1+1",
        "<script>alert(1)</script>",
        "1 - there is smoke coming out of it, it caught fire",  # safety: the queue
    ],
)
def test_anything_that_is_not_plainly_a_score_opens_a_case_as_before(
    workspace: Workspace, agent: Agent, clock: Clock, ingest: Ingest, text: str
) -> None:
    closed = _closed(ingest, workspace, agent, clock)

    _say(ingest, workspace, clock, text)

    new = Case.objects.filter(workspace=workspace).latest("id")
    assert new.pk != closed.pk and new.messages.get().text == text
    assert new.status == CaseStatus.NEW and new.escalation_at is not None
    assert run_followthrough().csat_answers == 0
    assert not CsatResponse.objects.exists()
    assert Case.objects.get(pk=closed.pk).status == CaseStatus.CLOSED


def test_after_the_reply_window_a_score_is_a_new_message(
    workspace: Workspace, agent: Agent, clock: Clock, ingest: Ingest, settings: Any
) -> None:
    settings.FAIRDESK_CSAT_REPLY_DAYS = 2
    closed = _closed(ingest, workspace, agent, clock)
    clock.advance(days=2)

    _say(ingest, workspace, clock, "5")

    assert Case.objects.filter(workspace=workspace).latest("id").pk != closed.pk
    assert run_followthrough().csat_answers == 0
    assert not CsatResponse.objects.exists()


def _portal_session(case: Case, agent: Agent) -> portal.PortalSession:
    """The customer signs in to the portal through the real services."""
    sent = portal.send_portal_link(
        case=case,
        agent=agent,
        base_url="http://testserver",
        idempotency_key=str(uuid.uuid4()),
        channel="x",
    )
    token = re.search(r"/l/([^/\s]+)/", sent.outbox.message.text)
    assert token is not None
    link = portal.open_link(workspace=case.workspace, token=token.group(1))
    challenge = portal.send_code(link=link, identity_id=verification_routes(case)[0].pk)
    assert challenge.message is not None
    code = re.search(r"\b(\d{8})\b", challenge.message.text)
    assert code is not None
    session, _ = portal.verify_code(link=link, challenge_id=challenge.public_id, code=code[1])
    return session


def test_the_first_answer_wins_between_the_portal_and_the_channel(
    workspace: Workspace, agent: Agent, clock: Clock, ingest: Ingest
) -> None:
    by_dm = _closed(ingest, workspace, agent, clock)
    session = _portal_session(by_dm, agent)
    _say(ingest, workspace, clock, "2, it took a week")
    run_followthrough()
    with pytest.raises(portal.PortalInvalid, match="already rated"):
        portal.record_csat(session=session, case=by_dm, score=5, comment="great")

    _say(ingest, workspace, clock, "Yes, it broke again, please have a look")  # a new case
    in_portal = Case.objects.filter(workspace=workspace).latest("id")
    assert in_portal.pk != by_dm.pk
    propose_resolution(case=in_portal, agent=agent)
    _say(ingest, workspace, clock, "yes fixed thanks")
    assert run_followthrough().confirmed == 1
    send_pending()
    in_portal.refresh_from_db()
    portal.record_csat(
        session=_portal_session(in_portal, agent), case=in_portal, score=5, comment=""
    )
    _say(ingest, workspace, clock, "1")  # lands on the closed case, but too late to count

    assert run_followthrough().csat_answers == 0
    assert list(CsatResponse.objects.order_by("id").values_list("case", "channel", "score")) == [
        (by_dm.pk, "x", 2),
        (in_portal.pk, "portal", 5),
    ]
    assert in_portal.messages.filter(text="1").exists()
    assert Case.objects.filter(workspace=workspace).count() == 2
