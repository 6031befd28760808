"""The customer portal's records: links sent to customers, one-time code challenges,
verified portal sessions, and satisfaction answers.

No secret is stored: links, codes and session cookies are kept as digests only, so a
copy of the database opens no portal. A link's or a code's outbound message carries the
secret until it is delivered; then its text is replaced by ``safe_text``
(``services.redact_delivered``).
"""

import uuid

from django.db import models
from django.db.models import Q

from fairdesk.cases.models import Case, Message
from fairdesk.contacts.models import Contact, ContactIdentity
from fairdesk.workspaces.models import Agent, Workspace


class PortalLink(models.Model):
    """A signed link to the portal, sent privately to one contact of one workspace.

    Opening it never signs anyone in (links get forwarded): it only lets the holder ask
    for a one-time code on one of the contact's own channels.
    """

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="portal_links")
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="portal_links")
    channel = models.CharField(max_length=30, help_text="Where the link was sent.")
    digest = models.CharField(max_length=64, unique=True)
    idempotency_key = models.CharField(max_length=100)
    message = models.ForeignKey(
        Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    safe_text = models.TextField(help_text="The message text with the link removed.")
    redacted_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        Agent, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    opened_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        Agent, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "idempotency_key"], name="portal_link_unique_key"
            ),
        ]
        indexes = [
            models.Index(fields=["case", "created_at"], name="portal_link_case_idx"),
            models.Index(
                fields=["workspace"],
                name="portal_link_unredacted_idx",
                condition=Q(redacted_at__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return f"portal link {self.public_id}"


class PortalChallenge(models.Model):
    """A one-time code sent to one of the contact's identities. Only an HMAC of the code
    is kept; ``attempts`` only ever grows, by a conditional UPDATE (see ``verification``)."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    link = models.ForeignKey(PortalLink, on_delete=models.CASCADE, related_name="challenges")
    identity = models.ForeignKey(ContactIdentity, on_delete=models.CASCADE, related_name="+")
    code_digest = models.CharField(max_length=64)
    attempts = models.PositiveSmallIntegerField(default=0)
    message = models.ForeignKey(
        Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    safe_text = models.TextField(help_text="The message text with the code removed.")
    redacted_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    verified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["link", "created_at"], name="portal_code_link_idx"),
            models.Index(
                fields=["workspace"],
                name="portal_code_unredacted_idx",
                condition=Q(redacted_at__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return f"portal code {self.public_id}"


class PortalSession(models.Model):
    """A verified customer in the portal of one workspace. The cookie holds a random
    secret; only its SHA-256 is stored. It ends at logout, at ``expires_at`` (never after
    its link expires) or as soon as its link is revoked."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="+")
    link = models.ForeignKey(PortalLink, on_delete=models.CASCADE, related_name="sessions")
    identity = models.ForeignKey(
        ContactIdentity,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The identity the customer proved control of.",
    )
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"portal session of contact {self.contact_id}"


class CsatResponse(models.Model):
    """The customer's satisfaction with a closed case: one answer per case, 1 to 5."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    case = models.OneToOneField(Case, on_delete=models.CASCADE, related_name="csat")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="+")
    channel = models.CharField(max_length=30, default="portal")
    score = models.PositiveSmallIntegerField()
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(score__gte=1, score__lte=5), name="csat_score_1_to_5"
            ),
        ]
        indexes = [models.Index(fields=["workspace", "created_at"], name="csat_period_idx")]

    def __str__(self) -> str:
        return f"CSAT {self.score} on case {self.case_id}"
