import uuid

from django.db import models

from fairdesk.workspaces.models import Workspace


class Channel(models.Model):
    """One connected account or mailbox of a workspace, with its ingest health."""

    class Kind(models.TextChoices):
        X = "x", "X (Twitter)"
        FACEBOOK = "facebook", "Facebook"
        INSTAGRAM = "instagram", "Instagram"
        MASTODON = "mastodon", "Mastodon"
        BLUESKY = "bluesky", "Bluesky"
        EMAIL = "email", "E-mail"
        WEBFORM = "webform", "Web form"
        PHONE = "phone", "Phone"

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="channels")
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    name = models.CharField(max_length=200)
    # Validated per kind by ``config.validate_config``; never holds secrets.
    config = models.JSONField(default=dict, blank=True)
    # Fernet ciphertext of a JSON object (see ``secrets.py``); never the plaintext.
    credentials_encrypted = models.TextField(blank=True)
    last_event_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    # Where polling resumes (last seen id, IMAP UID validity + UID, Bluesky cursor, …);
    # written in the same transaction as the events it read, never secret.
    cursor = models.JSONField(default=dict, blank=True)
    last_poll_at = models.DateTimeField(null=True, blank=True)
    # Sending: the platform said "too many" (429) or our own budget is spent until then.
    send_blocked_until = models.DateTimeField(null=True, blank=True)
    last_sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["workspace", "name"]
        indexes = [models.Index(fields=["workspace", "kind"], name="channel_workspace_kind_idx")]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"


class WebformSubmission(models.Model):
    """One stored web form submission: maps the hidden token the form was rendered with to
    the server-made id of its interchange record, so a double submit stores once and both
    clicks land on the same thank-you page (whose URL carries ``public_id``)."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE)
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="submissions")
    token = models.UUIDField()
    # Also the interchange record's external id on channel "webform".
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["channel", "token"], name="webform_unique_token"),
        ]

    def __str__(self) -> str:
        return f"webform:{self.public_id}"


class RateCounter(models.Model):
    """Hits of one client key (a keyed hash, never the raw IP or e-mail) in one fixed time
    window: a counter in the database, so every web process shares it. Rows of past
    windows are removed when a new window starts."""

    scope = models.CharField(max_length=40)
    key = models.CharField(max_length=64)
    window_start = models.DateTimeField()
    hits = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["window_start", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["scope", "key", "window_start"], name="ratecounter_unique_window"
            ),
        ]
        indexes = [models.Index(fields=["scope", "window_start"], name="ratecounter_window_idx")]

    def __str__(self) -> str:
        return f"{self.scope} {self.window_start:%Y-%m-%d %H:%M}: {self.hits}"


class AttachmentFetch(models.Model):
    """A file that came with a message as a link, to be downloaded by the media worker
    (``fairdesk media``) through the SSRF-safe fetcher, never while acknowledging.

    One row per (message, position), so processing a message again adds nothing. It ends
    ``done`` (an ``Attachment`` row holds the file) or ``failed`` (``error`` says why and
    an ``Attachment`` note says "could not fetch"); transient failures are retried a few
    times with a growing wait, never forever.
    """

    class Status(models.TextChoices):
        PENDING = "pending"
        PROCESSING = "processing"
        DONE = "done"
        FAILED = "failed"

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE)
    channel = models.CharField(max_length=30)
    message_external_id = models.CharField(max_length=200)
    position = models.PositiveSmallIntegerField()
    url = models.TextField()
    kind = models.CharField(max_length=30, blank=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True)
    available_at = models.DateTimeField()
    claim_token = models.CharField(max_length=40, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "channel", "message_external_id", "position"],
                name="attachmentfetch_unique_position",
            ),
        ]
        indexes = [
            models.Index(
                fields=["available_at", "id"],
                name="attachmentfetch_pending_idx",
                condition=models.Q(status="pending"),
            ),
            models.Index(
                fields=["lease_until"],
                name="attachmentfetch_claimed_idx",
                condition=models.Q(status="processing"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.channel}:{self.message_external_id}#{self.position} ({self.status})"
