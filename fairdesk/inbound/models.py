from django.db import models
from django.db.models import Q

from fairdesk.workspaces.models import Workspace


class InboundEvent(models.Model):
    """A raw delivery from a channel, stored durably and exactly once before processing."""

    class Status(models.TextChoices):
        PENDING = "pending"
        PROCESSING = "processing"
        DONE = "done"
        DEAD = "dead"

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE)
    channel = models.CharField(max_length=30)
    external_id = models.CharField(max_length=200)
    source = models.CharField(max_length=30, default="interchange")
    payload = models.JSONField()
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    available_at = models.DateTimeField()
    claim_token = models.CharField(max_length=40, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    # A partition of customers (see services.lane_of): concurrent workers claim different
    # lanes, so their batches rarely share a customer and rarely wait on each other.
    lane = models.PositiveSmallIntegerField(default=0)
    received_at = models.DateTimeField()
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "channel", "external_id"], name="inbound_unique_external"
            ),
        ]
        indexes = [
            models.Index(
                fields=["lane", "available_at", "id"],
                name="inbound_pending_lane_idx",
                condition=Q(status="pending"),
            ),
            models.Index(
                fields=["lease_until"],
                name="inbound_processing_idx",
                condition=Q(status="processing"),
            ),
            models.Index(
                fields=["workspace", "status"],
                name="inbound_dead_idx",
                condition=Q(status="dead"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.channel}:{self.external_id} ({self.status})"


class ActivePileon(models.Model):
    """One problem (a ``triage.pileon.problems_of`` label) that has been a pile-on, so that a
    batch joining it reads only the reports new since, not the whole crowd again
    (``inbound.threading``). ``last_at``: the latest report of the pile-on; every report of
    the problem in the window before it was raised by then. Written only inside the pipeline
    batch that found the pile-on; figures, never customer text."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE)
    problem = models.CharField(max_length=400)
    started_at = models.DateTimeField()
    last_at = models.DateTimeField()
    reports = models.PositiveIntegerField()
    authors = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "problem"], name="active_pileon_unique_problem"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.problem} ({self.authors} customers, until {self.last_at:%Y-%m-%d %H:%M})"
