"""The weekly root-cause digest: one e-mail per owner and week, figures that match the raw
rows, hostile names escaped and never turned into headers, over Django's locmem backend and
a real SMTP server (aiosmtpd, as the e-mail connector tests use)."""

import email
import email.policy
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from io import StringIO
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from django.core import mail
from django.core.mail import EmailMultiAlternatives
from django.core.management import CommandError, call_command

from fairdesk.cases.models import Case
from fairdesk.connectors.email.tests.servers import SmtpRecorder, start_smtp
from fairdesk.insights.digest import BadWeek, last_full_week, parse_week, send_digests
from fairdesk.insights.models import DigestSent, RootCause
from fairdesk.insights.services import create_root_cause
from fairdesk.insights.tests.rows import case, identity
from fairdesk.workspaces.models import Agent, Workspace

SCRIPT = "<script>alert(1)</script>"
WEEK = parse_week("2026-W45")  # Monday 2 November 2026
HOSTILE = f"Lost parcels\r\nBcc: victim@evil.test {SCRIPT}"


def tagged(author: Any, at: datetime, slug: str) -> Case:
    new = case(author, at=at)
    Case.objects.filter(pk=new.pk).update(root_cause=slug, topic="delivery")
    return new


@pytest.fixture
def owners(agent: Agent, supervisor: Agent, outsider: Agent) -> dict[str, Agent]:
    for person, address in ((agent, "jo@acme.test"), (outsider, "ozzy@globex.test")):
        person.user.email = address
        person.user.save(update_fields=["email"])
    return {"jo": agent, "sam": supervisor, "ozzy": outsider}


@pytest.fixture
def digest_rows(
    workspace: Workspace, other_workspace: Workspace, owners: dict[str, Agent]
) -> dict[str, RootCause]:
    """Acme: Jo owns two causes, Sam (no e-mail address) one. Globex: Ozzy owns one."""
    Workspace.objects.filter(pk=workspace.pk).update(name="Acme\r\nX-Evil: 1")
    workspace.refresh_from_db()
    causes = {
        "parcels": create_root_cause(
            workspace=workspace, name=HOSTILE, slug="parcels", owner=owners["jo"]
        ),
        "bills": create_root_cause(workspace=workspace, name="Bills", owner=owners["jo"]),
        "app": create_root_cause(workspace=workspace, name="App", owner=owners["sam"]),
        "globex": create_root_cause(
            workspace=other_workspace, name="Globex cause", slug="parcels", owner=owners["ozzy"]
        ),
    }
    ann, bob = identity(workspace, "@ann"), identity(workspace, "@bob")
    monday = WEEK.start
    tagged(ann, monday - timedelta(weeks=2), "parcels")
    tagged(ann, monday - timedelta(weeks=1), "parcels")
    tagged(ann, monday + timedelta(days=1), "parcels")  # repeat
    tagged(bob, monday + timedelta(days=2), "parcels")
    tagged(bob, monday + timedelta(days=3), "parcels")  # repeat
    tagged(bob, monday + timedelta(weeks=1), "parcels")  # next week: not counted
    tagged(identity(other_workspace, "@g"), monday, "parcels")
    return causes


def test_weeks_parse_and_default_to_the_last_full_week() -> None:
    assert (WEEK.start, WEEK.end) == (
        datetime(2026, 11, 2, tzinfo=UTC),
        datetime(2026, 11, 9, tzinfo=UTC),
    )
    assert last_full_week(datetime(2026, 11, 9, 6, tzinfo=UTC)) == WEEK
    assert parse_week("2020-W53").label == "2020-W53"
    for bad in ("2026-W54", "2026-45", "2026-W45\r\nX: y", ""):
        with pytest.raises(BadWeek):
            parse_week(bad)


def test_each_owner_gets_their_causes_once(
    digest_rows: dict[str, RootCause], owners: dict[str, Agent], settings: Any
) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    run = send_digests(week=WEEK)
    assert run.sent == ["Jo Chen <jo@acme.test>", "Ozzy Outsider <ozzy@globex.test>"]
    assert run.no_email == ["Sam Okafor"]
    jo, ozzy = mail.outbox
    assert jo.to == ["jo@acme.test"] and ozzy.to == ["ozzy@globex.test"]
    assert jo.subject == "Root causes, week 2026-W45: Acme X-Evil: 1"
    text = jo.body
    # Recomputed by hand from the rows: 3 cases this week, 2 of them repeats; the four
    # weeks up to it had 0, 1, 1, 3 cases.
    assert (
        "* Lost parcels Bcc: victim@evil.test " + SCRIPT + ": 3 cases (+2 on the week before)"
        in text
    )
    assert "last 4 weeks: 0, 1, 1, 3; repeat contacts: 2 (66.7%)" in text
    assert (
        "* Bills: 0 cases (0 on the week before); last 4 weeks: 0, 0, 0, 0; "
        "repeat contacts: no data" in text
    )
    assert "Globex" not in text
    assert isinstance(jo, EmailMultiAlternatives)
    html = str(jo.alternatives[0][0])
    assert SCRIPT not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "Globex cause" in ozzy.body and "Lost parcels" not in ozzy.body
    assert DigestSent.objects.filter(week="2026-W45", sent_at__isnull=False).count() == 2
    again = send_digests(week=WEEK)
    assert again.sent == [] and len(again.already_sent) == 2
    assert len(mail.outbox) == 2


def test_a_dry_run_sends_and_records_nothing(digest_rows: Any, settings: Any) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    out = StringIO()
    call_command("insights", "digest", "--dry-run", "--week", "2026-W45", stdout=out)
    summary = json.loads(out.getvalue())
    assert summary["planned"] == ["Jo Chen <jo@acme.test>", "Ozzy Outsider <ozzy@globex.test>"]
    assert summary["sent"] == [] and mail.outbox == [] and not DigestSent.objects.exists()
    with pytest.raises(CommandError, match="not an ISO week"):
        call_command("insights", "digest", "--week", "45", stdout=StringIO())


def test_a_claimed_but_unconfirmed_digest_is_not_sent_again(
    digest_rows: Any, owners: dict[str, Agent], workspace: Workspace, settings: Any
) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    DigestSent.objects.create(
        workspace=workspace, owner=owners["jo"], week="2026-W45", recipient="jo@acme.test", causes=2
    )
    run = send_digests(week=WEEK)
    assert run.unconfirmed == ["Jo Chen <jo@acme.test>"]
    assert [m.to for m in mail.outbox] == [["ozzy@globex.test"]]


@pytest.fixture
def smtp() -> Iterator[tuple[Controller, SmtpRecorder]]:
    recorder = SmtpRecorder()
    controller = start_smtp(recorder)
    yield controller, recorder
    controller.stop()


def test_digests_go_through_a_real_smtp_server(
    digest_rows: Any, smtp: tuple[Controller, SmtpRecorder], settings: Any
) -> None:
    controller, recorder = smtp
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = controller.hostname, controller.port
    recorder.replies.append("451 4.3.0 Try again later")  # the first DATA is refused
    with pytest.raises(CommandError, match="1 digest"):
        call_command("insights", "digest", "--week", "2026-W45", stdout=StringIO())
    assert len(recorder.received) == 1  # Ozzy's went through; Jo's claim was dropped
    assert DigestSent.objects.filter(sent_at__isnull=False).count() == 1
    call_command("insights", "digest", "--week", "2026-W45", stdout=StringIO())
    call_command("insights", "digest", "--week", "2026-W45", stdout=StringIO())
    assert len(recorder.received) == 2
    jo = next(r for r in recorder.received if r.rcpt_tos == ["jo@acme.test"])
    parsed = email.message_from_bytes(jo.content, policy=email.policy.default)
    assert parsed["Subject"] == "Root causes, week 2026-W45: Acme X-Evil: 1"
    assert parsed["X-Evil"] is None and parsed["Bcc"] is None
    assert "victim@evil.test" not in str(parsed["To"]) + str(parsed.get("Cc", ""))
    body = parsed.get_body(preferencelist=("plain",))
    assert body is not None and "repeat contacts: 2 (66.7%)" in body.get_content()
