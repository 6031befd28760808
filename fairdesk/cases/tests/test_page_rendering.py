"""The queue rows, the filter box and the case timeline rendered in Python
(``fairdesk/cases/presentation.py``): the same markup, every value escaped, and a long
timeline shown by its latest entries with the rest one link away."""

import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from fairdesk.cases import presentation, views
from fairdesk.cases.models import (
    Attachment,
    Case,
    CaseEvent,
    DeliveryStatus,
    Direction,
    Message,
)
from fairdesk.cases.queries import timeline
from fairdesk.cases.tests.factories import add_inbound, make_case
from fairdesk.replies.models import OutboxMessage
from fairdesk.routing.forms import ConditionsForm
from fairdesk.workspaces.models import Agent, Team, Workspace

HOSTILE = "<script>alert('x')</script> {0} {text} <b>bold</b>\r\nline two"
ESCAPED = "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; {0} {text} &lt;b&gt;bold&lt;/b&gt;"


def client_for(agent: Agent) -> Client:
    client = Client()
    client.force_login(agent.user)
    return client


def texts_in_order(content: str) -> list[str]:
    return re.findall(r'<p class="text">(note \d+)</p>', content)


def long_case(workspace: Workspace, messages: int) -> Case:
    """A case whose first message is "note 0" and then "note 1" … one minute apart."""
    start = timezone.now() - timedelta(days=1)
    case = make_case(workspace, text="note 0", at=start)
    identity = case.contact.identities.get()
    for n in range(1, messages):
        add_inbound(
            case,
            identity,
            text=f"note {n}",
            external_id=f"m-{n + 1}",
            at=start + timedelta(minutes=n),
        )
    return case


# --- the case timeline: latest entries first, the rest one link away ----------------------


def test_long_timeline_shows_the_latest_entries_and_links_to_the_rest(
    workspace: Workspace, agent_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(views, "TIMELINE_LATEST", 4)
    case = long_case(workspace, 7)
    url = reverse("case", args=[case.public_id])
    content = agent_client.get(url).content.decode()
    assert texts_in_order(content) == ["note 3", "note 4", "note 5", "note 6"]
    assert "Show 3 earlier entries" in content
    assert f'href="{url}?timeline=all#timeline-h"' in content
    assert f'hx-get="{url}?timeline=all"' in content
    assert 'hx-select="#case-work .timeline"' in content
    assert 'hx-push-url="true"' in content
    # The summary still counts every customer message, shown or not.
    assert "<dt>Customer messages</dt><dd>7</dd>" in content

    whole = agent_client.get(url, {"timeline": "all"}).content.decode()
    assert texts_in_order(whole) == [f"note {n}" for n in range(7)]  # platform-time order
    assert "earlier entr" not in whole
    # Without JavaScript a reply from here comes back to the whole timeline.
    reply_url = reverse("case-reply", args=[case.public_id])
    assert f'action="{reply_url}?timeline=all"' in whole
    assert f'action="{reply_url}"' in content


def test_one_earlier_entry_is_singular_and_short_timelines_have_no_link(
    workspace: Workspace, agent_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(views, "TIMELINE_LATEST", 4)
    url = reverse("case", args=[long_case(workspace, 5).public_id])
    assert "Show 1 earlier entry</a>" in agent_client.get(url).content.decode()
    short = make_case(workspace, external_id="short-1", handle="@short")
    content = agent_client.get(reverse("case", args=[short.public_id])).content.decode()
    assert "earlier entr" not in content
    assert 'class="earlier"' not in content


def test_timeline_pages_keep_the_query_count(
    workspace: Workspace, agent_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(views, "TIMELINE_LATEST", 4)
    few = make_case(workspace, external_id="few-1", handle="@few")
    many = long_case(workspace, 12)
    counts = []
    for case, params in ((few, {}), (many, {}), (many, {"timeline": "all"})):
        url = reverse("case", args=[case.public_id])
        agent_client.get(url, params)
        with CaptureQueriesContext(connection) as queries:
            assert agent_client.get(url, params).status_code == 200
        counts.append(len(queries.captured_queries))
    assert counts[0] == counts[1] == counts[2]


def test_whole_timeline_of_another_workspace_is_404(
    workspace: Workspace, outsider: Agent, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(views, "TIMELINE_LATEST", 2)
    case = long_case(workspace, 4)
    response = client_for(outsider).get(reverse("case", args=[case.public_id]), {"timeline": "all"})
    assert response.status_code == 404
    assert b"note 0" not in response.content


def test_earlier_entries_are_escaped_too(
    workspace: Workspace, agent_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(views, "TIMELINE_LATEST", 2)
    case = make_case(workspace, text=HOSTILE, at=timezone.now() - timedelta(hours=2))
    identity = case.contact.identities.get()
    for n in range(3):
        add_inbound(case, identity, text=f"note {n}", external_id=f"later-{n}")
    url = reverse("case", args=[case.public_id])
    shown = f'<p class="text">{ESCAPED}<br>line two</p>'
    assert shown not in agent_client.get(url).content.decode()
    whole = agent_client.get(url, {"timeline": "all"}).content.decode()
    assert shown in whole
    assert "<b>bold</b>" not in whole


def test_reply_from_the_whole_timeline_keeps_it_whole(
    workspace: Workspace, agent_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(views, "TIMELINE_LATEST", 3)
    case = long_case(workspace, 5)
    url = reverse("case", args=[case.public_id])
    reply_url = reverse("case-reply", args=[case.public_id])

    def reply(text: str, sent_from: str) -> str:
        key = str(uuid.uuid4())
        data = {"text": text, "visibility": "public", "idempotency_key": key, "action": "send"}
        headers = {"HX-Request": "true", "HX-Current-URL": f"http://testserver{sent_from}"}
        response = agent_client.post(reply_url, data, headers=headers)
        assert response.status_code == 200
        return response.content.decode()

    whole = reply("First.", sent_from=f"{url}?timeline=all")
    assert texts_in_order(whole) == [f"note {n}" for n in range(5)]
    assert "First. ^JC" in whole  # sent, and shown after the whole history
    paged = reply("Second.", sent_from=url)
    assert "note 0" not in paged
    assert "earlier entries" in paged
    assert "Second. ^JC" in paged

    data = {"text": "Again.", "visibility": "public", "idempotency_key": str(uuid.uuid4())}
    response = agent_client.post(f"{reply_url}?timeline=all", data)
    assert response.status_code == 302
    assert response["Location"] == f"{url}?timeline=all"
    response = agent_client.post(reply_url, {**data, "idempotency_key": str(uuid.uuid4())})
    assert response["Location"] == url


# --- every kind of timeline entry ---------------------------------------------------------


def outbound(
    case: Case, *, text: str, agent: Agent | None = None, brand: str = "", **extra: object
) -> Message:
    return Message.objects.create(
        workspace_id=case.workspace_id,
        case=case,
        channel="x",
        direction=Direction.OUTBOUND,
        visibility="public",
        agent=agent,
        brand_handle=brand,
        text=text,
        sent_at=datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC),
        delivery_status=DeliveryStatus.SENT,
        **extra,
    )


def test_timeline_entries_show_authors_delivery_and_failures(
    workspace: Workspace, agent: Agent
) -> None:
    case = make_case(workspace, handle="", name="<i>Dana</i>")
    Message.objects.filter(case=case).update(
        triage={"signals": ["<refund>"], "praise": True}, is_spam=True
    )
    outbound(case, text="by hand", agent=agent, brand="@Acme<Support>", external_id="o-1")
    outbound(case, text="old reply", brand="", external_id="o-2")
    for n, (status, attempts, error) in enumerate(
        [("dead", 5, "<b>gone</b>"), ("pending", 2, "timeout & retry"), ("sent", 1, "")]
    ):
        message = outbound(case, text=f"auto {n}", external_id=f"a-{n}")
        OutboxMessage.objects.create(
            workspace=workspace,
            case=case,
            message=message,
            idempotency_key=f"i-{n}",
            channel="x",
            status=status,
            attempts=attempts,
            last_error=error,
            available_at=timezone.now(),
        )
    html = str(presentation.timeline_html(timeline(case)))

    assert '<span class="author">&lt;i&gt;Dana&lt;/i&gt;</span>' in html  # no handle: the name
    assert '<span class="tag signal">&lt;refund&gt;</span>' in html
    assert '<span class="tag praise">praise</span>' in html
    assert '<span class="tag spam">spam</span>' in html
    assert '<span class="tag">sentiment: negative</span>' in html
    assert '<span class="author">Jo Chen as @Acme&lt;Support&gt;</span>' in html
    assert '<span class="author">brand (reply from imported history)</span>' in html
    assert html.count('<span class="author">Fairdesk (automatic)</span>') == 3
    assert '<time datetime="2026-03-04T05:06:07+00:00">2026-03-04 05:06 UTC</time>' in html
    assert '<span class="delivery delivery-sent">Sent</span>' in html
    assert (
        '<p class="error" role="status">Not delivered after 5 attempts: &lt;b&gt;gone&lt;/b&gt;</p>'
        in html
    )
    assert '<p class="warn">Retrying (2 failed): timeout &amp; retry</p>' in html
    assert html.count('<p class="warn">') == 1  # the sent one has no error to show
    assert html.count('<p class="tags">') == 1  # tags only on the customer's message


def test_timeline_attachments_and_event_details_are_escaped(workspace: Workspace) -> None:
    case = make_case(workspace, external_id="with-file")
    file = Attachment.objects.create(
        workspace=workspace,
        channel="x",
        message_external_id="with-file",
        position=0,
        filename='"><script>x()</script>.pdf',
        content_type="application/pdf",
        size=2048,
        sha256="0" * 64,
    )
    CaseEvent.objects.create(
        workspace=workspace,
        case=case,
        type=CaseEvent.Type.ROUTED,
        params={"team": "<b>Billing</b>", "reasons": [{"kind": "rule", "explanation": "a & b"}]},
        at=timezone.now(),
    )
    html = str(presentation.timeline_html(timeline(case)))
    url = reverse("attachment", args=[file.public_id])
    assert (
        f'<li><a href="{url}" download>&quot;&gt;&lt;script&gt;x()&lt;/script&gt;.pdf</a> '
        '<span class="muted">application/pdf, 2.0\xa0KB</span></li>'
    ) in html
    assert '<li class="event event-routed">' in html
    assert '<span class="title">Routed</span>' in html
    assert '<li><span class="muted">team:</span> &lt;b&gt;Billing&lt;/b&gt;</li>' in html
    assert '<li><span class="muted">reason:</span> rule: a &amp; b</li>' in html
    assert "<script>" not in html


def test_empty_timeline_says_so() -> None:
    assert '<li class="muted">Nothing yet.</li>' in presentation.timeline_html([])


# --- queue rows ------------------------------------------------------------------------------


def test_queue_rows_escape_and_fill_blanks(
    workspace: Workspace, agent: Agent, agent_client: Client
) -> None:
    case = make_case(workspace, text="x", subject="{0} <i>" + "long " * 30, name="", handle="@a<b>")
    Case.objects.filter(pk=case.pk).update(team=None, assignee=agent)
    content = agent_client.get(reverse("queue")).content.decode()
    row = re.search(r"<tr data-queue-row.*?</tr>", content, re.S)
    assert row is not None
    html = row.group(0)
    assert f'data-case-id="{case.public_id}" data-reference="{case.reference}"' in html
    assert f'aria-label="Select {case.reference}"' in html
    assert f'<a href="{reverse("case", args=[case.public_id])}" data-row-link>' in html
    assert "<td>{0} &lt;i&gt;long long" in html and "…</td>" in html  # 90 characters at most
    assert '<td>Unnamed contact <span class="muted">@a&lt;b&gt;</span></td>' in html
    assert "<td>—</td>\n      <td>Jo Chen</td>" in html  # no team; the assignee
    assert 'class="due">due in' in html


def test_search_rows_have_no_tick_boxes(workspace: Workspace, agent_client: Client) -> None:
    make_case(workspace, text="kettle leaks")
    content = agent_client.get(reverse("search"), {"q": "kettle"}).content.decode()
    assert "data-queue-row" in content
    assert 'name="case"' not in content


# --- the filter box ----------------------------------------------------------------------------


def test_filter_box_is_the_forms_markup_and_follows_the_teams(
    workspace: Workspace, other_workspace: Workspace
) -> None:
    presentation._filter_boxes.clear()
    teams = list(Team.objects.filter(workspace=workspace))
    form = ConditionsForm(initial={"status": ["new"]}, teams=teams)
    first = presentation.filter_box_html(form)
    assert first == ConditionsForm(initial={"status": ["new"]}, teams=teams).as_div()
    assert (
        presentation.filter_box_html(ConditionsForm(initial={"status": ["new"]}, teams=teams))
        is first
    )
    other = ConditionsForm(
        initial={"status": ["new"]}, teams=[*teams, Team(name="<Night> shift", slug="night")]
    )
    assert "&lt;Night&gt; shift" in presentation.filter_box_html(other)
    assert "Night" not in presentation.filter_box_html(ConditionsForm(initial={}, teams=teams))


def test_bound_filter_box_is_never_cached(agent_client: Client) -> None:
    presentation._filter_boxes.clear()
    response = agent_client.get(reverse("queue"), {"filter": "1", "breaching_within_minutes": "-5"})
    assert response.status_code == 422
    assert "greater than or equal to 0" in response.content.decode()
    assert presentation._filter_boxes == {}


def test_filter_box_of_one_workspace_never_shows_in_another(
    workspace: Workspace, other_workspace: Workspace, agent: Agent, outsider: Agent
) -> None:
    Team.objects.create(workspace=workspace, name="Acme Night Desk", slug="acme-night")
    Team.objects.create(workspace=other_workspace, name="Globex Day Desk", slug="globex-day")
    mine = client_for(agent).get(reverse("queue")).content.decode()
    theirs = client_for(outsider).get(reverse("queue")).content.decode()
    assert "Acme Night Desk" in mine and "Globex Day Desk" not in mine
    assert "Globex Day Desk" in theirs and "Acme Night Desk" not in theirs
