import json
import uuid
from typing import Any

from django.test import Client

from fairdesk.cases.models import Case, Message
from fairdesk.connectors.meta.tests.conftest import (
    ACME_SECRET,
    ACME_VERIFY_TOKEN,
    GLOBEX_SECRET,
    PAGE_ID,
    fixture_bytes,
    fixture_json,
    signature,
)
from fairdesk.connectors.models import Channel
from fairdesk.connectors.services import MAX_WEBHOOK_BYTES, create_channel
from fairdesk.contacts.models import ContactIdentity
from fairdesk.inbound.models import InboundEvent
from fairdesk.inbound.pipeline import drain
from fairdesk.workspaces.models import Workspace


def url(channel: Channel | uuid.UUID) -> str:
    public_id = channel.public_id if isinstance(channel, Channel) else channel
    return f"/webhooks/meta/{public_id}/"


def deliver(channel: Channel, body: bytes, header: str | None) -> tuple[int, dict]:
    headers = {} if header is None else {"X-Hub-Signature-256": header}
    response = Client().post(url(channel), body, content_type="application/json", headers=headers)
    return response.status_code, response.json()


def signed(channel: Channel, name: str, secret: str = ACME_SECRET) -> tuple[int, dict]:
    body = fixture_bytes(name)
    return deliver(channel, body, signature(secret, body))


def handshake(channel: Channel, mode: str, token: str, challenge: str = "1158201444") -> Any:
    params = {"hub.mode": mode, "hub.verify_token": token, "hub.challenge": challenge}
    return Client().get(url(channel), params)


def test_verification_handshake_echoes_the_challenge(meta_channel: Channel) -> None:
    response = handshake(meta_channel, "subscribe", ACME_VERIFY_TOKEN)

    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response.content == b"1158201444"


def test_verification_refused_for_wrong_token_or_mode(meta_channel: Channel) -> None:
    assert handshake(meta_channel, "subscribe", "guess").status_code == 403
    assert handshake(meta_channel, "subscribe", "").status_code == 403
    assert handshake(meta_channel, "unsubscribe", ACME_VERIFY_TOKEN).status_code == 403
    response = handshake(meta_channel, "", ACME_VERIFY_TOKEN)
    assert response.status_code == 403
    assert b"1158201444" not in response.content


def test_empty_configured_token_never_verifies(workspace: Workspace) -> None:
    channel = create_channel(
        workspace=workspace,
        kind="instagram",
        name="No token",
        config={"page_id": PAGE_ID},
        credentials={"app_secret": ACME_SECRET, "verify_token": ""},
    )

    assert handshake(channel, "subscribe", "").status_code == 403
    assert handshake(channel, "subscribe", "anything").status_code == 403


def test_unknown_or_non_meta_channel_is_404(meta_channel: Channel, workspace: Workspace) -> None:
    x = create_channel(
        workspace=workspace,
        kind="x",
        name="@AcmeSupport",
        config={"brand_user_id": "1000000001"},
        credentials={"consumer_secret": ACME_SECRET},
    )
    body = fixture_bytes("page_comment.json")

    assert Client().get(url(uuid.uuid4())).status_code == 404
    response = Client().post(
        url(x),
        body,
        content_type="application/json",
        headers={"X-Hub-Signature-256": signature(ACME_SECRET, body)},
    )
    assert response.status_code == 404
    assert InboundEvent.objects.count() == 0


def test_signed_page_comment_is_stored(meta_channel: Channel, workspace: Workspace) -> None:
    assert signed(meta_channel, "page_comment.json") == (
        200,
        {"ok": True, "stored": 1, "duplicates": 0},
    )

    event = InboundEvent.objects.get()
    assert (event.workspace_id, event.channel, event.external_id, event.source) == (
        workspace.pk,
        "facebook",
        "220000000000001_330000000000001",
        "meta",
    )
    meta_channel.refresh_from_db()
    assert meta_channel.last_event_at is not None
    assert meta_channel.last_error == ""


def test_each_fixture_stores_its_events(meta_channel: Channel) -> None:
    for name in ("messenger_message.json", "messenger_echo.json"):
        assert signed(meta_channel, name)[1]["stored"] == 1
    assert signed(meta_channel, "instagram_comment.json")[1]["stored"] == 1
    assert signed(meta_channel, "instagram_dm.json")[1]["stored"] == 1
    assert signed(meta_channel, "hostile_comment.json")[1]["stored"] == 1

    assert sorted(InboundEvent.objects.values_list("channel", flat=True)) == [
        "facebook",
        "instagram",
        "instagram",
        "messenger",
        "messenger",
    ]


def test_missing_bad_and_tampered_signatures_store_nothing(meta_channel: Channel) -> None:
    body = fixture_bytes("page_comment.json")
    tampered = body.replace(b"stopped heating", b"exploded, refund")
    # The same data, serialised differently (compact separators): a different body.
    reserialised = json.dumps(fixture_json("page_comment.json"), separators=(",", ":")).encode()

    assert deliver(meta_channel, body, None) == (401, {"ok": False, "error": "bad signature"})
    assert deliver(meta_channel, body, "sha256=00")[0] == 401
    assert deliver(meta_channel, body, signature("wrong-secret", body))[0] == 401
    assert deliver(meta_channel, tampered, signature(ACME_SECRET, body))[0] == 401
    assert deliver(meta_channel, reserialised, signature(ACME_SECRET, body))[0] == 401
    assert InboundEvent.objects.count() == 0
    meta_channel.refresh_from_db()
    assert meta_channel.last_event_at is None


def test_oversized_body_is_413(meta_channel: Channel) -> None:
    body = b'{"object": "page", "pad": "' + b"x" * MAX_WEBHOOK_BYTES + b'"}'

    assert deliver(meta_channel, body, signature(ACME_SECRET, body)) == (
        413,
        {"ok": False, "error": "body too large"},
    )
    assert InboundEvent.objects.count() == 0


def test_signed_malformed_json_is_400_and_recorded(meta_channel: Channel) -> None:
    body = b'{"object": "page", "entry": ['

    assert deliver(meta_channel, body, signature(ACME_SECRET, body)) == (
        400,
        {"ok": False, "error": "body is not valid JSON"},
    )
    assert InboundEvent.objects.count() == 0
    meta_channel.refresh_from_db()
    assert meta_channel.last_error == "body is not valid JSON"
    assert meta_channel.last_event_at is None


def test_duplicate_delivery_is_stored_once(meta_channel: Channel) -> None:
    assert signed(meta_channel, "messenger_message.json")[1]["stored"] == 1
    assert signed(meta_channel, "messenger_message.json") == (
        200,
        {"ok": True, "stored": 0, "duplicates": 1},
    )
    assert signed(meta_channel, "messenger_message.json")[1]["duplicates"] == 1
    assert InboundEvent.objects.count() == 1


def test_all_events_of_a_multi_event_entry_are_stored(meta_channel: Channel) -> None:
    assert signed(meta_channel, "multi_event_entry.json") == (
        200,
        {"ok": True, "stored": 3, "duplicates": 0},
    )
    assert sorted(InboundEvent.objects.values_list("channel", "external_id")) == [
        ("facebook", "220000000000002_330000000000009"),
        ("messenger", "m_multi_0000000000000001"),
        ("messenger", "m_multi_0000000000000002"),
    ]


def test_another_workspaces_secret_cannot_store_into_its_channel(
    meta_channel: Channel, globex_channel: Channel, workspace: Workspace
) -> None:
    # Acme's secret cannot deliver through Globex's channel, nor Globex's through Acme's.
    assert signed(globex_channel, "page_comment.json", ACME_SECRET)[0] == 401
    assert signed(meta_channel, "page_comment.json", GLOBEX_SECRET)[0] == 401
    # Globex's own secret with Acme's page entries: not Globex's page, nothing stored.
    assert signed(globex_channel, "page_comment.json", GLOBEX_SECRET) == (
        200,
        {"ok": True, "stored": 0, "duplicates": 0},
    )
    assert InboundEvent.objects.count() == 0

    body = fixture_bytes("page_comment.json").replace(PAGE_ID.encode(), b"104200000000999")
    assert deliver(globex_channel, body, signature(GLOBEX_SECRET, body))[1]["stored"] == 1

    assert list(InboundEvent.objects.values_list("workspace__slug", flat=True)) == ["globex"]
    assert InboundEvent.objects.filter(workspace=workspace).count() == 0


def test_messenger_message_and_page_comment_of_one_user_open_two_cases(
    meta_channel: Channel, workspace: Workspace
) -> None:
    """The same sender id on Messenger and in the Page feed is NOT one identity.

    Identities are unique per (channel, external_id) and the adapter files Page comments
    under "facebook" and Messenger under "messenger", so the pipeline resolves two
    identities, two contacts and two cases. (That is also right for Meta: a Messenger
    sender id is page-scoped and need not equal the commenter's id; merging is for the
    agent or a quoted case reference, never guessed from ids.)
    """
    assert signed(meta_channel, "page_comment.json")[0] == 200
    assert signed(meta_channel, "messenger_message.json")[0] == 200

    assert drain() == 2

    identities = ContactIdentity.objects.filter(external_id="6100000000000001")
    assert sorted(identities.values_list("channel", flat=True)) == ["facebook", "messenger"]
    assert len({identity.contact_id for identity in identities}) == 2
    cases = Case.objects.filter(workspace=workspace)
    assert cases.count() == 2
    assert sorted(
        Message.objects.filter(case__in=cases).values_list("channel", "visibility", "direction")
    ) == [("facebook", "public", "inbound"), ("messenger", "private", "inbound")]


def test_messenger_echo_is_stored_but_not_threaded_without_a_reply_reference(
    meta_channel: Channel, workspace: Workspace
) -> None:
    """The pipeline threads an outbound message only through ``in_reply_to``; a Messenger
    echo carries none (unless the page quoted a message), so it is kept as an outbound
    message without a case rather than guessed onto one."""
    assert signed(meta_channel, "messenger_message.json")[0] == 200
    assert signed(meta_channel, "messenger_echo.json")[0] == 200

    assert drain() == 2

    case = Case.objects.get(workspace=workspace)
    assert list(
        Message.objects.order_by("sent_at").values_list("direction", "case_id", "channel")
    ) == [("inbound", case.pk, "messenger"), ("outbound", None, "messenger")]
