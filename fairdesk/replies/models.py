from django.db import models
from django.db.models import Q

from fairdesk.cases.models import Case, Message
from fairdesk.workspaces.models import Agent, Workspace


class OutboxMessage(models.Model):
    """An outbound message waiting to be sent by the sender worker, exactly once."""

    class Status(models.TextChoices):
        HELD = "held"  # blocked by the tone guard, waiting for a supervisor
        PENDING = "pending"
        SENDING = "sending"
        SENT = "sent"
        DEAD = "dead"

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE)
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="outbox")
    message = models.OneToOneField(Message, on_delete=models.CASCADE, related_name="outbox")
    idempotency_key = models.CharField(max_length=100)
    channel = models.CharField(max_length=30)
    # The connected account that sends it; none for channels without a live connector
    # (imported history, the demo's recorded channels): those sends are only recorded.
    account = models.ForeignKey(
        "connectors.Channel", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    available_at = models.DateTimeField()
    claim_token = models.CharField(max_length=40, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    tone_verdict = models.JSONField(default=dict, blank=True)
    author = models.ForeignKey(Agent, null=True, on_delete=models.SET_NULL, related_name="+")
    approved_by = models.ForeignKey(
        Agent, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "idempotency_key"], name="outbox_unique_key"
            ),
        ]
        indexes = [
            models.Index(
                fields=["available_at", "id"],
                name="outbox_pending_idx",
                condition=Q(status="pending"),
            ),
            # The per-account sending budget counts recent sends of one account.
            models.Index(
                fields=["account", "sent_at"],
                name="outbox_account_sent_idx",
                condition=Q(status="sent"),
            ),
        ]

    def __str__(self) -> str:
        return f"outbox {self.idempotency_key} ({self.status})"
