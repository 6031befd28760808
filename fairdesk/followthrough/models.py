import uuid

from django.db import models
from django.db.models import Q

from fairdesk.cases.models import Case, Message
from fairdesk.replies.models import OutboxMessage
from fairdesk.workspaces.models import Agent, Team, Workspace


class WorkOrderKind(models.Model):
    """A workspace's own kind of back-office step, beside the built-in ones."""

    workspace = models.ForeignKey(
        Workspace, on_delete=models.CASCADE, related_name="work_order_kinds"
    )
    slug = models.SlugField(max_length=40)
    label = models.CharField(max_length=100)
    default_team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["workspace", "label"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "slug"], name="work_order_kind_unique")
        ]

    def __str__(self) -> str:
        return self.label


class WorkOrder(models.Model):
    """One back-office step that makes the customer whole: a callback, a part, a visit, a
    refund, a security fix. The case stays ``pending_internal`` while any is open."""

    class Kind(models.TextChoices):
        CALLBACK = "callback", "Callback"
        PART_SHIPMENT = "part_shipment", "Part shipment"
        TECHNICIAN_VISIT = "technician_visit", "Technician visit"
        REFUND = "refund", "Refund"
        ACCOUNT_CHANGE = "account_change", "Account change"
        SECURITY_FIX = "security_fix", "Security fix"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        IN_PROGRESS = "in_progress", "In progress"
        DONE = "done", "Done"
        CANCELLED = "cancelled", "Cancelled"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE)
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="work_orders")
    # A built-in kind or the slug of one of the workspace's WorkOrderKinds.
    kind = models.CharField(max_length=40)
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="work_orders")
    owner = models.ForeignKey(
        Agent, null=True, blank=True, on_delete=models.SET_NULL, related_name="work_orders"
    )
    title = models.CharField(max_length=200, help_text="What the back office must do.")
    customer_label = models.CharField(
        max_length=200, help_text="What the customer sees, e.g. 'Replacement part on its way'."
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.OPEN)
    due_at = models.DateTimeField()
    depends_on = models.ManyToManyField("self", symmetrical=False, blank=True, related_name="+")
    idempotency_key = models.CharField(max_length=100)
    details = models.JSONField(default=dict, blank=True)
    external_ref = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(
        Agent, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    started_at = models.DateTimeField(null=True, blank=True)
    done_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["due_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "idempotency_key"], name="work_order_unique_key"
            )
        ]
        indexes = [
            # The back-office queue: a team's open orders, earliest due first.
            models.Index(
                fields=["workspace", "team", "due_at", "id"],
                name="work_order_queue_idx",
                condition=Q(status__in=["open", "in_progress"]),
            ),
            models.Index(fields=["case", "created_at"], name="work_order_case_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind}: {self.title}"

    @property
    def is_open(self) -> bool:
        return self.status in (self.Status.OPEN, self.Status.IN_PROGRESS)

    @property
    def kind_label(self) -> str:
        return dict(self.Kind.choices).get(self.kind, self.kind.replace("_", " ").capitalize())


class Resolution(models.Model):
    """One proposal that a case is resolved, and what the customer made of it.

    The made-whole rate is confirmed over proposals, the reopen rate reopened over
    proposals (``queries.resolution_rates``). ``quiet_closed`` means the case closed
    without an explicit yes: the quiet period passed, or an agent closed it meanwhile.
    """

    class Outcome(models.TextChoices):
        PENDING = "pending", "Waiting for the customer"
        CONFIRMED = "confirmed", "Confirmed fixed"
        QUIET_CLOSED = "quiet_closed", "Closed without an answer"
        REOPENED = "reopened", "Reopened"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE)
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="resolutions")
    proposed_by = models.ForeignKey(
        Agent, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    proposed_at = models.DateTimeField()
    # "Is this fixed for you?" as queued in the outbox.
    question = models.ForeignKey(
        OutboxMessage, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    outcome = models.CharField(max_length=20, choices=Outcome.choices, default=Outcome.PENDING)
    decided_at = models.DateTimeField(null=True, blank=True)
    # The customer's message that confirmed or reopened, when one did.
    answer = models.ForeignKey(
        Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # "How did we do, from 1 to 5?", queued with the closing message; a score on the
    # customer's channel is taken for FAIRDESK_CSAT_REPLY_DAYS after ``decided_at``.
    csat_question = models.ForeignKey(
        OutboxMessage, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["proposed_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["case"],
                condition=Q(outcome="pending"),
                name="resolution_one_pending",
            )
        ]
        indexes = [
            # The follow-through worker's scan of proposals still waiting.
            models.Index(
                fields=["proposed_at", "id"],
                name="resolution_pending_idx",
                condition=Q(outcome="pending"),
            ),
            models.Index(fields=["workspace", "proposed_at"], name="resolution_period_idx"),
        ]

    def __str__(self) -> str:
        return f"resolution of {self.case_id} ({self.outcome})"


class CoalescedNotice(models.Model):
    """One row per case for one kind of coalesced notice to the customer: when the next
    one is due and when the last one went out (``coalesce.mark_due``)."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE)
    # Set while a change waits to be told; NULL when the customer is up to date.
    due_at = models.DateTimeField(null=True, blank=True)
    last_sent_at = models.DateTimeField(null=True, blank=True)
    sent_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True
        ordering = ["id"]


class ExpectationUpdate(CoalescedNotice):
    """One row per case: what the customer was last told of its status, next step and
    ETA, and when the next update may go out. Changes inside the interval coalesce: the
    update that leaves carries the state at that moment (the latest wins)."""

    case = models.OneToOneField(Case, on_delete=models.CASCADE, related_name="expectation_update")
    told_status = models.CharField(max_length=20, blank=True)
    told_next_step = models.CharField(max_length=300, blank=True)
    told_eta = models.DateTimeField(null=True, blank=True)

    class Meta(CoalescedNotice.Meta):
        indexes = [
            models.Index(
                fields=["due_at", "id"],
                name="expectation_update_due_idx",
                condition=Q(due_at__isnull=False),
            )
        ]

    def __str__(self) -> str:
        return f"updates for {self.case_id}"


class ReplyNotice(CoalescedNotice):
    """One row per case: when the customer is next told, on their own channel, that an
    agent answered them in the portal. Answers inside the interval coalesce into one
    notice, which never carries the answer itself."""

    case = models.OneToOneField(Case, on_delete=models.CASCADE, related_name="reply_notice")
    # Answers delivered to the portal up to this moment were announced.
    told_until = models.DateTimeField(null=True, blank=True)

    class Meta(CoalescedNotice.Meta):
        indexes = [
            models.Index(
                fields=["due_at", "id"],
                name="reply_notice_due_idx",
                condition=Q(due_at__isnull=False),
            )
        ]

    def __str__(self) -> str:
        return f"portal reply notices for {self.case_id}"


class ScanCursor(models.Model):
    """How far a follow-through step has read an append-only table (by id), so that a
    run reads each row once and a second run finds nothing new."""

    name = models.SlugField(max_length=40, unique=True)
    position = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} at {self.position}"
