"""The composer on the case page (picker, preview, counter data) and the settings pages:
two workspaces, two customers, hostile text everywhere it is shown."""

import json
import re
import uuid

import pytest
from django.test import Client
from django.urls import reverse

from fairdesk.cases.models import Case, CaseEvent, Message
from fairdesk.cases.tests.factories import make_case
from fairdesk.knowledge.models import Article, CannedReply
from fairdesk.knowledge.services import create_article, create_canned_reply
from fairdesk.replies.models import OutboxMessage
from fairdesk.replies.services import ToneBlocked, submit_reply
from fairdesk.workspaces.models import Agent, Workspace

HOSTILE = "<script>alert('x')</script> <b>bold</b>\r\nSet-Cookie: evil=1"
RUDE = "you are frauds, this is over your pay scale"


def client_for(agent: Agent) -> Client:
    client = Client()
    client.force_login(agent.user)
    return client


@pytest.fixture
def knowledge(supervisor: Agent, other_supervisor: Agent) -> dict[str, CannedReply | Article]:
    """Each workspace's canned reply and articles, with look-alike titles."""
    return {
        "acme_reply": create_canned_reply(
            agent=supervisor,
            title="Dryer refund",
            body="Hi {first_name}, your refund for {case_ref} is on its way.",
        ),
        "acme_article": create_article(
            agent=supervisor,
            title="Dryer safety",
            body="Unplug the dryer.\n" + HOSTILE,
            tags="dryer",
            published=True,
        ),
        "acme_draft": create_article(agent=supervisor, title="Dryer recall draft", body="Soon."),
        "globex_reply": create_canned_reply(
            agent=other_supervisor, title="Dryer refund Globex", body="Globex secret refund text"
        ),
        "globex_article": create_article(
            agent=other_supervisor,
            title="Dryer Globex internal",
            body="Globex secret article",
            published=True,
        ),
    }


def rows_written() -> tuple[int, int, int, int, int]:
    return (
        Message.objects.count(),
        OutboxMessage.objects.count(),
        CaseEvent.objects.count(),
        CannedReply.objects.count(),
        Article.objects.count(),
    )


def picker(client: Client, case: Case, query: str = "") -> str:
    response = client.get(reverse("composer-picker", args=[case.public_id]), {"q": query})
    assert response.status_code == 200
    return response.content.decode()


def inserts(html: str) -> list[str]:
    """The texts the picker's buttons would put into the reply box (attribute-decoded)."""
    import html as html_lib

    return [html_lib.unescape(v) for v in re.findall(r'data-composer-insert="([^"]*)"', html)]


# --- the picker -----------------------------------------------------------------------


def test_picker_fills_placeholders_and_escapes_hostile_names(
    workspace: Workspace, agent: Agent, knowledge: dict
) -> None:
    case = make_case(workspace, name=HOSTILE)
    html = picker(client_for(agent), case, "refund")
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html
    assert inserts(html) == [
        f"Hi <script>alert('x')</script>, your refund for {case.reference} is on its way."
    ]  # CR LF from the name never reaches the text; no article matches "refund"


def test_picker_shows_only_this_workspaces_replies_and_published_articles(
    workspace: Workspace, other_workspace: Workspace, agent: Agent, knowledge: dict
) -> None:
    acme_case = make_case(workspace)
    html = picker(client_for(agent), acme_case, "dryer")
    assert "Dryer refund" in html and "Dryer safety" in html
    assert "Globex" not in html
    assert "Dryer recall draft" not in html  # not published
    link = reverse("article-public", args=[knowledge["acme_article"].public_id])
    assert f"http://testserver{link}" in inserts(html)


def test_picker_and_preview_of_another_workspaces_case_are_404(
    workspace: Workspace, other_workspace: Workspace, outsider: Agent, knowledge: dict
) -> None:
    acme_case = make_case(workspace)
    client = client_for(outsider)
    assert client.get(reverse("composer-picker", args=[acme_case.public_id])).status_code == 404
    before = rows_written()
    response = client.post(
        reverse("composer-preview", args=[acme_case.public_id]),
        {"text": "hi", "visibility": "public"},
    )
    assert response.status_code == 404
    assert rows_written() == before


@pytest.mark.parametrize("query", ["%", "dryer_refund", "' OR 1=1 --", "\\", "dryer%' --"])
def test_picker_queries_are_just_text(
    workspace: Workspace, agent: Agent, knowledge: dict, query: str
) -> None:
    html = picker(client_for(agent), make_case(workspace), query)
    assert inserts(html) == []


def test_the_same_canned_reply_is_the_same_text_on_x_and_by_email(
    workspace: Workspace, agent: Agent, knowledge: dict
) -> None:
    client = client_for(agent)
    on_x = make_case(workspace, channel="x", external_id="tw-1", name="Dana Smith")
    by_mail = make_case(
        workspace, channel="email", external_id="<m1@e.test>", handle="d@e.test", name="Dana Smith"
    )
    texts = []
    for case in (on_x, by_mail):
        [text] = inserts(picker(client, case, "refund"))
        texts.append(text.replace(case.reference, "{ref}"))
        outbox = submit_reply(
            case=case, agent=agent, text=text, visibility="public", idempotency_key=case.reference
        )
        assert outbox.message.text == text + " ^JC"
    assert texts[0] == texts[1] == "Hi Dana, your refund for {ref} is on its way."
    channels = sorted(OutboxMessage.objects.values_list("channel", flat=True))
    assert channels == ["email", "x"]


def test_the_tone_guard_still_checks_a_canned_reply(
    workspace: Workspace, agent: Agent, knowledge: dict
) -> None:
    case = make_case(workspace)
    [text] = inserts(picker(client_for(agent), case, "refund"))
    with pytest.raises(ToneBlocked):
        submit_reply(
            case=case,
            agent=agent,
            text=f"{text} {RUDE}",
            visibility="public",
            idempotency_key="k",
        )
    assert not OutboxMessage.objects.exists()
    assert CaseEvent.objects.get().type == CaseEvent.Type.REPLY_BLOCKED


# --- the preview ----------------------------------------------------------------------


def preview(client: Client, case: Case, **data: str) -> tuple[int, str]:
    response = client.post(reverse("composer-preview", args=[case.public_id]), data)
    return response.status_code, response.content.decode()


def test_preview_shows_the_final_text_and_writes_nothing(
    workspace: Workspace, agent: Agent
) -> None:
    case = make_case(workspace, channel="x", external_id="tw-1")
    before = rows_written()
    status, html = preview(client_for(agent), case, text=f"Sorry! {HOSTILE}", visibility="public")
    assert status == 200
    assert "Sorry! &lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html
    assert "<script>" not in html
    assert "evil=1 ^JC</blockquote>" in html
    assert "Goes out on <strong>x</strong> (public) under @AcmeSupport" in html
    assert "The tone guard lets it through." in html
    assert rows_written() == before


def test_preview_refuses_what_sending_would_refuse(workspace: Workspace, agent: Agent) -> None:
    case = make_case(workspace, channel="x", external_id="tw-1")
    client = client_for(agent)
    before = rows_written()
    status, html = preview(client, case, text="\U0001f600" * 139, visibility="public")
    assert status == 200
    assert "282 of 280 characters as X counts them" in html
    assert "a post on X takes at most 280 (the signature included): shorten it by 2." in html
    status, html = preview(client, case, text=RUDE, visibility="public")
    assert "The tone guard would stop this reply." in html
    assert "<q>you are frauds</q>" in html
    assert rows_written() == before  # not even the REPLY_BLOCKED event sending writes


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"text": "  ", "visibility": "public"}, "Write a reply to preview it."),
        ({"text": "hi", "visibility": "internal"}, "Choose a public reply or a private message."),
        ({"text": "hi", "visibility": "private", "channel": "bluesky"}, "cannot be reached"),
        ({"text": "hi", "visibility": "public", "channel": "x"}, "cannot be reached"),
    ],
)
def test_preview_bad_input_is_a_clear_error(
    workspace: Workspace, agent: Agent, data: dict[str, str], error: str
) -> None:
    status, html = preview(client_for(agent), make_case(workspace), **data)
    assert status == 422
    assert error in html


def test_preview_needs_csrf(workspace: Workspace, agent: Agent) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(agent.user)
    url = reverse("composer-preview", args=[make_case(workspace).public_id])
    assert client.post(url, {"text": "hi", "visibility": "public"}).status_code == 403


# --- the case page --------------------------------------------------------------------


def test_case_page_has_the_composer_with_each_choices_limit(
    workspace: Workspace, agent: Agent
) -> None:
    case = make_case(workspace, channel="bluesky", external_id="at://p/1", handle="dana.bsky")
    case.contact.identities.create(workspace=workspace, channel="x", external_id="77")
    html = client_for(agent).get(reverse("case", args=[case.public_id])).content.decode()
    assert '<label for="composer-q">Canned replies and articles</label>' in html
    assert "cases/composer.js" in html
    found = re.search(r'<script id="composer-limits" type="application/json">(.*?)</script>', html)
    assert found is not None
    limits = json.loads(found.group(1))
    assert limits["signature"] == " ^JC"
    targets = limits["targets"]
    assert (targets["public"]["channel"], targets["public"]["max"]) == ("bluesky", 300)
    assert (targets["private"]["channel"], targets["private"]["max"]) == ("bluesky", 1000)
    assert (targets["private:x"]["max"], targets["private:x"]["client"]) == (10_000, "chars")


# --- settings pages -------------------------------------------------------------------


def test_agents_read_supervisors_edit(agent: Agent, supervisor: Agent, knowledge: dict) -> None:
    reader = client_for(agent)
    listing = reader.get(reverse("canned-replies")).content.decode()
    assert "Dryer refund" in listing and "Globex" not in listing
    assert reverse("canned-reply-new") not in listing
    articles = reader.get(reverse("articles")).content.decode()
    assert "Dryer safety" in articles and "Dryer recall draft" in articles
    assert "Globex" not in articles and "&lt;script&gt;" in articles and "<script>" not in articles
    edit = reverse("canned-reply-edit", args=[knowledge["acme_reply"].public_id])
    assert reader.get(edit).status_code == 403
    assert reader.post(edit, {"title": "Mine", "body": "x"}).status_code == 403
    assert reader.post(reverse("article-new"), {"title": "A", "body": "B"}).status_code == 403
    knowledge["acme_reply"].refresh_from_db()
    assert knowledge["acme_reply"].title == "Dryer refund"
    assert Article.objects.count() == 3

    editor = client_for(supervisor)
    response = editor.post(edit, {"title": "Dryer refund v2", "body": "Hi {first_name}."})
    assert response.status_code == 302
    knowledge["acme_reply"].refresh_from_db()
    assert (knowledge["acme_reply"].title, knowledge["acme_reply"].updated_by) == (
        "Dryer refund v2",
        supervisor,
    )


def test_extra_fields_cannot_move_a_row_to_another_workspace(
    supervisor: Agent, other_workspace: Workspace
) -> None:
    response = client_for(supervisor).post(
        reverse("canned-reply-new"),
        {"title": "New", "body": "Hello", "workspace": other_workspace.pk, "workspace_id": "2"},
    )
    assert response.status_code == 302
    assert CannedReply.objects.get().workspace_id == supervisor.workspace_id


def test_another_workspaces_rows_are_404_by_direct_id(
    other_supervisor: Agent, knowledge: dict
) -> None:
    client = client_for(other_supervisor)
    for name, route in (("acme_reply", "canned-reply-edit"), ("acme_article", "article-edit")):
        url = reverse(route, args=[knowledge[name].public_id])
        assert client.get(url).status_code == 404
        assert client.post(url, {"title": "Taken", "body": "Mine"}).status_code == 404
    assert not CannedReply.objects.filter(title="Taken").exists()
    assert not Article.objects.filter(title="Taken").exists()


def test_an_unknown_placeholder_is_shown_and_nothing_saved(supervisor: Agent) -> None:
    response = client_for(supervisor).post(
        reverse("canned-reply-new"), {"title": "Hi", "body": "Hi {first_name} {order_no}"}
    )
    assert response.status_code == 422
    assert "Unknown placeholder {order_no}." in response.content.decode()
    assert not CannedReply.objects.exists()


def test_a_supervisor_creates_an_article(supervisor: Agent) -> None:
    response = client_for(supervisor).post(
        reverse("article-new"),
        {"title": "Dryer", "body": "Unplug it.", "tags": "dryer, Safety", "published": "on"},
    )
    assert response.status_code == 302
    article = Article.objects.get()
    assert (article.tags, article.published, article.workspace_id) == (
        "dryer, safety",
        True,
        supervisor.workspace_id,
    )


# --- the public article page ----------------------------------------------------------


def test_a_published_article_is_public_a_draft_is_not(knowledge: dict) -> None:
    client = Client()
    published = client.get(reverse("article-public", args=[knowledge["acme_article"].public_id]))
    assert published.status_code == 200
    html = published.content.decode()
    assert "Unplug the dryer." in html
    assert "&lt;script&gt;" in html and "<script>alert" not in html
    draft = knowledge["acme_draft"].public_id
    assert client.get(reverse("article-public", args=[draft])).status_code == 404
    assert client.get(reverse("article-public", args=[uuid.uuid4()])).status_code == 404
