"""A pile-on alerts the owning team by e-mail, once, through a real SMTP server."""

import email
import email.policy
from collections.abc import Callable, Iterator
from datetime import timedelta
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from django.utils import timezone

from conftest import T0, record
from fairdesk.cases.models import Case, CaseEvent
from fairdesk.connectors.email.tests.servers import SmtpRecorder, start_smtp
from fairdesk.inbound import team_alerts
from fairdesk.inbound.claims import claim
from fairdesk.inbound.team_alerts import LEASE, send_due
from fairdesk.inbound.tests.test_pileon import CHECKOUT, customers
from fairdesk.replies.sender import send_pending
from fairdesk.workspaces.models import Team, TeamAlert, Workspace
from fairdesk.workspaces.services import create_agent

Ingest = Callable[..., int]
ONCALL = "billing-oncall@acme.test"


@pytest.fixture
def smtp(settings: Any) -> Iterator[SmtpRecorder]:
    """aiosmtpd on loopback as the mail server of Django's SMTP backend."""
    recorder = SmtpRecorder()
    controller: Controller = start_smtp(recorder)
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = controller.hostname, controller.port
    settings.FAIRDESK_BASE_URL = "https://desk.acme.test"
    yield recorder
    controller.stop()


@pytest.fixture
def billing(workspace: Workspace) -> Team:
    team = Team.objects.get(workspace=workspace, slug="billing")
    team.alert_email = ONCALL
    team.save(update_fields=["alert_email"])
    return team


def mails(recorder: SmtpRecorder) -> list[EmailMessage]:
    parsed = []
    for received in recorder.received:
        message = email.message_from_bytes(received.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        parsed.append(message)
    return parsed


def text_of(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    return str(body.get_content()).replace("\r\n", "\n")


def test_five_customers_send_one_alert_to_the_team(
    workspace: Workspace, billing: Team, ingest: Ingest, smtp: SmtpRecorder
) -> None:
    ingest(workspace, customers(0, 5))
    assert TeamAlert.objects.filter(status=TeamAlert.Status.PENDING).count() == 1
    assert smtp.received == []  # nothing is sent inside the pipeline
    assert send_pending() == 1
    assert send_pending() == 0
    [received] = smtp.received
    assert received.rcpt_tos == [ONCALL]
    [mail] = mails(smtp)
    assert mail["Subject"] == "Pile-on (Billing): 5 customers, the same message (billing)"
    assert mail["Auto-Submitted"] == "auto-generated"
    assert mail.get_content_type() == "text/plain"
    body = text_of(mail)
    cases = list(Case.objects.filter(workspace=workspace).order_by("id"))
    assert "Customers: 5 different customers, 5 messages\n" in body
    assert "Window: 2026-11-02 09:00 to 2026-11-02 09:04 UTC\n" in body
    for case in cases:
        assert f"- {case.reference} [high] https://desk.acme.test/cases/{case.public_id}/\n" in body
    assert body.count(f"  {CHECKOUT}\n") == 5
    alert = TeamAlert.objects.get()
    assert (alert.status, alert.attempts, alert.recipients) == ("sent", 1, [ONCALL])
    assert alert.params["case_ids"] == [c.pk for c in cases]


def test_a_growing_pileon_realerts_at_most_once_an_hour(
    workspace: Workspace, billing: Team, ingest: Ingest, smtp: SmtpRecorder
) -> None:
    # A customer every five minutes for 100 minutes, each in a batch of their own.
    for i in range(21):
        ingest(workspace, [record(f"g-{i}", CHECKOUT, author=f"c{i}", minutes=5 * i)])
    alerts = list(TeamAlert.objects.order_by("id"))
    # Detected with the fifth customer (minute 20); growth within the hour is folded;
    # at minute 80 one update; nothing more before minute 140.
    assert [(a.at - T0, a.params["update"]) for a in alerts] == [
        (timedelta(minutes=20), False),
        (timedelta(minutes=80), True),
    ]
    assert alerts[1].params["cases"] == 1  # the case new in that batch
    assert send_pending() == 2
    subjects = [m["Subject"].split(" (")[0] for m in mails(smtp)]
    assert subjects == ["Pile-on", "Pile-on growing"]


def test_one_customer_fifty_times_alerts_nobody(
    workspace: Workspace, billing: Team, ingest: Ingest, smtp: SmtpRecorder
) -> None:
    loud = [
        record(
            f"r-{i}", CHECKOUT.upper() + "!" * i, author="c0", followers=i * 50_000, minutes=i % 20
        )
        for i in range(50)
    ]
    ingest(workspace, loud)
    assert TeamAlert.objects.count() == 0
    send_pending()
    assert smtp.received == []


def test_the_other_workspace_team_never_gets_it(
    workspace: Workspace,
    other_workspace: Workspace,
    billing: Team,
    ingest: Ingest,
    smtp: SmtpRecorder,
) -> None:
    Team.objects.filter(workspace=other_workspace, slug="billing").update(
        alert_email="billing@globex.test"
    )
    ingest(workspace, customers(0, 5))
    ingest(other_workspace, customers(0, 3))  # the same text, too few people there
    send_pending()
    assert [r.rcpt_tos for r in smtp.received] == [[ONCALL]]
    assert TeamAlert.objects.filter(workspace=other_workspace).count() == 0
    other_ids = set(Case.objects.filter(workspace=other_workspace).values_list("id", flat=True))
    assert not other_ids & set(TeamAlert.objects.get().params["case_ids"])


def test_without_an_address_the_team_members_get_it(
    workspace: Workspace, ingest: Ingest, smtp: SmtpRecorder
) -> None:
    team = Team.objects.get(workspace=workspace, slug="billing")
    for name in ("ana", "bo", "cy"):
        agent = create_agent(
            workspace=workspace,
            username=name,
            password="pw-123456789",
            display_name=name,
            initials=name,
            team=team if name != "cy" else None,
        )
        agent.user.email = f"{name}@acme.test" if name != "bo" else ""
        agent.user.save()
    ingest(workspace, customers(0, 5))
    send_pending()
    assert [r.rcpt_tos for r in smtp.received] == [["ana@acme.test"]]


def test_a_team_nobody_can_be_reached_at_is_recorded_not_retried(
    workspace: Workspace, ingest: Ingest, smtp: SmtpRecorder
) -> None:
    ingest(workspace, customers(0, 5))
    assert send_pending() == 0
    alert = TeamAlert.objects.get()
    assert alert.status == TeamAlert.Status.NO_RECIPIENT
    assert smtp.received == []


def test_hostile_names_and_texts_stay_out_of_the_headers(
    workspace: Workspace, ingest: Ingest, smtp: SmtpRecorder
) -> None:
    # A text about no known topic: the front line owns it.
    Team.objects.filter(workspace=workspace, slug="front-line").update(
        name="Front\r\nBcc: victim@evil.test", alert_email=ONCALL
    )
    hostile = (
        '<script>alert("x")</script> checkout fails with error 502\r\n'
        "Bcc: victim@evil.test\r\n\r\nFake line"
    )
    ingest(
        workspace,
        [
            record(
                f"h-{i}",
                hostile,
                channel="x",
                author=f"h{i}",
                handle=f"@h{i}\r\nX-Evil: 1",
                minutes=i,
            )
            for i in range(5)
        ],
    )
    send_pending()
    [received] = smtp.received
    assert received.rcpt_tos == [ONCALL]
    [mail] = mails(smtp)
    assert mail["Bcc"] is None and mail["X-Evil"] is None
    assert "\n" not in mail["Subject"] and "\r" not in mail["Subject"]
    assert mail["Subject"] == "Pile-on (Front Bcc: victim@evil.test): 5 customers, the same message"
    body = text_of(mail)
    assert "\nBcc:" not in body and "\nFake line" not in body
    assert "X-Evil" not in body  # display names are not in the alert at all
    lines = [line for line in body.splitlines() if "<script>" in line]
    assert len(lines) == 5 and all(line.startswith("  <script>") for line in lines)


def test_a_refused_send_is_retried_and_sent_once(
    workspace: Workspace, billing: Team, ingest: Ingest, smtp: SmtpRecorder
) -> None:
    ingest(workspace, customers(0, 5))
    smtp.replies.append("451 4.3.0 Try again later")
    assert send_pending() == 0
    alert = TeamAlert.objects.get()
    assert (alert.status, alert.attempts, alert.handed_at) == ("pending", 1, None)
    assert "Try again later" in alert.last_error
    assert send_pending() == 0  # backing off
    TeamAlert.objects.update(available_at=timezone.now())
    assert send_pending() == 1
    assert send_pending() == 0
    assert len(smtp.received) == 1
    assert TeamAlert.objects.get().attempts == 2


def test_a_worker_killed_before_the_mail_server_leaves_it_to_the_next(
    workspace: Workspace, billing: Team, ingest: Ingest, smtp: SmtpRecorder
) -> None:
    ingest(workspace, customers(0, 5))
    claim(TeamAlert, limit=10, lease=LEASE)  # a worker claims it, then dies
    assert send_pending() == 0  # its lease still runs
    TeamAlert.objects.update(lease_until=timezone.now() - timedelta(seconds=1))
    assert send_pending() == 1
    assert len(smtp.received) == 1


def test_a_worker_killed_while_handing_it_over_never_sends_it_again(
    workspace: Workspace, billing: Team, ingest: Ingest, smtp: SmtpRecorder
) -> None:
    ingest(workspace, customers(0, 5))
    _, ids = claim(TeamAlert, limit=10, lease=LEASE)
    # It died after stamping the hand-over: the mail server may have the message.
    TeamAlert.objects.filter(pk__in=ids).update(
        handed_at=timezone.now(), lease_until=timezone.now() - timedelta(seconds=1)
    )
    assert send_due() == 0
    assert send_pending() == 0
    alert = TeamAlert.objects.get()
    assert alert.status == TeamAlert.Status.UNCONFIRMED
    assert smtp.received == []


MONEY = [
    "You charged my card twice for the same order, I want my money back",
    "Double charge on my credit card this morning, refund it now",
    "I was billed two times for one subscription, where is my refund",
    "Your app took the payment twice from my bank account",
    "Charged twice again!! my money is gone, fix your billing",
    "Billing error: two identical charges on my statement",
]


def test_one_crowd_matched_by_several_problems_is_one_alert(
    workspace: Workspace, billing: Team, ingest: Ingest, smtp: SmtpRecorder
) -> None:
    # Five send the same text, five others their own words: the same text is one
    # problem, complaints about billing another, and they share five reports.
    same = [record(f"a-{i}", MONEY[0], author=f"a{i}", minutes=i) for i in range(5)]
    own = [record(f"b-{i}", MONEY[i], author=f"b{i}", minutes=i) for i in range(1, 6)]
    ingest(workspace, same + own)
    escalated = CaseEvent.objects.filter(workspace=workspace, type=CaseEvent.Type.ESCALATED)
    problems = {e.params["pileon"]["problem"] for e in escalated}
    assert problems == {"signal:billing:money_lost", "topic:billing"}
    alert = TeamAlert.objects.get()
    assert alert.params["cases"] == escalated.count() > 5
    assert alert.params["case_ids"] == sorted(e.case_id for e in escalated)
    assert send_pending() == 1
    assert len(smtp.received) == 1


def test_an_alert_that_cannot_be_built_is_dead_not_retried(
    workspace: Workspace,
    billing: Team,
    ingest: Ingest,
    smtp: SmtpRecorder,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ingest(workspace, customers(0, 5))

    def broken(alert: TeamAlert, cases: Any) -> str:
        raise KeyError("authors")

    monkeypatch.setattr(team_alerts, "body", broken)
    assert send_pending() == 0
    alert = TeamAlert.objects.get()
    assert (alert.status, alert.last_error) == ("dead", "KeyError: 'authors'")
    monkeypatch.undo()
    assert send_pending() == 0
    assert smtp.received == []


def test_a_stopping_worker_gives_its_claim_back(
    workspace: Workspace, billing: Team, ingest: Ingest, smtp: SmtpRecorder
) -> None:
    ingest(workspace, customers(0, 5))
    assert send_due(should_stop=lambda: True) == 0
    alert = TeamAlert.objects.get()
    assert (alert.status, alert.attempts, alert.claim_token) == ("pending", 0, "")
    assert send_due() == 1
    assert len(smtp.received) == 1
