"""Canned replies and articles: who may write them, what text is accepted, how
placeholders are filled."""

import pytest
from django.core.exceptions import PermissionDenied

from fairdesk.cases.tests.factories import make_case
from fairdesk.knowledge import placeholders
from fairdesk.knowledge.models import Article, CannedReply
from fairdesk.knowledge.services import (
    KnowledgeInvalid,
    create_article,
    create_canned_reply,
    update_article,
    update_canned_reply,
)
from fairdesk.workspaces.models import Agent, Workspace

HOSTILE_NAME = "<script>alert('x')</script>\r\nBcc: evil@example.test {case_ref}"


def test_a_supervisor_writes_an_agent_cannot(supervisor: Agent, agent: Agent) -> None:
    canned = create_canned_reply(
        agent=supervisor, title="  Refund\r\nsteps ", body="Hi {first_name}"
    )
    assert (canned.title, canned.workspace_id, canned.created_by) == (
        "Refund steps",
        supervisor.workspace_id,
        supervisor,
    )
    with pytest.raises(PermissionDenied):
        create_canned_reply(agent=agent, title="Mine", body="Hello")
    with pytest.raises(PermissionDenied):
        update_canned_reply(agent=agent, canned=canned, title="Changed", body="Changed")
    with pytest.raises(PermissionDenied):
        create_article(agent=agent, title="Guide", body="Text")
    canned.refresh_from_db()
    assert (canned.title, CannedReply.objects.count(), Article.objects.count()) == (
        "Refund steps",
        1,
        0,
    )


def test_a_supervisor_of_another_workspace_cannot_edit(
    supervisor: Agent, other_supervisor: Agent
) -> None:
    canned = create_canned_reply(agent=supervisor, title="Refund", body="Hello")
    article = create_article(agent=supervisor, title="Dryer", body="Unplug it.")
    with pytest.raises(PermissionDenied):
        update_canned_reply(agent=other_supervisor, canned=canned, title="Mine", body="x")
    with pytest.raises(PermissionDenied):
        update_article(
            agent=other_supervisor, article=article, title="x", body="x", tags="", published=True
        )
    canned.refresh_from_db()
    article.refresh_from_db()
    assert (canned.title, article.published) == ("Refund", False)


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ("Hi {firstname}", "{firstname}"),
        ("Hi {first_name}, {0.__class__.__mro__}", "{0.__class__.__mro__}"),
        ("{{ request.user.password }}", "{ request.user.password }"),
        ("{% load static %}", "{% load static %}"),
        ("Price: {}", "{}"),
    ],
)
def test_an_unknown_placeholder_is_refused(supervisor: Agent, body: str, named: str) -> None:
    with pytest.raises(KnowledgeInvalid) as refused:
        create_canned_reply(agent=supervisor, title="T", body=body)
    assert str(refused.value).startswith(f"Unknown placeholder {named}. Use one of {{first_name}}")
    assert not CannedReply.objects.exists()


def test_a_lone_brace_is_just_text(supervisor: Agent) -> None:
    body = "Thanks :-}\nA { here,\nand } there."  # no {…} pair on one line
    assert create_canned_reply(agent=supervisor, title="Braces", body=body).body == body


def test_placeholders_are_filled_as_plain_text_once(workspace: Workspace, agent: Agent) -> None:
    case = make_case(workspace, name=HOSTILE_NAME)
    values = placeholders.values_for(case=case, agent=agent)
    text = placeholders.render(
        "Hi {first_name}, about {case_ref}: {agent_name} ({agent_initials}) at {brand_handle}.",
        values,
    )
    # The name is one line (CR LF made a space), its first word only, never re-scanned.
    assert text == (
        f"Hi <script>alert('x')</script>, about {case.reference}: Jo Chen (JC) at @AcmeSupport."
    )
    case.contact.display_name = "{case_ref}\x00"
    assert placeholders.render(
        "Hi {first_name}", placeholders.values_for(case=case, agent=agent)
    ) == ("Hi {case_ref}")
    case.contact.display_name = ""
    assert placeholders.render(
        "Hi {first_name}!", placeholders.values_for(case=case, agent=agent)
    ) == ("Hi there!")


def test_the_tone_guard_refuses_a_rude_canned_reply(supervisor: Agent) -> None:
    with pytest.raises(KnowledgeInvalid, match=r"^The tone guard would stop this reply: "):
        create_canned_reply(agent=supervisor, title="Rude", body="You are frauds, {first_name}.")
    assert not CannedReply.objects.exists()


def test_titles_are_unique_per_workspace_in_any_case(
    supervisor: Agent, other_supervisor: Agent
) -> None:
    create_canned_reply(agent=supervisor, title="Refund", body="One")
    with pytest.raises(KnowledgeInvalid, match="already exists"):
        create_canned_reply(agent=supervisor, title="REFUND", body="Two")
    create_canned_reply(agent=other_supervisor, title="Refund", body="Theirs")
    assert CannedReply.objects.count() == 2


@pytest.mark.parametrize(
    ("title", "body", "error"),
    [
        ("", "Text", "Give it a title."),
        ("   \r\n ", "Text", "Give it a title."),
        ("T" * 121, "Text", "A title can be at most 120 characters."),
        ("T", "  \r\n ", "Write the text."),
        ("T", "a" * 10_001, "The text can be at most 10,000 characters."),
        ("T", "null\x00byte", "The text holds control characters; paste it as plain text."),
        ("T", "bell\x07", "The text holds control characters; paste it as plain text."),
    ],
)
def test_bad_input_is_refused_and_nothing_saved(
    supervisor: Agent, title: str, body: str, error: str
) -> None:
    with pytest.raises(KnowledgeInvalid) as refused:
        create_canned_reply(agent=supervisor, title=title, body=body)
    assert str(refused.value) == error
    assert not CannedReply.objects.exists()


def test_article_text_and_tags_are_cleaned(supervisor: Agent) -> None:
    article = create_article(
        agent=supervisor,
        title="Dryer smells of smoke",
        body="Unplug it.\r\nCall us.\r\n",
        tags=" Dryer, SAFETY ,dryer,, =HYPERLINK(1)",
        published=True,
    )
    assert (article.body, article.tags, article.published) == (
        "Unplug it.\nCall us.",
        "dryer, safety, =hyperlink(1)",
        True,
    )
    with pytest.raises(KnowledgeInvalid, match="at most 20 tags"):
        update_article(
            agent=supervisor,
            article=article,
            title="x",
            body="x",
            tags=",".join(f"t{n}" for n in range(21)),
            published=False,
        )
    article.refresh_from_db()
    assert (article.title, article.published) == ("Dryer smells of smoke", True)
