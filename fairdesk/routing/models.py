from django.db import models

from fairdesk.contacts.models import Entitlement
from fairdesk.workspaces.models import Workspace


class Severity(models.TextChoices):
    """What is wrong, from the content of the messages. Ordered most urgent first."""

    CRITICAL = "critical"
    HIGH = "high"
    NORMAL = "normal"
    LOW = "low"


SEVERITY_RANK = {Severity.CRITICAL: 0, Severity.HIGH: 1, Severity.NORMAL: 2, Severity.LOW: 3}


class SlaPolicy(models.Model):
    """Service targets per severity x entitlement.

    There is deliberately no channel, reach or visibility field: see DESIGN section 5.
    """

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="sla_policies")
    severity = models.CharField(max_length=20, choices=Severity.choices)
    entitlement = models.CharField(max_length=20, choices=Entitlement.choices)
    first_response_minutes = models.PositiveIntegerField()
    next_response_minutes = models.PositiveIntegerField()
    resolution_minutes = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["workspace", "severity", "entitlement"]
        verbose_name_plural = "SLA policies"
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "severity", "entitlement"], name="sla_unique_cell"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.severity}/{self.entitlement}"
