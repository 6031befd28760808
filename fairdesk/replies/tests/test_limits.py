"""One length rule per channel and visibility, applied before a reply is queued."""

import pytest

from fairdesk.cases.models import Case, CaseEvent, Message
from fairdesk.cases.tests.factories import make_case
from fairdesk.replies.limits import limit_for
from fairdesk.replies.models import OutboxMessage
from fairdesk.replies.services import ReplyInvalid, request_override, submit_reply
from fairdesk.workspaces.models import Agent, Workspace

FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"  # 1 grapheme, 25 bytes
THUMB = "\U0001f44d\U0001f3fd"  # thumbs up, medium skin tone: 1 grapheme, 2 code points


def nothing_written() -> bool:
    return not (
        Message.objects.filter(direction="outbound").exists()
        or OutboxMessage.objects.exists()
        or CaseEvent.objects.exists()
    )


def send(
    case: Case, agent: Agent, text: str, visibility: str = "public", key: str = "k"
) -> OutboxMessage:
    return submit_reply(
        case=case, agent=agent, text=text, visibility=visibility, idempotency_key=key
    )


def test_x_counts_an_emoji_as_two_and_refuses_past_280(workspace: Workspace, agent: Agent) -> None:
    case = make_case(workspace, channel="x", external_id="tw-1")
    with pytest.raises(ReplyInvalid) as refused:
        send(case, agent, "\U0001f600" * 139)  # 278 + " ^JC" 4 = 282
    assert str(refused.value) == (
        "This reply is 282 characters as X counts them (a URL 23, an emoji or CJK character 2)"
        " and a post on X takes at most 280 (the signature included): shorten it by 2."
    )
    assert nothing_written()

    outbox = send(case, agent, "\U0001f600" * 138)  # 276 + 4 = 280: fits exactly
    assert outbox.message.text == "\U0001f600" * 138 + " ^JC"


def test_x_direct_message_has_its_own_limit(workspace: Workspace, agent: Agent) -> None:
    case = make_case(workspace, channel="x", external_id="tw-1")
    outbox = send(case, agent, "\U0001f600" * 300, visibility="private")
    assert (outbox.channel, outbox.message.visibility) == ("x", "private")
    with pytest.raises(ReplyInvalid, match="a direct message on X takes at most 10,000"):
        send(case, agent, "a" * 9_997, visibility="private", key="k2")  # + 4 = 10,001
    assert OutboxMessage.objects.count() == 1


def test_bluesky_counts_graphemes_then_bytes(workspace: Workspace, agent: Agent) -> None:
    case = make_case(workspace, channel="bluesky", external_id="at://post/1", handle="dana.bsky")
    with pytest.raises(
        ReplyInvalid, match="is 301 characters and a Bluesky post takes at most 300"
    ):
        send(case, agent, THUMB * 297)
    with pytest.raises(ReplyInvalid, match="is 3,754 bytes and a Bluesky post takes at most 3,000"):
        send(case, agent, FAMILY * 150, key="k2")  # only 154 graphemes, but 3,754 bytes
    assert nothing_written()
    outbox = send(case, agent, THUMB * 296, key="k3")  # 296 + " ^JC" = 300 graphemes
    assert outbox.status == OutboxMessage.Status.PENDING


def test_mastodon_counts_the_mention_the_connector_adds(workspace: Workspace, agent: Agent) -> None:
    # "@dana@example.social " counts as "@dana " (6, Mastodon counts a remote mention's
    # local part) + text + " ^JC" (4).
    case = make_case(
        workspace, channel="mastodon", external_id="109", handle="@dana@example.social"
    )
    with pytest.raises(ReplyInvalid, match="is 501 characters as Mastodon counts them"):
        send(case, agent, "x" * 491)
    assert nothing_written()
    assert send(case, agent, "x" * 490, key="k2").message.text == "x" * 490 + " ^JC"


def test_mastodon_uses_an_instance_limit_the_account_config_gives() -> None:
    limit = limit_for("mastodon", "public", {"max_characters": 1000}, recipient_handle="@dana")
    assert limit.problem("y" * 990 + " ^JC") == ""  # "@dana " 6 + 990 + 4 = 1,000
    assert "is 1,001 characters" in limit.problem("y" * 991 + " ^JC")


def test_a_held_reply_is_refused_too(workspace: Workspace, agent: Agent) -> None:
    case = make_case(workspace, channel="x", external_id="tw-1")
    with pytest.raises(ReplyInvalid, match="a post on X takes at most 280"):
        request_override(
            case=case,
            agent=agent,
            text="you are frauds " + "a" * 300,
            visibility="public",
            idempotency_key="k",
        )
    assert nothing_written()


def test_email_has_no_platform_limit(workspace: Workspace, agent: Agent) -> None:
    case = make_case(workspace, channel="email", external_id="<m1@example.test>", handle="d@e.test")
    outbox = send(case, agent, "word " * 1_900, visibility="private")
    assert (outbox.channel, len(outbox.message.text)) == ("email", 9_499 + 4)


@pytest.mark.parametrize(
    ("channel", "visibility", "longest"),
    [
        ("facebook", "public", 8_000),
        ("facebook", "private", 2_000),
        ("messenger", "private", 2_000),
        ("instagram", "public", 2_200),
        ("x", "public", 280),
        ("x", "private", 10_000),
        ("bluesky", "public", 300),
        ("bluesky", "private", 1_000),
        ("mastodon", "public", 500),
        ("mastodon", "private", 500),
    ],
)
def test_limit_per_channel_and_visibility(channel: str, visibility: str, longest: int) -> None:
    limit = limit_for(channel, visibility)
    assert limit.max == longest
    assert limit.problem("a" * longest) == ""
    assert limit.problem("a" * (longest + 1)) != ""


def test_instagram_direct_messages_are_limited_in_bytes() -> None:
    limit = limit_for("instagram", "private")
    assert limit.problem("é" * 500) == ""  # 1,000 bytes
    assert limit.problem("é" * 501) == (
        "This reply is 1,002 bytes and an Instagram direct message takes at most 1,000: "
        "shorten it (emoji and accented letters take several)."
    )


@pytest.mark.parametrize("bogus", [0, -5, True, "900", None])
def test_a_bogus_recorded_mastodon_limit_falls_back_to_500(bogus: object) -> None:
    assert limit_for("mastodon", "public", {"max_characters": bogus}).max == 500


def test_the_browser_gets_the_connector_rules() -> None:
    x = limit_for("x", "public").for_browser()
    assert (x["max"], x["client"], x["url_length"]) == (280, "x", 23)
    assert [0, 0x10FF] in x["single"]
    assert limit_for("mastodon", "public", recipient_handle="@dana").for_browser()["prefix"] == (
        "@dana"
    )
    assert limit_for("mastodon", "public", recipient_handle="not a handle").prefix == ""
