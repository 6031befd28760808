import uuid
from pathlib import Path

from django.conf import settings
from django.db import models
from django.db.models import Q

from fairdesk.contacts.models import Contact, ContactIdentity, Entitlement
from fairdesk.routing.models import Severity
from fairdesk.workspaces.models import Agent, Team, Workspace


class CaseStatus(models.TextChoices):
    NEW = "new"
    OPEN = "open"
    PENDING_CUSTOMER = "pending_customer"
    PENDING_INTERNAL = "pending_internal"
    RESOLVED = "resolved"
    CLOSED = "closed"
    # Folded into another case (``merged_into``); kept, never deleted, so undo is exact.
    MERGED = "merged"


OPEN_STATUSES = (
    CaseStatus.NEW,
    CaseStatus.OPEN,
    CaseStatus.PENDING_CUSTOMER,
    CaseStatus.PENDING_INTERNAL,
)
QUEUE_STATUSES = (CaseStatus.NEW, CaseStatus.OPEN, CaseStatus.PENDING_INTERNAL)


class Case(models.Model):
    """One customer problem, whatever the channels it arrived on."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="cases")
    contact = models.ForeignKey(Contact, on_delete=models.PROTECT, related_name="cases")
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.SET_NULL)
    assignee = models.ForeignKey(Agent, null=True, blank=True, on_delete=models.SET_NULL)
    status = models.CharField(max_length=20, choices=CaseStatus.choices, default=CaseStatus.NEW)
    severity = models.CharField(max_length=20, choices=Severity.choices, default=Severity.NORMAL)
    entitlement = models.CharField(
        max_length=20, choices=Entitlement.choices, default=Entitlement.STANDARD
    )
    reason = models.CharField(max_length=40, blank=True)
    topic = models.CharField(max_length=40, blank=True)
    subject = models.CharField(max_length=200, blank=True)
    origin_channel = models.CharField(max_length=30)
    # Lifecycle: one timestamp per stage.
    first_inbound_at = models.DateTimeField()
    last_inbound_at = models.DateTimeField()
    awaiting_since = models.DateTimeField(null=True, blank=True)
    first_response_at = models.DateTimeField(null=True, blank=True)
    last_response_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    # Deadlines from the SLA policy; escalation_at is the earliest open one (queue key).
    first_response_due_at = models.DateTimeField(null=True, blank=True)
    next_response_due_at = models.DateTimeField(null=True, blank=True)
    resolution_due_at = models.DateTimeField(null=True, blank=True)
    escalation_at = models.DateTimeField(null=True, blank=True)
    next_step = models.CharField(max_length=300, blank=True)
    eta = models.DateTimeField(null=True, blank=True)
    root_cause = models.CharField(max_length=100, blank=True)
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="merged_cases"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["escalation_at", "id"]
        indexes = [
            models.Index(
                fields=["workspace", "escalation_at", "id"],
                name="case_queue_idx",
                condition=Q(status__in=["new", "open", "pending_internal"]),
            ),
            models.Index(
                fields=["workspace", "contact"],
                name="case_open_by_contact_idx",
                condition=Q(status__in=["new", "open", "pending_customer", "pending_internal"]),
            ),
            models.Index(fields=["workspace", "first_inbound_at"], name="case_period_idx"),
            # Insights rollups: which cases changed since the last refresh (insights/rollups.py).
            models.Index(fields=["workspace", "updated_at"], name="case_changed_idx"),
            # The "unassigned" view: the queue's order among cases nobody holds. Without
            # it PostgreSQL underestimates how many open cases are unassigned (the two
            # go together) and sorts all of them (8,000 at 1M cases: 50 ms a page).
            models.Index(
                fields=["workspace", "escalation_at", "id"],
                name="case_unassigned_idx",
                condition=Q(status__in=["new", "open", "pending_internal"], assignee__isnull=True),
            ),
            # The "waiting on customer" view: outside the queue index, same order.
            models.Index(
                fields=["workspace", "escalation_at", "id"],
                name="case_waiting_idx",
                condition=Q(status="pending_customer"),
            ),
        ]

    def __str__(self) -> str:
        return self.reference

    @property
    def reference(self) -> str:
        return f"FD-{self.pk}"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


class Direction(models.TextChoices):
    INBOUND = "inbound"
    OUTBOUND = "outbound"
    SYSTEM = "system"


class Visibility(models.TextChoices):
    PUBLIC = "public"
    PRIVATE = "private"
    INTERNAL = "internal"


class DeliveryStatus(models.TextChoices):
    RECEIVED = "received"
    QUEUED = "queued"
    HELD = "held"
    SENT = "sent"
    FAILED = "failed"


class Message(models.Model):
    """Anything said on a case: inbound from a customer, outbound from an agent, or a note."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE)
    case = models.ForeignKey(
        Case, null=True, blank=True, on_delete=models.CASCADE, related_name="messages"
    )
    channel = models.CharField(max_length=30)
    direction = models.CharField(max_length=10, choices=Direction.choices)
    visibility = models.CharField(max_length=10, choices=Visibility.choices)
    identity = models.ForeignKey(
        ContactIdentity, null=True, blank=True, on_delete=models.SET_NULL, related_name="messages"
    )
    agent = models.ForeignKey(Agent, null=True, blank=True, on_delete=models.SET_NULL)
    # NULL until an outbound message is sent: unique only among real platform ids.
    external_id = models.CharField(max_length=200, null=True, blank=True)  # noqa: DJ001
    in_reply_to = models.CharField(max_length=200, blank=True)
    brand_handle = models.CharField(max_length=100, blank=True)
    text = models.TextField()
    sent_at = models.DateTimeField(help_text="Platform time the message was written.")
    delivery_status = models.CharField(
        max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.RECEIVED
    )
    sentiment = models.CharField(max_length=10, blank=True)
    stance = models.CharField(max_length=10, blank=True)
    is_spam = models.BooleanField(default=False)
    duplicate_of = models.CharField(max_length=200, blank=True)
    triage = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["sent_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "channel", "external_id"], name="message_unique_external"
            ),
        ]
        indexes = [
            models.Index(fields=["case", "sent_at"], name="message_timeline_idx"),
            models.Index(fields=["workspace", "sent_at"], name="message_period_idx"),
            # Live updates: "newer than the cursor, in this workspace" (cases/live.py).
            models.Index(fields=["workspace", "id"], name="message_live_idx"),
            # The Social Promoter Score's per-person reads (insights/queries/promoters.py:
            # times to conversion, "never detracted", the drill-down): a person's public
            # promotions and warnings only, about 3 % of all messages, instead of every
            # message of theirs. On PostgreSQL it also carries what the drill-down's
            # ordering pass reads (workspace, stance, id), so that pass never visits the
            # messages themselves (SQLite has no such columns and ignores them).
            models.Index(
                fields=["identity", "sent_at"],
                include=["workspace", "stance", "id"],
                name="message_stance_idx",
                condition=Q(
                    stance__in=["promotes", "detracts"],
                    direction="inbound",
                    visibility="public",
                    is_spam=False,
                ),
            ),
            # "Was this message answered?" (insights: crickets, praise): the replies that
            # reached someone, by case and time, so each check is one probe of this index
            # (no heap visits) instead of reading every message of the case. Its
            # condition is the one ``insights.queries.expressions.replied`` writes.
            models.Index(
                fields=["case", "sent_at"],
                name="message_reply_idx",
                condition=Q(direction="outbound")
                & ~Q(delivery_status__in=[DeliveryStatus.HELD, DeliveryStatus.FAILED])
                & ~Q(visibility="internal"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.channel}:{self.external_id}"


class CaseEvent(models.Model):
    """Append-only timeline and audit log of a case. Never updated, never deleted."""

    class Type(models.TextChoices):
        OPENED = "opened"
        MESSAGE_RECEIVED = "message_received"
        SEVERITY_CHANGED = "severity_changed"
        ROUTED = "routed"
        ACKNOWLEDGED = "acknowledged"
        PRAISE_FORWARDED = "praise_forwarded"
        REPLY_QUEUED = "reply_queued"
        REPLY_SENT = "reply_sent"
        REPLY_BLOCKED = "reply_blocked"
        REPLY_HELD = "reply_held"
        TONE_OVERRIDE = "tone_override"
        STATUS_CHANGED = "status_changed"
        ASSIGNED = "assigned"
        WORK_ORDER_CREATED = "work_order_created"
        WORK_ORDER_UPDATED = "work_order_updated"
        UNASSIGNED = "unassigned"
        ESCALATED = "escalated"
        MERGED = "merged"
        MERGE_UNDONE = "merge_undone"
        SPLIT = "split"
        SPLIT_UNDONE = "split_undone"
        CONTACT_MERGED = "contact_merged"
        CONTACT_MERGE_UNDONE = "contact_merge_undone"
        ROOT_CAUSE_TAGGED = "root_cause_tagged"
        PORTAL_LINK_SENT = "portal_link_sent"
        IDENTITY_VERIFIED = "identity_verified"
        SATISFACTION_RATED = "satisfaction_rated"

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE)
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="events")
    type = models.CharField(max_length=30, choices=Type.choices)
    params = models.JSONField(default=dict, blank=True)
    actor = models.ForeignKey(Agent, null=True, blank=True, on_delete=models.SET_NULL)
    at = models.DateTimeField()

    class Meta:
        ordering = ["at", "id"]
        indexes = [
            models.Index(fields=["case", "at"], name="caseevent_timeline_idx"),
            # Live updates: "newer than the cursor, in this workspace" (cases/live.py).
            models.Index(fields=["workspace", "id"], name="caseevent_live_idx"),
            # The kudos log and praise figures read a period's praise events alone.
            models.Index(
                fields=["workspace", "at"],
                name="caseevent_praise_idx",
                condition=models.Q(type="praise_forwarded"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.type} on {self.case_id}"


class Attachment(models.Model):
    """A file that came with a message (an e-mail attachment), stored content-addressed.

    Linked to its message by (channel, external id) because the file is stored when the
    message is received, before the pipeline creates the ``Message`` row. The bytes are
    served only as a download (``application/octet-stream``); ``content_type`` is what
    the sender declared, shown, never trusted.
    """

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="attachments")
    channel = models.CharField(max_length=30)
    message_external_id = models.CharField(max_length=200)
    position = models.PositiveSmallIntegerField(help_text="Order within its message, from 0.")
    filename = models.CharField(max_length=200)
    content_type = models.CharField(max_length=100)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["message_external_id", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "channel", "message_external_id", "position"],
                name="attachment_unique_position",
            ),
        ]

    def __str__(self) -> str:
        return self.filename

    @property
    def path(self) -> Path:
        return self.storage_path(self.sha256)

    @staticmethod
    def storage_path(sha256: str) -> Path:
        """Where the bytes are: ``DATA_DIR/attachments/ab/abcdef…`` (shared by equal files)."""
        return Path(settings.DATA_DIR) / "attachments" / sha256[:2] / sha256
