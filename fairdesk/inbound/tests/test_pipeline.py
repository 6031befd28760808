from collections.abc import Callable

from django.core import mail

from conftest import record
from fairdesk.cases.models import Case, CaseEvent, CaseStatus, Message
from fairdesk.contacts.models import Contact, ContactIdentity
from fairdesk.inbound.models import InboundEvent
from fairdesk.replies.models import OutboxMessage
from fairdesk.workspaces.models import Workspace

Ingest = Callable[..., int]


def test_one_customer_three_channels_is_one_case(workspace: Workspace, ingest: Ingest) -> None:
    ingest(
        workspace, [record("t1", "My 3 year old dryer stopped heating. Heating element failed?")]
    )
    case = Case.objects.get()
    ingest(
        workspace,
        [
            record(
                "dm1",
                "Sending the details here, my email is dana@example.com",
                visibility="private",
                minutes=5,
            )
        ],
    )
    ingest(
        workspace,
        [
            record(
                "<m1@example.com>",
                f"Re: {case.reference} repair booking attached",
                channel="email",
                author="dana@example.com",
                handle="dana@example.com",
                minutes=30,
            )
        ],
    )
    assert Case.objects.count() == 1
    assert Contact.objects.count() == 1
    assert ContactIdentity.objects.count() == 2
    assert list(Message.objects.filter(case=case).values_list("channel", flat=True)) == [
        "x",
        "x",
        "email",
    ]
    assert InboundEvent.objects.filter(status="done").count() == 3
    assert Contact.objects.get().email == "dana@example.com"


def test_reply_chain_threads_and_brand_reply_answers(workspace: Workspace, ingest: Ingest) -> None:
    ingest(
        workspace,
        [
            record("1", "Where is my refund? Charged twice for one order"),
            record(
                "2",
                "Sorry about that, DM us your order number ^AB",
                direction="outbound",
                author="brand",
                handle="@AcmeSupport",
                in_reply_to="1",
                minutes=10,
            ),
        ],
    )
    case = Case.objects.get()
    assert case.first_response_at is not None
    assert case.status == CaseStatus.PENDING_CUSTOMER
    assert case.first_response_due_at is None
    assert Message.objects.filter(case=case).count() == 2


def test_security_report_is_critical_routed_and_acknowledged(
    workspace: Workspace, ingest: Ingest
) -> None:
    ingest(
        workspace,
        [
            record(
                "s1",
                "@AcmeSupport security vulnerability: your admin debug panel is exposed to the "
                "internet, any hacker can log in. Don't send me to a hotline.",
            )
        ],
    )
    case = Case.objects.get()
    assert case.severity == "critical"
    assert case.team is not None and case.team.slug == "security"
    assert case.events.filter(type=CaseEvent.Type.ACKNOWLEDGED).count() == 1
    outbox = OutboxMessage.objects.get(case=case)
    assert case.reference in outbox.message.text
    assert outbox.message.in_reply_to == "s1"


def test_praise_reaches_employee_and_manager(
    workspace: Workspace, staff: dict, ingest: Ingest, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        ingest(
            workspace,
            [record("p1", "Huge thanks to Maria on flight AC123, she was so kind to my kids!")],
        )
    case = Case.objects.get()
    assert case.severity == "low"
    event = case.events.get(type=CaseEvent.Type.PRAISE_FORWARDED)
    assert event.params["employee"] == "Maria Lopez"
    assert event.params["manager"] == "Grace Hopper"
    assert len(mail.outbox) == 1
    assert sorted(mail.outbox[0].to) == ["grace@acme.test", "maria@acme.test"]


def test_thirty_spam_comments_make_no_case(workspace: Workspace, ingest: Ingest) -> None:
    promo = "Earn $500 a day from home!!! Click here http://bit.ly/x DM for promo, buy now"
    ingest(
        workspace,
        [record(f"sp{i}", promo, author=f"bot{i}", handle=f"@bot{i}") for i in range(30)],
    )
    assert Case.objects.count() == 0
    assert Message.objects.filter(is_spam=True).count() == 30


def test_duplicate_delivery_is_a_no_op(workspace: Workspace, ingest: Ingest) -> None:
    ingest(workspace, [record("d1", "My order never arrived")])
    ingest(workspace, [record("d1", "My order never arrived")])
    assert Message.objects.count() == 1
    assert InboundEvent.objects.count() == 1


def test_workspaces_never_share_contacts_or_cases(
    workspace: Workspace, other_workspace: Workspace, ingest: Ingest
) -> None:
    ingest(workspace, [record("w1", "My order never arrived")])
    ingest(other_workspace, [record("w1", "My order never arrived")])
    assert Case.objects.filter(workspace=workspace).count() == 1
    assert Case.objects.filter(workspace=other_workspace).count() == 1
    assert Contact.objects.count() == 2


def test_bad_payload_ends_dead_without_blocking_others(
    workspace: Workspace, ingest: Ingest, settings
) -> None:
    settings.FAIRDESK_MAX_ATTEMPTS = 1
    ingest(workspace, [record("ok1", "Hello, where is my parcel?")])
    InboundEvent.objects.create(
        workspace=workspace,
        channel="x",
        external_id="bad",
        payload={"channel": "x", "text": "no author"},
        available_at=InboundEvent.objects.get().received_at,
        received_at=InboundEvent.objects.get().received_at,
    )
    ingest(workspace, [record("ok2", "Still waiting for my parcel", author="u-2", handle="@b")])
    bad = InboundEvent.objects.get(external_id="bad")
    assert bad.status == "dead"
    assert "invalid payload" in bad.last_error
    assert InboundEvent.objects.filter(status="done").count() == 2
