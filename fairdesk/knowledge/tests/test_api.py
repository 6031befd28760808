"""Canned replies and articles over the API: agents read, supervisors and admins write,
two workspaces and two customers, bad input refused with nothing written, hostile text
returned as data and escaped wherever a page shows it."""

import html
import re
import uuid
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from conftest import PASSWORD
from fairdesk.cases.tests.factories import make_case
from fairdesk.knowledge.models import Article, CannedReply
from fairdesk.knowledge.services import create_article, create_canned_reply
from fairdesk.workspaces.models import Agent, Workspace
from fairdesk.workspaces.services import create_agent, issue_token

HOSTILE = "<script>alert('x')</script> <b>bold</b>\r\nSet-Cookie: evil=1 =HYPERLINK(\"http://e\")"
RUDE = "you are frauds, this is over your pay scale"
CANNED = "/api/v1/canned-replies"
ARTICLES = "/api/v1/articles"


def bearer(agent: Agent) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(agent=agent, name='t')}"}


def send(method: str, url: str, who: Agent, data: Any = None) -> Any:
    """One API call as ``who`` with a bearer token (JSON body when given)."""
    call = getattr(Client(), method)
    if data is None:
        return call(url, headers=bearer(who))
    return call(url, data=data, content_type="application/json", headers=bearer(who))


def snapshot() -> list[tuple[Any, ...]]:
    """Every canned reply and article as stored: a refused call must leave it equal."""
    canned = CannedReply.objects.order_by("id").values_list("id", "title", "body", "updated_at")
    articles = Article.objects.order_by("id").values_list(
        "id", "title", "body", "tags", "published", "updated_at"
    )
    return [*canned, *articles]


@pytest.fixture
def admin(workspace: Workspace) -> Agent:
    return create_agent(
        workspace=workspace,
        username="ada",
        password=PASSWORD,
        display_name="Ada Admin",
        initials="AA",
        role=Agent.Role.ADMIN,
    )


@pytest.fixture
def texts(supervisor: Agent, other_supervisor: Agent) -> dict[str, CannedReply | Article]:
    """Each workspace's canned reply and articles, with look-alike titles."""
    return {
        "acme_reply": create_canned_reply(
            agent=supervisor,
            title="Dryer refund",
            body="Hi {first_name}, your refund for {case_ref} is on its way. {agent_name}",
        ),
        "acme_article": create_article(
            agent=supervisor,
            title="Dryer safety",
            body="Unplug the dryer.",
            tags="dryer, safety",
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


# --- reading ----------------------------------------------------------------------------


def test_an_agent_lists_and_reads_only_their_workspaces_texts(
    agent: Agent, outsider: Agent, texts: dict[str, Any]
) -> None:
    listed = send("get", CANNED, agent).json()
    assert [item["title"] for item in listed["items"]] == ["Dryer refund"]
    assert listed["next_offset"] is None
    item = listed["items"][0]
    assert item["body"] == "Hi {first_name}, your refund for {case_ref} is on its way. {agent_name}"
    assert item["rendered"] is None
    assert (item["created_by"], item["updated_by"]) == ("Sam Okafor ^SO", "Sam Okafor ^SO")
    articles = send("get", ARTICLES, agent).json()["items"]
    assert [a["title"] for a in articles] == ["Dryer recall draft", "Dryer safety"]
    theirs = send("get", ARTICLES, outsider).json()["items"]
    assert [a["title"] for a in theirs] == ["Dryer Globex internal"]
    reply_id = texts["acme_reply"].public_id
    assert send("get", f"{CANNED}/{reply_id}", agent).json()["title"] == "Dryer refund"
    assert send("get", f"{CANNED}/{reply_id}", outsider).status_code == 404
    article_id = texts["acme_article"].public_id
    assert send("get", f"{ARTICLES}/{article_id}", outsider).status_code == 404
    assert send("get", f"{ARTICLES}/{uuid.uuid4()}", agent).status_code == 404


def test_lists_are_paged_and_searched(supervisor: Agent, agent: Agent) -> None:
    for n in range(5):
        create_canned_reply(agent=supervisor, title=f"Refund step {n}", body=f"Step {n} done.")
    create_canned_reply(agent=supervisor, title="Shipping delay", body="It ships Monday.")
    first = send("get", f"{CANNED}?limit=2", agent).json()
    assert [i["title"] for i in first["items"]] == ["Refund step 0", "Refund step 1"]
    assert first["next_offset"] == 2
    last = send("get", f"{CANNED}?limit=2&offset=4", agent).json()
    assert [i["title"] for i in last["items"]] == ["Refund step 4", "Shipping delay"]
    assert last["next_offset"] is None
    found = send("get", f"{CANNED}?q=REFUND+3", agent).json()["items"]
    assert [i["title"] for i in found] == ["Refund step 3"]
    assert send("get", f"{CANNED}?q=monday", agent).json()["items"][0]["title"] == (
        "Shipping delay"
    )
    for query in ["%", "refund_step", "' OR 1=1 --", "\\"]:
        assert send("get", f"{CANNED}?q={query}", agent).json()["items"] == []
    assert send("get", f"{CANNED}?limit=0", agent).status_code == 422
    assert send("get", f"{CANNED}?offset=-1", agent).status_code == 422


def test_articles_filter_by_published_and_link_only_published_ones(
    agent: Agent, texts: dict[str, Any]
) -> None:
    published = send("get", f"{ARTICLES}?published=true", agent).json()["items"]
    assert [a["title"] for a in published] == ["Dryer safety"]
    link = reverse("article-public", args=[texts["acme_article"].public_id])
    assert published[0]["public_url"] == f"http://testserver{link}"
    assert published[0]["tags"] == ["dryer", "safety"]
    drafts = send("get", f"{ARTICLES}?published=false", agent).json()["items"]
    assert [(a["title"], a["public_url"]) for a in drafts] == [("Dryer recall draft", None)]
    assert [a["title"] for a in send("get", f"{ARTICLES}?q=safety", agent).json()["items"]] == [
        "Dryer safety"
    ]


def test_a_list_costs_the_same_queries_however_many_rows(
    supervisor: Agent, admin: Agent, agent: Agent
) -> None:
    def queries_for(url: str) -> int:
        client, headers = Client(), bearer(agent)
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url, headers=headers).status_code == 200
        return len(captured)

    create_canned_reply(agent=supervisor, title="One", body="One.")
    create_article(agent=supervisor, title="One", body="One.")
    few = (queries_for(CANNED), queries_for(ARTICLES))
    for n in range(6):
        author = supervisor if n % 2 else admin
        create_canned_reply(agent=author, title=f"More {n}", body="More.")
        create_article(agent=author, title=f"More {n}", body="More.", published=True)
    assert (queries_for(CANNED), queries_for(ARTICLES)) == few


# --- rendering for a case ------------------------------------------------------------------


def picker_inserts(agent: Agent, case: Any, query: str) -> list[str]:
    """The texts the composer's picker would put into the reply box for ``case``."""
    client = Client()
    client.force_login(agent.user)
    page = client.get(reverse("composer-picker", args=[case.public_id]), {"q": query})
    found = re.findall(r'data-composer-insert="([^"]*)"', page.content.decode())
    return [html.unescape(value) for value in found]


def test_with_a_case_the_api_renders_what_the_composer_would_on_every_channel(
    workspace: Workspace, agent: Agent, supervisor: Agent
) -> None:
    canned = create_canned_reply(
        agent=supervisor,
        title="Greeting",
        body="Hi {first_name}, {agent_name} ^{agent_initials} for {brand_handle} here.",
    )
    on_x = make_case(workspace, channel="x", external_id="tw-1", name="Dana Smith")
    by_mail = make_case(
        workspace, channel="email", external_id="<m1@e.test>", handle="d@e.test", name="Dana Smith"
    )
    rendered = []
    for case in (on_x, by_mail):
        url = f"{CANNED}/{canned.public_id}?case={case.public_id}"
        body = send("get", url, agent).json()
        assert body["body"] == canned.body  # placeholders kept
        assert [body["rendered"]] == picker_inserts(agent, case, "greeting")
        listed = send("get", f"{CANNED}?case={case.public_id}", agent).json()["items"]
        assert [item["rendered"] for item in listed] == [body["rendered"]]
        rendered.append(body["rendered"])
    assert rendered == ["Hi Dana, Jo Chen ^JC for @AcmeSupport here."] * 2


def test_rendering_for_another_workspaces_case_is_404(
    workspace: Workspace, outsider: Agent, other_supervisor: Agent, texts: dict[str, Any]
) -> None:
    acme_case = make_case(workspace)
    theirs = texts["globex_reply"].public_id
    assert send("get", f"{CANNED}/{theirs}?case={acme_case.public_id}", outsider).status_code == (
        404
    )
    assert send("get", f"{CANNED}?case={acme_case.public_id}", outsider).status_code == 404
    assert send("get", f"{CANNED}?case=not-a-uuid", outsider).status_code == 422


def test_a_hostile_customer_name_is_rendered_as_data_never_as_markup(
    workspace: Workspace, agent: Agent, texts: dict[str, Any]
) -> None:
    case = make_case(workspace, name=HOSTILE)
    url = f"{CANNED}/{texts['acme_reply'].public_id}?case={case.public_id}"
    response = send("get", url, agent)
    assert response["Content-Type"] == "application/json; charset=utf-8"
    assert response.json()["rendered"] == (
        f"Hi <script>alert('x')</script>, your refund for {case.reference} is on its way. Jo Chen"
    )  # CR LF from the name never reaches the text


# --- writing --------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["supervisor", "admin"])
def test_editors_create_change_and_delete_canned_replies(
    request: pytest.FixtureRequest, role: str, agent: Agent
) -> None:
    editor: Agent = request.getfixturevalue(role)
    created = send("post", CANNED, editor, {"title": "Late parcel", "body": "Hi {first_name}."})
    assert created.status_code == 201
    reply_id = created.json()["id"]
    stored = CannedReply.objects.get(public_id=reply_id)
    assert (stored.workspace_id, stored.created_by, stored.body) == (
        editor.workspace_id,
        editor,
        "Hi {first_name}.",
    )
    changed = send("patch", f"{CANNED}/{reply_id}", editor, {"body": "Hello {first_name}."})
    assert changed.status_code == 200
    assert (changed.json()["title"], changed.json()["body"]) == (
        "Late parcel",
        "Hello {first_name}.",
    )
    assert send("get", f"{CANNED}/{reply_id}", agent).json()["body"] == "Hello {first_name}."
    assert send("delete", f"{CANNED}/{reply_id}", editor).status_code == 204
    assert not CannedReply.objects.exists()
    assert send("delete", f"{CANNED}/{reply_id}", editor).status_code == 404


def test_editors_create_change_and_delete_articles(supervisor: Agent) -> None:
    data = {"title": "Dryer lint", "body": "Clean the filter.", "tags": ["Dryer", " dryer", "Lint"]}
    created = send("post", ARTICLES, supervisor, data)
    assert created.status_code == 201
    body = created.json()
    assert (body["tags"], body["published"], body["public_url"]) == (["dryer", "lint"], False, None)
    public = reverse("article-public", args=[body["id"]])
    assert Client().get(public).status_code == 404  # a draft
    url = f"{ARTICLES}/{body['id']}"
    published = send("patch", url, supervisor, {"published": True}).json()
    assert (published["title"], published["tags"]) == ("Dryer lint", ["dryer", "lint"])
    assert published["public_url"] == f"http://testserver{public}"
    assert Client().get(public).status_code == 200
    assert send("patch", url, supervisor, {"tags": []}).json()["tags"] == []
    assert send("delete", url, supervisor).status_code == 204
    assert Client().get(public).status_code == 404
    assert not Article.objects.exists()


def test_agents_read_but_may_not_write(agent: Agent, texts: dict[str, Any]) -> None:
    before = snapshot()
    reply = f"{CANNED}/{texts['acme_reply'].public_id}"
    article = f"{ARTICLES}/{texts['acme_article'].public_id}"
    calls = [
        ("post", CANNED, {"title": "Mine", "body": "Mine."}),
        ("patch", reply, {"title": "Changed"}),
        ("delete", reply, None),
        ("post", ARTICLES, {"title": "Mine", "body": "Mine."}),
        ("patch", article, {"published": False}),
        ("delete", article, None),
    ]
    for method, url, data in calls:
        response = send(method, url, agent, data)
        assert response.status_code == 403, (method, url)
        assert response.json()["detail"] == (
            "Only supervisors and admins edit canned replies and articles."
        )
    assert snapshot() == before


def test_another_workspaces_supervisor_gets_404_and_changes_nothing(
    other_supervisor: Agent, texts: dict[str, Any]
) -> None:
    before = snapshot()
    reply = f"{CANNED}/{texts['acme_reply'].public_id}"
    article = f"{ARTICLES}/{texts['acme_article'].public_id}"
    for method, url, data in [
        ("get", reply, None),
        ("patch", reply, {"body": "Globex was here."}),
        ("delete", reply, None),
        ("get", article, None),
        ("patch", article, {"published": False}),
        ("delete", article, None),
    ]:
        assert send(method, url, other_supervisor, data).status_code == 404, (method, url)
    assert snapshot() == before


@pytest.mark.parametrize(
    ("url", "data"),
    [
        (CANNED, {"title": "T", "body": "B", "workspace": 2}),
        (CANNED, {"title": "T", "body": "B", "created_by": "sam"}),
        (CANNED, {"title": "T"}),
        (CANNED, {"title": "", "body": "B"}),
        (CANNED, {"title": "T", "body": "x" * 10_001}),
        (CANNED, {"title": "x" * 121, "body": "B"}),
        (CANNED, {"title": "   ", "body": "B"}),
        (CANNED, {"title": "T", "body": "Hi {customer_password}"}),
        (CANNED, {"title": "T", "body": f"Sorry, {RUDE}."}),
        (CANNED, {"title": "T", "body": "bell \x07 ringing"}),
        (CANNED, {"title": "T", "body": "half a character \ud800"}),
        (CANNED, {"title": "Dryer REFUND", "body": "Taken title, any letter case."}),
        (ARTICLES, {"title": "T", "body": "B", "public_id": str(uuid.uuid4())}),
        (ARTICLES, {"title": "T", "body": "B", "tags": ["a,b"]}),
        (ARTICLES, {"title": "T", "body": "B", "tags": ["t"] * 21}),
        (ARTICLES, {"title": "T", "body": "B", "tags": "dryer"}),
        (ARTICLES, {"title": "T", "body": "B", "published": "maybe"}),
        (ARTICLES, {"title": "Dryer Safety", "body": "Taken title."}),
        (ARTICLES, {"title": "T\ud800", "body": "B"}),
    ],
)
def test_bad_bodies_are_422_and_write_nothing(
    supervisor: Agent, texts: dict[str, Any], url: str, data: dict[str, Any]
) -> None:
    before = snapshot()
    response = send("post", url, supervisor, data)
    assert response.status_code == 422, response.content
    assert snapshot() == before


def test_service_refusals_say_why(supervisor: Agent, texts: dict[str, Any]) -> None:
    taken = send("post", CANNED, supervisor, {"title": "dryer refund", "body": "Again."})
    assert taken.json()["detail"] == "A canned reply with this title already exists."
    unknown = send("post", CANNED, supervisor, {"title": "T", "body": "Hi {name}"})
    assert unknown.json()["detail"].startswith("Unknown placeholder {name}. Use one of")
    rude = send("post", CANNED, supervisor, {"title": "T", "body": f"Sorry, {RUDE}."})
    assert rude.json()["detail"].startswith("The tone guard would stop this reply: ")


def test_bad_patches_are_422_and_change_nothing(supervisor: Agent, texts: dict[str, Any]) -> None:
    before = snapshot()
    reply = f"{CANNED}/{texts['acme_reply'].public_id}"
    article = f"{ARTICLES}/{texts['acme_article'].public_id}"
    for url, data in [
        (reply, {}),
        (reply, {"title": None, "body": None}),
        (reply, {"workspace": 2}),
        (reply, {"body": RUDE}),
        (reply, {"body": "Hi {0.__class__}"}),
        (article, {}),
        (article, {"title": "dryer recall DRAFT"}),
        (article, {"body": "bell \x07"}),
        (article, {"updated_by": "sam"}),
    ]:
        response = send("patch", url, supervisor, data)
        assert response.status_code == 422, (url, data, response.content)
    assert snapshot() == before


def test_titles_are_unique_per_workspace_only(supervisor: Agent, texts: dict[str, Any]) -> None:
    reply = f"{CANNED}/{texts['acme_reply'].public_id}"
    response = send("patch", reply, supervisor, {"title": "Dryer refund Globex"})
    assert response.status_code == 200
    assert CannedReply.objects.filter(title="Dryer refund Globex").count() == 2


def test_hostile_text_is_stored_verbatim_and_escaped_on_every_page(
    supervisor: Agent, agent: Agent
) -> None:
    created = send("post", ARTICLES, supervisor, {"title": HOSTILE, "body": HOSTILE, "tags": []})
    assert created.status_code == 201
    one_line = HOSTILE.replace("\r\n", " ")
    assert (created.json()["title"], created.json()["body"]) == (
        one_line,
        HOSTILE.replace("\r", ""),
    )
    send("patch", f"{ARTICLES}/{created.json()['id']}", supervisor, {"published": True})
    client = Client()
    client.force_login(agent.user)
    pages = [
        client.get(reverse("articles")).content.decode(),
        Client().get(reverse("article-public", args=[created.json()["id"]])).content.decode(),
    ]
    for page in pages:
        assert "<script>alert" not in page
        assert "<b>bold</b>" not in page
        assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page


def test_session_writes_need_the_csrf_token(supervisor: Agent) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(supervisor.user)
    data = {"title": "Session", "body": "Made in the browser."}
    response = client.post(CANNED, data=data, content_type="application/json")
    assert response.status_code == 403
    assert not CannedReply.objects.exists()
    assert client.get(CANNED).status_code == 200


def test_the_schema_lists_ten_knowledge_operations(agent: Agent) -> None:
    schema = Client().get("/api/v1/openapi.json").json()
    operations = sorted(
        f"{method.upper()} {path}"
        for path, methods in schema["paths"].items()
        for method, operation in methods.items()
        if "knowledge" in operation.get("tags", [])
    )
    assert operations == [
        "DELETE /api/v1/articles/{public_id}",
        "DELETE /api/v1/canned-replies/{public_id}",
        "GET /api/v1/articles",
        "GET /api/v1/articles/{public_id}",
        "GET /api/v1/canned-replies",
        "GET /api/v1/canned-replies/{public_id}",
        "PATCH /api/v1/articles/{public_id}",
        "PATCH /api/v1/canned-replies/{public_id}",
        "POST /api/v1/articles",
        "POST /api/v1/canned-replies",
    ]
