import hashlib
import secrets
import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q


class Workspace(models.Model):
    """The tenant. Every hot table carries ``workspace_id``."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(unique=True)
    brand_handle = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name


class Team(models.Model):
    """A group that can fix a kind of problem. ``handles`` lists triage topics it owns."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="teams")
    name = models.CharField(max_length=100)
    slug = models.SlugField()
    handles = models.JSONField(default=list, blank=True)
    is_default = models.BooleanField(default=False)
    # Where alerts for the team go (a shared mailbox or list). Empty: to the team's agents
    # that have an e-mail address (``alerts.recipients``).
    alert_email = models.EmailField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["workspace", "name"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "slug"], name="team_unique_slug"),
        ]

    def __str__(self) -> str:
        return self.name


class Agent(models.Model):
    """A user working in one workspace, with a role and the initials that sign replies."""

    class Role(models.TextChoices):
        AGENT = "agent"
        SUPERVISOR = "supervisor"
        ADMIN = "admin"

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="agents")
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="agent"
    )
    display_name = models.CharField(max_length=100)
    initials = models.CharField(max_length=4)
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.AGENT)
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.SET_NULL)
    # Availability for push assignment: only agents on shift are handed cases.
    is_available = models.BooleanField(default=False)
    # When a case was last handed to this agent: round robin among equally loaded agents.
    last_assigned_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["workspace", "display_name"]

    def __str__(self) -> str:
        return f"{self.display_name} ^{self.initials}"

    @property
    def can_override_tone(self) -> bool:
        return self.role in {self.Role.SUPERVISOR, self.Role.ADMIN}

    @property
    def is_supervisor(self) -> bool:
        """Supervisors and admins see everyone's load and share views with the workspace."""
        return self.role in {self.Role.SUPERVISOR, self.Role.ADMIN}


class Employee(models.Model):
    """The staff directory: people customers may praise, and their managers."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="employees")
    name = models.CharField(max_length=200)
    aliases = models.JSONField(default=list, blank=True)
    title = models.CharField(max_length=200, blank=True)
    email = models.EmailField(blank=True)
    manager = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="reports"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["workspace", "name"]

    def __str__(self) -> str:
        return self.name


class ApiToken(models.Model):
    """A bearer token for the API. Only a SHA-256 of the secret is stored."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="tokens")
    name = models.CharField(max_length=100, blank=True)
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return self.name or str(self.id)

    @staticmethod
    def digest_of(secret: str) -> str:
        return hashlib.sha256(secret.encode()).hexdigest()

    @staticmethod
    def new_secret() -> str:
        return "fd_" + secrets.token_urlsafe(32)


class TeamAlert(models.Model):
    """An e-mail to a team, queued in the transaction that decided it and sent once by the
    sender worker (``fairdesk.workspaces.alerts``). ``params`` holds what the text is built
    from (case ids, counts, times), never customer text."""

    class Kind(models.TextChoices):
        PILEON = "pileon"

    class Status(models.TextChoices):
        PENDING = "pending"
        PROCESSING = "processing"  # claimed by a worker (``inbound.claims``)
        SENT = "sent"
        # Handed to the mail server by a worker that died before recording the outcome:
        # it may have gone out, so it is never sent again (shown, not retried).
        UNCONFIRMED = "unconfirmed"
        NO_RECIPIENT = "no_recipient"  # no team address and no member with an e-mail
        DEAD = "dead"  # the mail server refused it MAX_ATTEMPTS times

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE)
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="alerts")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    key = models.CharField(max_length=100)
    params = models.JSONField(default=dict)
    # When it happened (the pile-on's latest message): re-alerts are spaced from it.
    at = models.DateTimeField()
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    available_at = models.DateTimeField()
    claim_token = models.CharField(max_length=40, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    handed_at = models.DateTimeField(null=True, blank=True)  # given to the mail server
    recipients = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "key"], name="team_alert_unique_key"),
        ]
        indexes = [
            models.Index(
                fields=["available_at", "id"],
                name="team_alert_pending_idx",
                condition=Q(status="pending"),
            ),
            models.Index(fields=["team", "kind", "at"], name="team_alert_recent_idx"),
        ]

    def __str__(self) -> str:
        return f"alert {self.key} ({self.status})"
