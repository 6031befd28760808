import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from conftest import PASSWORD
from fairdesk.cases.models import Case, CaseEvent, CaseStatus, Message
from fairdesk.cases.queries import QueueCursor, describe_due, queue_page
from fairdesk.cases.tests.factories import add_inbound, make_case
from fairdesk.replies.models import OutboxMessage
from fairdesk.workspaces.models import Agent, Workspace

HOSTILE = "<script>alert('x')</script> <b>bold</b>\r\nSet-Cookie: evil=1"


def client_for(agent: Agent) -> Client:
    client = Client()
    client.force_login(agent.user)
    return client


def reply_data(text: str = "We are on it.", key: str | None = None, **extra: str) -> dict[str, str]:
    return {
        "text": text,
        "visibility": "public",
        "idempotency_key": key or str(uuid.uuid4()),
        "action": "send",
        **extra,
    }


# --- access ---------------------------------------------------------------------------


def test_anonymous_is_sent_to_login(workspace: Workspace) -> None:
    case = make_case(workspace)
    client = Client()
    for url in (reverse("queue"), reverse("case", args=[case.public_id])):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"] == f"{reverse('login')}?next={url}"
    response = client.post(reverse("case-reply", args=[case.public_id]), reply_data())
    assert response.status_code == 302
    assert Message.objects.filter(direction="outbound").count() == 0


def test_user_without_agent_is_refused(db: None) -> None:
    user = get_user_model().objects.create_user(username="nobody", password=PASSWORD)
    client = Client()
    client.force_login(user)
    assert client.get(reverse("queue")).status_code == 403


def test_login_and_logout(agent: Agent) -> None:
    client = Client()
    page = client.get(reverse("login"))
    assert page.status_code == 200
    assert b'name="username"' in page.content
    response = client.post(reverse("login"), {"username": "jc", "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == reverse("queue")
    assert client.get(reverse("queue")).status_code == 200
    assert client.get(reverse("logout")).status_code == 405
    assert client.post(reverse("logout")).status_code == 302
    assert client.get(reverse("queue")).status_code == 302


def test_outsider_gets_404_and_cannot_reply(workspace: Workspace, outsider: Agent) -> None:
    case = make_case(workspace)
    client = client_for(outsider)
    assert client.get(reverse("case", args=[case.public_id])).status_code == 404
    response = client.post(reverse("case-reply", args=[case.public_id]), reply_data())
    assert response.status_code == 404
    assert Message.objects.filter(direction="outbound").count() == 0
    assert OutboxMessage.objects.count() == 0
    assert CaseEvent.objects.count() == 0
    assert case.reference.encode() not in client.get(reverse("queue")).content


def test_unknown_case_is_404(agent_client: Client) -> None:
    assert agent_client.get(reverse("case", args=[uuid.uuid4()])).status_code == 404


# --- queue ----------------------------------------------------------------------------


def test_queue_lists_open_cases_earliest_deadline_first(
    workspace: Workspace, agent_client: Client
) -> None:
    now = datetime.now(UTC)
    normal = make_case(
        workspace, external_id="n", subject="Normal one", at=now - timedelta(hours=1)
    )
    critical = make_case(
        workspace,
        external_id="c",
        severity="critical",
        subject="Critical one",
        followers=5,
        at=now - timedelta(minutes=10),
    )
    pending = make_case(workspace, external_id="p", subject="Waiting on customer")
    Case.objects.filter(pk=pending.pk).update(status=CaseStatus.PENDING_CUSTOMER)
    content = agent_client.get(reverse("queue")).content.decode()
    assert content.index(critical.reference) < content.index(normal.reference)
    assert pending.reference not in content
    assert "due in 50 min" in content  # critical: 60 min first response, asked 10 min ago
    assert "due in 23 h" in content  # normal: 24 h first response, asked 1 h ago
    assert "Front line" in content
    assert "@dana" in content


def test_queue_shows_overdue(workspace: Workspace, agent_client: Client) -> None:
    make_case(
        workspace, severity="critical", at=datetime.now(UTC) - timedelta(minutes=65, seconds=5)
    )
    assert "overdue by 5 min" in agent_client.get(reverse("queue")).content.decode()


def test_queue_escapes_hostile_text(workspace: Workspace, agent_client: Client) -> None:
    make_case(workspace, text=HOSTILE, name=HOSTILE, handle="@<img src=x onerror=alert(1)>")
    content = agent_client.get(reverse("queue")).content.decode()
    assert "<script>alert" not in content
    assert "<img src=x" not in content
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in content


def test_queue_query_count_is_constant(
    workspace: Workspace, other_workspace: Workspace, agent_client: Client
) -> None:
    for n in range(3):
        make_case(workspace, external_id=f"a{n}")
    make_case(other_workspace, external_id="other")
    with CaptureQueriesContext(connection) as few:
        assert agent_client.get(reverse("queue")).status_code == 200
    for n in range(27):
        make_case(workspace, external_id=f"b{n}")
    with CaptureQueriesContext(connection) as many:
        content = agent_client.get(reverse("queue")).content.decode()
    assert content.count('href="/cases/') == 30
    assert len(many.captured_queries) == len(few.captured_queries)
    assert not any("COUNT(" in q["sql"].upper() for q in many.captured_queries)


def test_queue_keyset_pages(workspace: Workspace, agent_client: Client) -> None:
    base = datetime.now(UTC) - timedelta(hours=2)
    cases = [
        make_case(workspace, external_id=f"k{n}", at=base + timedelta(minutes=n)) for n in range(5)
    ]
    first = queue_page(workspace=workspace, limit=2)
    assert [c.pk for c in first.cases] == [cases[0].pk, cases[1].pk]
    assert first.next_cursor is not None
    second = queue_page(workspace=workspace, after=first.next_cursor, limit=2)
    assert [c.pk for c in second.cases] == [cases[2].pk, cases[3].pk]
    cursor = QueueCursor.decode(second.next_cursor.encode() if second.next_cursor else "")
    third = queue_page(workspace=workspace, after=cursor, limit=2)
    assert [c.pk for c in third.cases] == [cases[4].pk]
    assert third.next_cursor is None
    assert QueueCursor.decode("garbage") is None
    assert agent_client.get(reverse("queue") + "?after=garbage~x").status_code == 200


def test_describe_due() -> None:
    now = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    assert describe_due(now + timedelta(hours=2), now) == "due in 2 h"
    assert describe_due(now - timedelta(minutes=5), now) == "overdue by 5 min"
    assert describe_due(now + timedelta(days=3, hours=1), now) == "due in 3 d"
    assert describe_due(None, now) == "no deadline"


# --- case page ------------------------------------------------------------------------


def test_case_page_shows_contact_timeline_and_triage(
    workspace: Workspace, agent_client: Client
) -> None:
    case = make_case(workspace, text="Heater broken", followers=98765)
    identity = case.contact.identities.get()
    email = case.contact.identities.create(
        workspace=workspace,
        channel="email",
        external_id="dana@example.com",
        handle="dana@example.com",
    )
    add_inbound(case, email, text="Following up by e-mail", external_id="e-1", visibility="private")
    CaseEvent.objects.create(
        workspace=workspace,
        case=case,
        type=CaseEvent.Type.ROUTED,
        params={"team": "Front line", "topic": "repair"},
        at=datetime.now(UTC),
    )
    content = agent_client.get(reverse("case", args=[case.public_id])).content.decode()
    assert identity.handle in content
    assert "dana@example.com" in content
    assert "98765 followers (not used for priority)" in content
    assert content.index("Heater broken") < content.index("Following up by e-mail")
    assert content.index("Following up by e-mail") < content.index("Routed")
    assert "topic:</span> repair" in content
    assert "service_down" in content
    assert "negative × 2" in content  # noqa: RUF001 - the page shows a multiplication sign
    assert 'name="idempotency_key"' in content


def test_case_page_escapes_hostile_text(workspace: Workspace, agent_client: Client) -> None:
    case = make_case(workspace, text=HOSTILE, name=HOSTILE, handle="@<svg onload=alert(1)>")
    CaseEvent.objects.create(
        workspace=workspace,
        case=case,
        type=CaseEvent.Type.OPENED,
        params={"note": "<script>bad()</script>"},
        at=datetime.now(UTC),
    )
    content = agent_client.get(reverse("case", args=[case.public_id])).content.decode()
    assert "<script>" not in content.replace(
        '<script src="/static/fairdesk/vendor/htmx.min.js" defer></script>', ""
    )
    assert "<svg onload" not in content
    assert "<b>bold</b>" not in content
    assert "&lt;b&gt;bold&lt;/b&gt;" in content
    assert "&lt;script&gt;bad()&lt;/script&gt;" in content
    assert "@&lt;svg onload=alert(1)&gt;" in content


# --- replying through the page --------------------------------------------------------


def test_reply_is_queued_signed_and_shown(
    workspace: Workspace, agent: Agent, agent_client: Client
) -> None:
    case = make_case(workspace)
    response = agent_client.post(reverse("case-reply", args=[case.public_id]), reply_data("On it!"))
    assert response.status_code == 302
    assert response["Location"] == reverse("case", args=[case.public_id])
    message = Message.objects.get(direction="outbound")
    assert message.text == "On it! ^JC"
    assert message.agent == agent
    assert OutboxMessage.objects.get().status == OutboxMessage.Status.PENDING
    page = agent_client.get(reverse("case", args=[case.public_id])).content.decode()
    assert "On it! ^JC" in page
    assert "Reply queued" in page


def test_htmx_reply_returns_the_work_partial(workspace: Workspace, agent_client: Client) -> None:
    case = make_case(workspace)
    response = agent_client.post(
        reverse("case-reply", args=[case.public_id]), reply_data("Via htmx"), HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    content = response.content.decode()
    assert content.lstrip().startswith('<div id="case-work"')
    assert "Via htmx ^JC" in content
    assert "<html" not in content


def test_double_submit_is_one_reply(workspace: Workspace, agent_client: Client) -> None:
    case = make_case(workspace)
    data = reply_data("Once only")
    for _ in range(2):
        assert (
            agent_client.post(reverse("case-reply", args=[case.public_id]), data).status_code == 302
        )
    assert OutboxMessage.objects.count() == 1
    assert Message.objects.filter(direction="outbound").count() == 1
    assert CaseEvent.objects.filter(type=CaseEvent.Type.REPLY_QUEUED).count() == 1


@pytest.mark.parametrize("text", ["", "   ", "x" * 10_001])
def test_bad_reply_text_is_refused(workspace: Workspace, agent_client: Client, text: str) -> None:
    case = make_case(workspace)
    response = agent_client.post(reverse("case-reply", args=[case.public_id]), reply_data(text))
    assert response.status_code == 422
    assert Message.objects.filter(direction="outbound").count() == 0
    assert OutboxMessage.objects.count() == 0
    assert CaseEvent.objects.count() == 0


def test_blocked_reply_shows_every_reason(workspace: Workspace, agent_client: Client) -> None:
    case = make_case(workspace)
    response = agent_client.post(
        reverse("case-reply", args=[case.public_id]),
        reply_data("you are frauds, this is over your pay scale"),
    )
    assert response.status_code == 422
    content = response.content.decode()
    assert "The tone guard stopped this reply." in content
    assert "<strong>insult</strong>: Insults the customer." in content
    assert "<q>you are frauds</q>" in content
    assert "<strong>condescension</strong>" in content
    assert "<q>over your pay scale</q>" in content
    assert "Suggestion:" in content
    assert "Ask a supervisor to approve" in content
    assert "Send anyway" not in content  # agents cannot override themselves
    assert Message.objects.filter(direction="outbound").count() == 0
    assert OutboxMessage.objects.count() == 0
    event = CaseEvent.objects.get()
    assert event.type == CaseEvent.Type.REPLY_BLOCKED
    assert [r["kind"] for r in event.params["reasons"]] == ["insult", "condescension"]


def test_override_flow_through_the_pages(
    workspace: Workspace, agent: Agent, supervisor: Agent, agent_client: Client
) -> None:
    case = make_case(workspace)
    rude = "you are frauds, this is over your pay scale"
    response = agent_client.post(
        reverse("case-reply", args=[case.public_id]),
        reply_data(rude, action="request_override"),
    )
    assert response.status_code == 302
    outbox = OutboxMessage.objects.get()
    assert outbox.status == OutboxMessage.Status.HELD
    approve_url = reverse("case-approve-held", args=[case.public_id, outbox.pk])
    # the agent sees no approve button and cannot approve
    assert (
        approve_url not in agent_client.get(reverse("case", args=[case.public_id])).content.decode()
    )
    assert agent_client.post(approve_url).status_code == 403
    outbox.refresh_from_db()
    assert outbox.status == OutboxMessage.Status.HELD
    assert outbox.approved_by is None
    # the supervisor sees it and approves
    boss = client_for(supervisor)
    page = boss.get(reverse("case", args=[case.public_id])).content.decode()
    assert "Replies held for approval" in page
    assert approve_url in page
    assert boss.post(approve_url).status_code == 302
    outbox.refresh_from_db()
    assert outbox.status == OutboxMessage.Status.PENDING
    assert outbox.approved_by == supervisor
    override = CaseEvent.objects.get(type=CaseEvent.Type.TONE_OVERRIDE)
    assert override.params["author"] == "Jo Chen"
    assert override.params["approved_by"] == "Sam Okafor"


def test_supervisor_send_anyway_is_explicit_and_logged(
    workspace: Workspace, supervisor: Agent
) -> None:
    case = make_case(workspace)
    boss = client_for(supervisor)
    rude = "you are frauds, this is over your pay scale"
    url = reverse("case-reply", args=[case.public_id])
    blocked = boss.post(url, reply_data(rude))
    assert blocked.status_code == 422
    assert "Send anyway — logged" in blocked.content.decode()
    assert OutboxMessage.objects.count() == 0
    assert boss.post(url, reply_data(rude, send_anyway="on")).status_code == 302
    outbox = OutboxMessage.objects.get()
    assert outbox.status == OutboxMessage.Status.PENDING
    assert outbox.author == supervisor
    assert outbox.approved_by == supervisor
    override = CaseEvent.objects.get(type=CaseEvent.Type.TONE_OVERRIDE)
    assert override.params["author"] == override.params["approved_by"] == "Sam Okafor"


def test_agent_cannot_send_anyway(workspace: Workspace, agent_client: Client) -> None:
    case = make_case(workspace)
    response = agent_client.post(
        reverse("case-reply", args=[case.public_id]),
        reply_data("you are frauds, this is over your pay scale", send_anyway="on"),
    )
    assert response.status_code == 403
    assert OutboxMessage.objects.count() == 0
    assert Message.objects.filter(direction="outbound").count() == 0


def test_case_page_query_count_is_constant(
    workspace: Workspace, agent: Agent, agent_client: Client
) -> None:
    from fairdesk.replies.services import submit_reply

    case = make_case(workspace)
    identity = case.contact.identities.get()
    url = reverse("case", args=[case.public_id])
    with CaptureQueriesContext(connection) as few:
        agent_client.get(url)
    for n in range(10):
        add_inbound(case, identity, text=f"again {n}", external_id=f"x-{n}")
        submit_reply(
            case=case, agent=agent, text=f"r{n}", visibility="public", idempotency_key=f"{n}"
        )
    with CaptureQueriesContext(connection) as many:
        content = agent_client.get(url).content.decode()
    assert content.count("r9 ^JC") == 1
    assert len(many.captured_queries) == len(few.captured_queries)


def test_case_page_reads_identities_and_reply_targets_once(
    workspace: Workspace, agent_client: Client
) -> None:
    """The contact panel, the reply box's private channels, its length counter and the
    portal panel share one read of the identities and one of the inbound messages."""
    from fairdesk.contacts.models import ContactIdentity

    case = make_case(workspace)
    for channel in ("facebook", "email", "mastodon"):
        ContactIdentity.objects.create(
            workspace=workspace,
            contact=case.contact,
            channel=channel,
            external_id=f"{channel}-dana",
            handle=f"dana-{channel}",
        )
    add_inbound(case, case.contact.identities.get(channel="x"), text="DM", external_id="x-dm")
    with CaptureQueriesContext(connection) as page:
        content = agent_client.get(reverse("case", args=[case.public_id])).content.decode()
    assert content.count("dana-mastodon") >= 2  # the contact panel and the reply box
    sqls = [q["sql"] for q in page.captured_queries]
    assert sum('FROM "contacts_contactidentity"' in s for s in sqls) == 1
    # the reply box's public and private defaults: one read of the inbound messages
    assert sum(s.startswith('SELECT "cases_message"."channel"') for s in sqls) == 1
    assert sum('FROM "connectors_channel"' in s for s in sqls) == 1


@pytest.mark.parametrize("latest", [0, 1, 3, 7, 50])
def test_the_latest_timeline_is_the_tail_of_the_whole_one(
    workspace: Workspace, agent: Agent, latest: int
) -> None:
    """Only the shown messages are loaded whole: the same entries, the same count of
    earlier ones and the same triage summary as the whole timeline gives."""
    from fairdesk.cases.queries import latest_timeline, timeline, triage_summary
    from fairdesk.replies.services import submit_reply

    case = make_case(workspace)
    identity = case.contact.identities.get()
    for n in range(4):
        add_inbound(case, identity, text=f"again {n}", external_id=f"t-{n}")
        submit_reply(
            case=case, agent=agent, text=f"r{n}", visibility="public", idempotency_key=f"{n}"
        )
    Message.objects.filter(case=case, external_id="t-1").update(
        sentiment="negative", triage={"signals": ["outage"], "praise": True}
    )
    # Odd triage from an old bundle or a hand edit: signals not a list, no object at all.
    Message.objects.filter(case=case, external_id="t-2").update(triage={"signals": "fire"})
    Message.objects.filter(case=case, external_id="t-3").update(triage=["praise"])
    whole = timeline(case)
    found = latest_timeline(case, latest=latest)
    tail = whole[len(whole) - latest :] if latest else []
    assert [(e.at, e.message and e.message.pk, e.event and e.event.pk) for e in found.entries] == [
        (e.at, e.message and e.message.pk, e.event and e.event.pk) for e in tail
    ]
    assert found.earlier == len(whole) - len(tail)
    assert found.triage == triage_summary(whole)
    assert "outage" in found.triage.signals and found.triage.praise == 1
    assert "fire" not in found.triage.signals and "f" not in found.triage.signals


def test_a_mastodon_case_reads_the_customers_handle_once(
    workspace: Workspace, agent_client: Client
) -> None:
    """The public post and the direct post both mention the customer: the reply box's
    counters share one read of their handle, and both carry the mention."""
    case = make_case(workspace, channel="mastodon", handle="@dana@example.social")
    with CaptureQueriesContext(connection) as page:
        content = agent_client.get(reverse("case", args=[case.public_id])).content.decode()
    sqls = [q["sql"] for q in page.captured_queries]
    assert sum('AS "identity__handle" FROM "cases_message"' in s for s in sqls) == 1
    assert content.count("@dana@example.social") >= 3  # contact panel, two counters
