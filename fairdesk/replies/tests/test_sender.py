from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from fairdesk.cases.models import Case, CaseEvent, CaseStatus, DeliveryStatus, Direction, Message
from fairdesk.cases.tests.factories import make_case
from fairdesk.connectors import registry
from fairdesk.connectors.base import (
    Account,
    Connector,
    OutboundRequest,
    PermanentSendError,
    RateLimit,
    RateLimited,
)
from fairdesk.connectors.models import Channel
from fairdesk.connectors.services import create_channel
from fairdesk.replies import sender
from fairdesk.replies.models import OutboxMessage
from fairdesk.replies.sender import send_pending
from fairdesk.replies.services import submit_reply
from fairdesk.workspaces.models import Agent, Workspace


class FakeConnector(Connector):
    """A platform in memory: records what it was asked to post."""

    kind = "x"

    def __init__(self) -> None:
        self.sent: list[OutboundRequest] = []
        self.posted: dict[str, str] = {}  # idempotency key → external id on the platform
        self.fail_with: Exception | None = None
        self.lookups = 0

    def send(self, account: Account, request: OutboundRequest) -> str:
        if self.fail_with is not None:
            raise self.fail_with
        self.sent.append(request)
        external_id = f"tw-{len(self.sent)}"
        self.posted[request.idempotency_key] = external_id
        return external_id

    def find_sent(self, account: Account, request: OutboundRequest) -> str | None:
        self.lookups += 1
        return self.posted.get(request.idempotency_key)


@pytest.fixture
def fake(workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> FakeConnector:
    connector = FakeConnector()
    create_channel(workspace=workspace, kind="x", name="Acme on X", config={"brand_user_id": "42"})
    monkeypatch.setattr(registry, "connector", lambda kind: connector if kind == "x" else None)
    return connector


def queue_reply(workspace: Workspace, agent: Agent, key: str = "k-1") -> OutboxMessage:
    case = make_case(workspace, external_id=f"in-{key}")
    return submit_reply(
        case=case, agent=agent, text="On it", visibility="public", idempotency_key=key
    )


def test_sends_exactly_once(workspace: Workspace, agent: Agent) -> None:
    outbox = queue_reply(workspace, agent)
    assert send_pending() == 1
    assert send_pending() == 0
    outbox.refresh_from_db()
    assert outbox.status == OutboxMessage.Status.SENT
    assert outbox.sent_at is not None
    assert outbox.attempts == 1
    assert outbox.claim_token == ""
    message = outbox.message
    message.refresh_from_db()
    assert message.external_id == "fd-k-1"
    assert message.delivery_status == DeliveryStatus.SENT
    assert CaseEvent.objects.filter(type=CaseEvent.Type.REPLY_SENT).count() == 1


def test_a_sent_reply_is_never_sent_again(
    workspace: Workspace, agent: Agent, fake: "FakeConnector"
) -> None:
    outbox = queue_reply(workspace, agent)
    send_pending()
    # even if someone pushes it back to pending with a stale lease, SENT rows are final
    OutboxMessage.objects.filter(pk=outbox.pk).update(
        available_at=timezone.now() - timedelta(days=1)
    )
    send_pending()
    assert [r.idempotency_key for r in fake.sent] == ["k-1"]


def test_sending_answers_the_case(workspace: Workspace, agent: Agent) -> None:
    outbox = queue_reply(workspace, agent)
    case = outbox.case
    assert case.first_response_due_at is not None
    send_pending()
    case.refresh_from_db()
    outbox.refresh_from_db()
    assert case.first_response_at == outbox.sent_at
    assert case.last_response_at == outbox.sent_at
    assert case.awaiting_since is None
    assert case.status == CaseStatus.PENDING_CUSTOMER
    assert case.first_response_due_at is None
    assert case.next_response_due_at is None
    assert case.escalation_at == case.resolution_due_at
    event = CaseEvent.objects.get(type=CaseEvent.Type.REPLY_SENT)
    assert event.params == {"outbox_id": outbox.pk, "channel": "x", "external_id": "fd-k-1"}
    assert event.actor == agent


def test_held_replies_are_not_sent(workspace: Workspace, agent: Agent) -> None:
    outbox = queue_reply(workspace, agent)
    OutboxMessage.objects.filter(pk=outbox.pk).update(status=OutboxMessage.Status.HELD)
    assert send_pending() == 0
    outbox.refresh_from_db()
    assert outbox.status == OutboxMessage.Status.HELD


def test_failure_backs_off_then_dies(
    workspace: Workspace, agent: Agent, fake: "FakeConnector"
) -> None:
    outbox = queue_reply(workspace, agent)
    fake.fail_with = ConnectionError("platform said 503")
    before = timezone.now()
    assert send_pending() == 0
    outbox.refresh_from_db()
    assert outbox.status == OutboxMessage.Status.PENDING
    assert outbox.attempts == 1
    assert outbox.last_error == "ConnectionError: platform said 503"
    assert outbox.available_at >= before + timedelta(seconds=30)
    assert send_pending() == 0  # not due yet
    assert OutboxMessage.objects.get(pk=outbox.pk).attempts == 1
    for attempt in range(2, 6):
        OutboxMessage.objects.filter(pk=outbox.pk).update(available_at=timezone.now())
        send_pending()
        outbox.refresh_from_db()
        assert outbox.attempts == attempt
    assert outbox.status == OutboxMessage.Status.DEAD
    message = Message.objects.get(pk=outbox.message_id)
    assert message.delivery_status == DeliveryStatus.FAILED
    assert message.external_id is None
    assert not CaseEvent.objects.filter(type=CaseEvent.Type.REPLY_SENT).exists()
    case = Case.objects.get(pk=outbox.case_id)
    assert case.first_response_at is None


def test_backoff_grows_and_is_capped() -> None:
    assert [sender.backoff(n).total_seconds() for n in (1, 2, 3, 4)] == [30, 60, 120, 240]
    assert sender.backoff(30) == timedelta(hours=1)


def test_automatic_acknowledgement_goes_out_but_does_not_stop_the_clock(
    workspace: Workspace,
) -> None:
    case = make_case(workspace)
    now = timezone.now()
    message = Message.objects.create(
        workspace=workspace,
        case=case,
        channel="x",
        direction=Direction.OUTBOUND,
        visibility="public",
        in_reply_to="m-1",
        brand_handle="@AcmeSupport",
        text="We received your security report.",
        sent_at=now,
        delivery_status=DeliveryStatus.QUEUED,
    )
    OutboxMessage.objects.create(
        workspace=workspace,
        case=case,
        message=message,
        idempotency_key="ack-security-x-m-1",
        channel="x",
        available_at=now,
        tone_verdict={"allowed": True, "automatic": True},
    )
    assert send_pending() == 1
    message.refresh_from_db()
    case.refresh_from_db()
    assert message.external_id == "fd-ack-security-x-m-1"
    assert case.first_response_at is None
    assert case.status == CaseStatus.NEW
    assert CaseEvent.objects.get(type=CaseEvent.Type.REPLY_SENT).actor is None


def test_stop_between_rows_releases_the_rest(workspace: Workspace, agent: Agent) -> None:
    first = queue_reply(workspace, agent, key="a")
    second = queue_reply(workspace, agent, key="b")
    checks = iter([False, True])
    assert send_pending(should_stop=lambda: next(checks)) == 1
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == OutboxMessage.Status.SENT
    assert second.status == OutboxMessage.Status.PENDING
    assert second.attempts == 0
    assert second.claim_token == ""


def test_expired_lease_is_reclaimed(workspace: Workspace, agent: Agent) -> None:
    outbox = queue_reply(workspace, agent)
    OutboxMessage.objects.filter(pk=outbox.pk).update(
        status=OutboxMessage.Status.SENDING,
        claim_token="dead-worker",
        lease_until=datetime(2020, 1, 1, tzinfo=UTC),
    )
    assert send_pending() == 1
    outbox.refresh_from_db()
    assert outbox.status == OutboxMessage.Status.SENT


def test_sender_command_drains(workspace: Workspace, agent: Agent) -> None:
    queue_reply(workspace, agent, key="a")
    queue_reply(workspace, agent, key="b")
    call_command("sender", "--drain")
    assert set(OutboxMessage.objects.values_list("status", flat=True)) == {"sent"}


def test_a_connected_account_sends_through_its_connector(
    workspace: Workspace, agent: Agent, fake: FakeConnector
) -> None:
    outbox = queue_reply(workspace, agent)
    assert send_pending() == 1
    outbox.refresh_from_db()
    assert outbox.account is not None and outbox.account.kind == "x"
    [request] = fake.sent
    assert request.text == f"On it ^{agent.initials}"
    assert request.in_reply_to == "in-k-1"
    assert request.thread == ("in-k-1",)
    assert request.recipient is not None
    assert Message.objects.get(pk=outbox.message_id).external_id == "tw-1"
    assert fake.lookups == 0  # a first attempt has nothing to reconcile


def test_a_crash_after_posting_is_reconciled_not_posted_twice(
    workspace: Workspace, agent: Agent, fake: FakeConnector, monkeypatch: pytest.MonkeyPatch
) -> None:
    outbox = queue_reply(workspace, agent)

    def killed(**kwargs: object) -> None:
        raise SystemExit("worker killed between the platform call and the commit")

    monkeypatch.setattr(sender, "_commit_sent", killed)
    with pytest.raises(SystemExit):
        send_pending()
    assert len(fake.sent) == 1
    monkeypatch.undo()
    monkeypatch.setattr(registry, "connector", lambda kind: fake)
    # the dead worker's lease runs out; another worker claims the row again
    OutboxMessage.objects.filter(pk=outbox.pk).update(lease_until=datetime(2020, 1, 1, tzinfo=UTC))
    assert send_pending() == 1
    assert len(fake.sent) == 1
    assert fake.lookups == 1
    outbox.refresh_from_db()
    assert outbox.status == OutboxMessage.Status.SENT
    assert Message.objects.get(pk=outbox.message_id).external_id == "tw-1"


def test_rate_limited_replies_wait_without_spending_attempts(
    workspace: Workspace, agent: Agent, fake: FakeConnector
) -> None:
    first = queue_reply(workspace, agent, key="a")
    second = queue_reply(workspace, agent, key="b")
    reset = timezone.now() + timedelta(minutes=15)
    fake.fail_with = RateLimited(reset, "HTTP 429")
    assert send_pending() == 0
    for outbox in (first, second):
        outbox.refresh_from_db()
        assert outbox.status == OutboxMessage.Status.PENDING
        assert outbox.attempts == 0
        assert outbox.available_at == reset
        assert outbox.last_error.startswith("waiting:")
    assert Channel.objects.get(kind="x").send_blocked_until == reset
    fake.fail_with = None
    assert send_pending() == 0  # nothing is due before the reset: no spinning
    assert fake.sent == []


def test_own_budget_per_account_defers_the_excess(
    workspace: Workspace, agent: Agent, fake: FakeConnector, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        FakeConnector, "rate_limit", RateLimit(posts=2, window=timedelta(minutes=15))
    )
    boxes = [queue_reply(workspace, agent, key=k) for k in "abc"]
    assert send_pending() == 2
    boxes[2].refresh_from_db()
    assert boxes[2].status == OutboxMessage.Status.PENDING
    assert boxes[2].attempts == 0
    sent_first = OutboxMessage.objects.filter(status="sent").order_by("sent_at").first()
    assert sent_first is not None and sent_first.sent_at is not None
    assert boxes[2].available_at == sent_first.sent_at + timedelta(minutes=15)


def test_a_permanent_refusal_goes_to_dead_letters_at_once(
    workspace: Workspace, agent: Agent, fake: FakeConnector
) -> None:
    outbox = queue_reply(workspace, agent)
    fake.fail_with = PermanentSendError("HTTP 403 you cannot reply to this tweet")
    send_pending()
    outbox.refresh_from_db()
    assert outbox.status == OutboxMessage.Status.DEAD
    assert outbox.attempts == 1
    assert "403" in outbox.last_error


def test_the_platform_echo_arriving_first_is_folded_into_our_reply(
    workspace: Workspace, agent: Agent, fake: FakeConnector
) -> None:
    outbox = queue_reply(workspace, agent)
    Message.objects.create(
        workspace=workspace,
        case=outbox.case,
        channel="x",
        direction=Direction.OUTBOUND,
        visibility="public",
        external_id="tw-1",
        text=f"On it ^{agent.initials}",
        sent_at=timezone.now(),
        delivery_status=DeliveryStatus.SENT,
    )
    assert send_pending() == 1
    assert Message.objects.filter(external_id="tw-1").get().pk == outbox.message_id
