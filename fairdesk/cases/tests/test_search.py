"""Search over message text, handles and names: scoped, paged, escaped, harmless input."""

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from fairdesk.cases.models import Case, Message
from fairdesk.cases.search import SearchInvalid, search_cases, search_terms
from fairdesk.cases.tests.factories import add_inbound, make_case
from fairdesk.workspaces.models import Agent, Workspace

HOSTILE = "<script>alert('x')</script> dryer =HYPERLINK(\"http://evil\") \r\nSet-Cookie: a=1"


def found(workspace: Workspace, query: str) -> list[str]:
    return [c.contact.display_name for c in search_cases(workspace=workspace, query=query).cases]


@pytest.fixture
def cases(workspace: Workspace, other_workspace: Workspace) -> dict[str, Case]:
    made = {
        "dryer": make_case(
            workspace, external_id="s1", name="Dana", handle="@dana_k", text="My dryer caught fire"
        ),
        "refund": make_case(
            workspace,
            external_id="s2",
            name="Élodie Martin",
            handle="@elo",
            text="Please refund the double charge",
        ),
        "theirs": make_case(
            other_workspace,
            external_id="s3",
            name="Dana Globex",
            handle="@dana_g",
            text="My dryer caught fire too",
        ),
    }
    identity = made["refund"].contact.identities.get()
    add_inbound(made["refund"], identity, text="Still no refund for the dryer", external_id="s4")
    return made


def test_words_are_all_required_and_the_last_is_a_prefix(
    workspace: Workspace, cases: dict[str, Case]
) -> None:
    assert found(workspace, "dryer") == ["Élodie Martin", "Dana"]
    assert found(workspace, "dryer fire") == ["Dana"]
    assert found(workspace, "caught fi") == ["Dana"]
    assert found(workspace, "REFUND dry") == ["Élodie Martin"]
    assert found(workspace, "fir dryer") == []  # only the last word is a prefix
    assert found(workspace, "toaster") == []


def test_handles_and_names_match_as_substrings(
    workspace: Workspace, cases: dict[str, Case]
) -> None:
    assert found(workspace, "@dana") == ["Dana"]
    assert found(workspace, "dana_k") == ["Dana"]
    assert found(workspace, "martin") == ["Élodie Martin"]
    assert found(workspace, "Élodie") == ["Élodie Martin"]


def test_search_never_crosses_workspaces(
    workspace: Workspace, other_workspace: Workspace, cases: dict[str, Case]
) -> None:
    assert found(workspace, "too") == []
    assert found(workspace, "globex") == []
    assert found(other_workspace, "dryer") == ["Dana Globex"]
    assert found(other_workspace, "refund") == []


@pytest.mark.parametrize(
    "query",
    [
        "' OR 1=1 --",
        '" OR "" = "',
        'dryer" OR text MATCH "*',
        "dryer) UNION SELECT password FROM auth_user --",
        "NEAR(dryer fire) AND NOT refund",
        "dryer:* | !refund",
        "%_%",
        "\\",
    ],
)
def test_query_syntax_and_sql_in_the_query_are_just_text(
    workspace: Workspace, cases: dict[str, Case], query: str
) -> None:
    try:
        result = found(workspace, query)
    except SearchInvalid:
        result = None
    expected = {
        "' OR 1=1 --": [],
        '" OR "" = "': [],
        'dryer" OR text MATCH "*': [],
        "dryer) UNION SELECT password FROM auth_user --": [],
        "NEAR(dryer fire) AND NOT refund": [],
        "dryer:* | !refund": ["Élodie Martin"],
        "%_%": None,
        "\\": None,
    }[query]
    assert result == expected
    assert Message.objects.count() == 4


def test_terms_are_bounded() -> None:
    assert search_terms("Où est ma commande? #123") == ["où", "est", "ma", "commande", "123"]
    assert search_terms("dana_k") == ["dana", "k"]
    assert search_terms(" ".join(f"w{n}" for n in range(20))) == [f"w{n}" for n in range(8)]
    with pytest.raises(SearchInvalid, match="Type a word"):
        search_terms("!!! ---")
    with pytest.raises(SearchInvalid, match="at most 200"):
        search_terms("a" * 201)


def test_results_are_keyset_paged_newest_first(workspace: Workspace) -> None:
    made = [make_case(workspace, external_id=f"p{n}", text=f"heater number {n}") for n in range(5)]
    first = search_cases(workspace=workspace, query="heater", limit=2)
    assert [c.pk for c in first.cases] == [made[4].pk, made[3].pk]
    second = search_cases(workspace=workspace, query="heater", after=first.next_cursor, limit=2)
    assert [c.pk for c in second.cases] == [made[2].pk, made[1].pk]
    third = search_cases(workspace=workspace, query="heater", after=second.next_cursor, limit=2)
    assert [c.pk for c in third.cases] == [made[0].pk]
    assert third.next_cursor is None
    with pytest.raises(SearchInvalid, match="page link"):
        search_cases(workspace=workspace, query="heater", after="x")


def test_the_index_follows_edits_and_deletes(workspace: Workspace) -> None:
    """The SQLite FTS5 table is kept current by triggers and the PostgreSQL GIN index by
    the database itself. If a migration ever remakes cases_message on SQLite, its
    triggers are gone and this test fails: recreate them in that migration."""
    case = make_case(workspace, external_id="t1", text="kettle leaking")
    message = Message.objects.get(case=case)
    assert found(workspace, "kettle") == ["Dana"]
    Message.objects.filter(pk=message.pk).update(text="toaster sparking")
    assert found(workspace, "kettle") == []
    assert found(workspace, "toaster") == ["Dana"]
    Message.objects.filter(pk=message.pk).delete()
    assert found(workspace, "toaster") == []


def test_postgresql_uses_the_gin_index(workspace: Workspace) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("the GIN index exists on PostgreSQL only")
    from django.contrib.postgres.search import SearchQuery, SearchVector

    make_case(workspace, external_id="g1", text="kettle")
    query = (
        Message.objects.annotate(search=SearchVector("text", config="simple"))
        .filter(search=SearchQuery("'kettle':*", search_type="raw", config="simple"))
        .values("id")
    )
    with connection.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")
        plan = query.explain()
        cursor.execute("SET enable_seqscan = on")
    assert "message_text_search_idx" in plan


# --- the page ------------------------------------------------------------------------


def test_search_page_escapes_hostile_text(
    workspace: Workspace, agent_client: Client, cases: dict[str, Case]
) -> None:
    make_case(workspace, external_id="h1", text=HOSTILE, name=HOSTILE, handle="@<img src=x>")
    response = agent_client.get(reverse("search"), {"q": "dryer"})
    content = response.content.decode()
    assert response.status_code == 200
    assert "<script>alert" not in content
    assert "<img src=x>" not in content
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in content
    assert content.count('href="/cases/') == 3
    query = agent_client.get(reverse("search"), {"q": "<b>nothing</b>"}).content.decode()
    assert 'value="&lt;b&gt;nothing&lt;/b&gt;"' in query
    assert "No case matches “&lt;b&gt;nothing&lt;/b&gt;”." in query
    assert "<b>nothing" not in query


def test_search_page_is_scoped_and_focusable_by_slash(
    workspace: Workspace, outsider: Agent, cases: dict[str, Case]
) -> None:
    client = Client()
    client.force_login(outsider.user)
    content = client.get(reverse("search"), {"q": "refund"}).content.decode()
    assert cases["refund"].reference not in content
    assert 'data-shortcut="/"' in content
    assert 'aria-keyshortcuts="/"' in content


def test_search_page_rejects_unsearchable_queries(agent_client: Client) -> None:
    response = agent_client.get(reverse("search"), {"q": "!!!"})
    assert response.status_code == 422
    assert "Type a word to search for." in response.content.decode()
    assert agent_client.get(reverse("search")).status_code == 200


def test_search_page_query_count_is_constant(workspace: Workspace, agent_client: Client) -> None:
    for n in range(2):
        make_case(workspace, external_id=f"q{n}", text="blender broken")
    with CaptureQueriesContext(connection) as few:
        agent_client.get(reverse("search"), {"q": "blender"})
    for n in range(2, 20):
        make_case(workspace, external_id=f"q{n}", text="blender broken")
    with CaptureQueriesContext(connection) as many:
        content = agent_client.get(reverse("search"), {"q": "blender"}).content.decode()
    assert content.count('href="/cases/') == 20
    assert len(many.captured_queries) == len(few.captured_queries)
    assert not any("COUNT(" in q["sql"].upper() for q in many.captured_queries)


def test_very_common_words_look_at_the_newest_matches_only(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fairdesk.cases import search

    made = [make_case(workspace, external_id=f"w{n}", text="order question") for n in range(4)]
    monkeypatch.setattr(search, "TEXT_WINDOW", 2)
    assert [c.pk for c in search_cases(workspace=workspace, query="order").cases] == [
        made[3].pk,
        made[2].pk,
    ]


def test_matches_are_gathered_newest_slice_first_across_slices(
    workspace: Workspace, other_workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL reads message-id slices newest first (``TEXT_SLICES``); the result is
    the same as one look-up over all messages: the newest matches, old rare ones too."""
    from fairdesk.cases import search

    oldest = make_case(workspace, external_id="s0", text="kettle descaling")
    made = []
    for n in range(1, 9):
        make_case(workspace, external_id=f"s{n}x", text="nothing relevant")
        made.append(make_case(workspace, external_id=f"s{n}", text="order kettle"))
    make_case(other_workspace, external_id="s9", text="order kettle")
    monkeypatch.setattr(search, "TEXT_SLICES", (2, 5))
    monkeypatch.setattr(search, "TEXT_WINDOW", 5)
    assert [c.pk for c in search_cases(workspace=workspace, query="order ket").cases] == [
        c.pk for c in reversed(made[-5:])
    ]
    monkeypatch.setattr(search, "TEXT_WINDOW", 100)
    assert [c.pk for c in search_cases(workspace=workspace, query="kettle").cases] == [
        *(c.pk for c in reversed(made)),
        oldest.pk,
    ]
    assert search_cases(workspace=workspace, query="descal").cases == [oldest]


def test_paging_goes_past_the_window_of_a_common_word(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each page looks at the newest matches among older cases: a window of two messages
    still pages through all five cases, newest first, each once."""
    from fairdesk.cases import search

    made = [make_case(workspace, external_id=f"p{n}", text="order status") for n in range(5)]
    monkeypatch.setattr(search, "TEXT_WINDOW", 2)
    monkeypatch.setattr(search, "TEXT_SLICES", (1, 3))
    seen, after = [], None
    for _ in range(5):
        page = search_cases(workspace=workspace, query="order", after=after, limit=2)
        seen += [c.pk for c in page.cases]
        if page.next_cursor is None:
            break
        after = page.next_cursor
    assert seen == [c.pk for c in reversed(made)]


@pytest.mark.parametrize("cap", [0, 1, 5])
def test_common_names_find_the_same_cases_either_way(
    workspace: Workspace, other_workspace: Workspace, monkeypatch: pytest.MonkeyPatch, cap: int
) -> None:
    """Up to ``NAME_CAP`` people are looked up by id, more through subqueries: the
    same cases, in the same order, scoped to the workspace, either way."""
    from fairdesk.cases import search

    kims = [
        make_case(workspace, external_id=f"k{n}", name=f"Kim {n}", handle=f"@k{n}", text="hi")
        for n in range(3)
    ]
    by_handle = make_case(workspace, external_id="kh", name="Lee", handle="@kimlee", text="hi")
    make_case(workspace, external_id="o1", name="Omar", handle="@omar", text="hi")
    make_case(other_workspace, external_id="k9", name="Kim Other", handle="@kim9", text="hi")
    monkeypatch.setattr(search, "NAME_CAP", cap)
    assert [c.pk for c in search_cases(workspace=workspace, query="kim").cases] == [
        by_handle.pk,
        *(c.pk for c in reversed(kims)),
    ]
