import json
import uuid

from django.test import Client

from fairdesk.cases.models import Case, Message
from fairdesk.connectors.models import Channel
from fairdesk.connectors.services import MAX_WEBHOOK_BYTES, create_channel
from fairdesk.connectors.x.tests.conftest import (
    ACME_SECRET,
    GLOBEX_SECRET,
    fixture_bytes,
    fixture_json,
    signature,
)
from fairdesk.inbound.models import InboundEvent
from fairdesk.inbound.pipeline import drain
from fairdesk.workspaces.models import Workspace


def url(channel: Channel | uuid.UUID) -> str:
    public_id = channel.public_id if isinstance(channel, Channel) else channel
    return f"/webhooks/x/{public_id}/"


def deliver(channel: Channel, body: bytes, header: str | None) -> tuple[int, dict]:
    headers = {} if header is None else {"x-twitter-webhooks-signature": header}
    response = Client().post(url(channel), body, content_type="application/json", headers=headers)
    return response.status_code, response.json()


def signed(channel: Channel, name: str, secret: str = ACME_SECRET) -> tuple[int, dict]:
    body = fixture_bytes(name)
    return deliver(channel, body, signature(secret, body))


def test_crc_challenge(x_channel: Channel) -> None:
    token = "9b4507b3-9040-4669-9ca3-6b94edb50553"
    response = Client().get(url(x_channel), {"crc_token": token})

    assert response.status_code == 200
    assert response.json() == {"response_token": signature(ACME_SECRET, token.encode())}


def test_crc_without_token_is_400(x_channel: Channel) -> None:
    response = Client().get(url(x_channel))

    assert response.status_code == 400
    assert response.json() == {"ok": False, "error": "crc_token missing"}


def test_unknown_channel_is_404(x_channel: Channel) -> None:
    body = fixture_bytes("tweet_mention.json")

    assert Client().get(url(uuid.uuid4()), {"crc_token": "t"}).status_code == 404
    response = Client().post(
        url(uuid.uuid4()),
        body,
        content_type="application/json",
        headers={"x-twitter-webhooks-signature": signature(ACME_SECRET, body)},
    )
    assert response.status_code == 404
    assert InboundEvent.objects.count() == 0


def test_signed_mention_is_stored(x_channel: Channel, workspace: Workspace) -> None:
    assert signed(x_channel, "tweet_mention.json") == (
        200,
        {"ok": True, "stored": 1, "duplicates": 0},
    )

    event = InboundEvent.objects.get()
    assert (event.workspace_id, event.channel, event.external_id, event.source) == (
        workspace.pk,
        "x",
        "1849100000000000001",
        "x",
    )
    assert event.payload["author"]["handle"] == "@dana_w"
    x_channel.refresh_from_db()
    assert x_channel.last_event_at is not None
    assert x_channel.last_error == ""


def test_missing_bad_and_tampered_signatures_store_nothing(x_channel: Channel) -> None:
    body = fixture_bytes("tweet_mention.json")
    tampered = body.replace(b"stopped heating", b"exploded, refund")
    # The same data, serialised differently (compact separators): a different body.
    reserialised = json.dumps(fixture_json("tweet_mention.json"), separators=(",", ":")).encode()

    assert deliver(x_channel, body, None) == (401, {"ok": False, "error": "bad signature"})
    assert deliver(x_channel, body, "sha256=AAAA")[0] == 401
    assert deliver(x_channel, body, signature("wrong-secret", body))[0] == 401
    assert deliver(x_channel, tampered, signature(ACME_SECRET, body))[0] == 401
    assert deliver(x_channel, reserialised, signature(ACME_SECRET, body))[0] == 401
    assert InboundEvent.objects.count() == 0
    x_channel.refresh_from_db()
    assert x_channel.last_event_at is None


def test_oversized_body_is_413(x_channel: Channel) -> None:
    body = b'{"for_user_id": "1000000001", "pad": "' + b"x" * MAX_WEBHOOK_BYTES + b'"}'

    assert deliver(x_channel, body, signature(ACME_SECRET, body)) == (
        413,
        {"ok": False, "error": "body too large"},
    )
    assert InboundEvent.objects.count() == 0


def test_signed_malformed_json_is_400_and_recorded(x_channel: Channel) -> None:
    body = b'{"for_user_id": "1000000001", "tweet_create_events": ['

    assert deliver(x_channel, body, signature(ACME_SECRET, body)) == (
        400,
        {"ok": False, "error": "body is not valid JSON"},
    )
    assert InboundEvent.objects.count() == 0
    x_channel.refresh_from_db()
    assert x_channel.last_error == "body is not valid JSON"
    assert x_channel.last_error_at is not None
    assert x_channel.last_event_at is None


def test_signed_event_of_wrong_shape_is_400(x_channel: Channel) -> None:
    payload = fixture_json("tweet_mention.json")
    del payload["tweet_create_events"][0]["user"]
    body = json.dumps(payload).encode()

    status, reply = deliver(x_channel, body, signature(ACME_SECRET, body))

    assert (status, reply["ok"]) == (400, False)
    assert reply["error"].startswith("malformed event")
    assert InboundEvent.objects.count() == 0
    x_channel.refresh_from_db()
    assert x_channel.last_error == reply["error"]


def test_duplicate_delivery_is_a_no_op(x_channel: Channel) -> None:
    assert signed(x_channel, "tweet_mention.json")[1]["stored"] == 1
    assert signed(x_channel, "tweet_mention.json") == (
        200,
        {"ok": True, "stored": 0, "duplicates": 1},
    )
    assert signed(x_channel, "tweet_mention.json")[1]["duplicates"] == 1
    assert InboundEvent.objects.count() == 1


def test_favorite_event_is_acknowledged_and_ignored(x_channel: Channel) -> None:
    assert signed(x_channel, "favorite_event.json") == (
        200,
        {"ok": True, "stored": 0, "duplicates": 0},
    )
    assert InboundEvent.objects.count() == 0


def test_another_workspaces_channel_never_stores_into_this_workspace(
    x_channel: Channel, globex_channel: Channel, workspace: Workspace
) -> None:
    # Acme's secret cannot deliver through Globex's channel.
    assert signed(globex_channel, "tweet_mention.json", ACME_SECRET)[0] == 401
    # Globex's secret, Acme's account payload: not Globex's account, refused.
    assert signed(globex_channel, "tweet_mention.json", GLOBEX_SECRET)[0] == 400
    assert InboundEvent.objects.count() == 0

    payload = fixture_bytes("tweet_mention.json").replace(b"1000000001", b"1000000999")
    assert deliver(globex_channel, payload, signature(GLOBEX_SECRET, payload))[0] == 200

    assert list(InboundEvent.objects.values_list("workspace__slug", flat=True)) == ["globex"]
    assert InboundEvent.objects.filter(workspace=workspace).count() == 0


def test_same_app_secret_on_two_workspaces_is_bound_by_account(
    x_channel: Channel, other_workspace: Workspace
) -> None:
    """One X app may serve two workspaces' accounts; ``for_user_id`` binds the channel."""
    shared = create_channel(
        workspace=other_workspace,
        kind="x",
        name="@GlobexHelp",
        config={"brand_user_id": "1000000999"},
        credentials={"consumer_secret": ACME_SECRET},
    )

    status, reply = signed(shared, "tweet_mention.json")

    assert (status, reply) == (
        400,
        {"ok": False, "error": "for_user_id is not this channel's account"},
    )
    assert InboundEvent.objects.count() == 0


def test_tweet_then_dm_thread_into_one_case(x_channel: Channel, workspace: Workspace) -> None:
    assert signed(x_channel, "tweet_mention.json")[0] == 200
    assert signed(x_channel, "direct_message.json")[0] == 200

    assert drain() == 2

    case = Case.objects.get(workspace=workspace)
    messages = list(
        Message.objects.filter(case=case)
        .order_by("sent_at")
        .values_list("external_id", "visibility", "direction")
    )
    assert messages == [
        ("1849100000000000001", "public", "inbound"),
        ("dm-1849100000000000101", "private", "inbound"),
    ]


def test_brand_reply_lands_on_the_customers_case(x_channel: Channel, workspace: Workspace) -> None:
    assert signed(x_channel, "tweet_mention.json")[0] == 200
    assert signed(x_channel, "brand_reply.json")[0] == 200

    drain()

    case = Case.objects.get(workspace=workspace)
    assert list(
        Message.objects.filter(case=case).order_by("sent_at").values_list("direction", flat=True)
    ) == ["inbound", "outbound"]
