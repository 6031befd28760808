"""The demo stream through the real pipeline: each story ends as the demo promises."""

from django.core import mail

from fairdesk.cases.models import QUEUE_STATUSES, CaseEvent, Message
from fairdesk.cases.queries import queue_page
from fairdesk.contacts.models import Contact
from fairdesk.demo.guide import StoryCases, story_cases
from fairdesk.demo.loading import LoadSummary, load_demo_stream
from fairdesk.demo.platform_ids import x_user_id
from fairdesk.demo.platforms import DemoPlatforms
from fairdesk.demo.setup import DemoWorkspace
from fairdesk.demo.stream import SPAM_COPIES, SPAM_TEXT
from fairdesk.inbound.models import InboundEvent
from fairdesk.replies.models import OutboxMessage

from .conftest import NOW


def cases(demo: DemoWorkspace) -> StoryCases:
    return story_cases(demo.workspace)


def test_everything_is_processed(demo: DemoWorkspace, loaded: LoadSummary) -> None:
    assert loaded.stored == loaded.processed > 90
    assert not InboundEvent.objects.exclude(status=InboundEvent.Status.DONE).exists()


def test_security_report_is_critical_routed_and_acknowledged(
    demo: DemoWorkspace, loaded: LoadSummary
) -> None:
    case = cases(demo).security
    assert case is not None
    assert case.severity == "critical"
    assert case.team is not None and case.team.slug == "security"
    assert case.events.filter(type=CaseEvent.Type.ACKNOWLEDGED).count() == 1
    ack = OutboxMessage.objects.get(case=case)
    assert ack.status == OutboxMessage.Status.SENT
    assert case.reference in ack.message.text
    assert case.events.filter(type=CaseEvent.Type.REPLY_SENT).count() == 1
    first = queue_page(workspace=demo.workspace).cases[0]
    assert first == case


def test_dana_is_one_customer_with_one_case_on_three_channels_and_the_portal(
    demo: DemoWorkspace, loaded: LoadSummary
) -> None:
    case = cases(demo).dana
    assert case is not None
    inbound = case.messages.filter(direction="inbound").order_by("sent_at")
    assert list(inbound.values_list("channel", "visibility")) == [
        ("x", "public"),
        ("x", "private"),
        ("email", "private"),
        ("portal", "private"),  # her private continuation (test_dryer.py)
        ("x", "private"),  # her "yes" to "Is this fixed for you?" (test_dryer.py)
    ]
    assert case.reference in inbound[2].text
    contacts = Contact.objects.filter(
        identities__external_id__in=[x_user_id("x-dana-r"), "dana@example.com"]
    ).distinct()
    assert list(contacts) == [case.contact]
    assert set(case.contact.identities.values_list("channel", flat=True)) == {"x", "email"}
    assert case.contact.cases.count() == 1


def test_praise_is_forwarded_to_maria_and_her_manager(
    demo: DemoWorkspace, loaded: LoadSummary
) -> None:
    case = cases(demo).praise
    assert case is not None
    event = case.events.get(type=CaseEvent.Type.PRAISE_FORWARDED)
    assert event.params["employee"] == "Maria Lopez"
    assert event.params["manager"] == "Grace Hopper"
    to_maria = [m for m in mail.outbox if "maria.lopez@acme.example" in m.to]
    assert len(to_maria) == 1
    assert "grace.hopper@acme.example" in to_maria[0].to
    assert case.status in QUEUE_STATUSES


def test_quiet_and_loud_customers_get_identical_deadlines(
    demo: DemoWorkspace, loaded: LoadSummary
) -> None:
    story = cases(demo)
    small, loud = story.small_customer, story.loud_customer
    assert small is not None and loud is not None and small != loud
    assert (small.origin_channel, loud.origin_channel) == ("email", "x")
    assert loud.contact.identities.get().follower_count == 200_000
    assert small.contact.identities.get().follower_count is None
    assert small.first_response_due_at is not None
    assert small.first_response_due_at == loud.first_response_due_at
    assert small.escalation_at == loud.escalation_at
    assert small.severity == loud.severity


def test_thirty_spam_comments_make_no_case(demo: DemoWorkspace, loaded: LoadSummary) -> None:
    spam = Message.objects.filter(workspace=demo.workspace, text=SPAM_TEXT)
    assert spam.count() == SPAM_COPIES == 30
    assert spam.filter(is_spam=True).count() == 30
    assert not spam.filter(case__isnull=False).exists()
    assert not demo.workspace.cases.filter(subject__contains="Earn $500").exists()


def test_loading_twice_changes_nothing(
    demo: DemoWorkspace, platforms: DemoPlatforms, loaded: LoadSummary
) -> None:
    messages, cases_before = Message.objects.count(), demo.workspace.cases.count()
    again = load_demo_stream(demo.workspace, NOW, platforms=platforms)
    assert again.stored == 0 and again.duplicates == loaded.stored
    assert (Message.objects.count(), demo.workspace.cases.count()) == (messages, cases_before)
