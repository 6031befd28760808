from django.db import models

from fairdesk.workspaces.models import Workspace


class Entitlement(models.TextChoices):
    """Contractual service tier. The only customer attribute allowed to change deadlines."""

    STANDARD = "standard"
    PREMIUM = "premium"


class Contact(models.Model):
    """The person. One contact may have many identities across channels."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="contacts")
    display_name = models.CharField(max_length=200, blank=True)
    email = models.CharField(max_length=320, blank=True)
    phone = models.CharField(max_length=50, blank=True)
    entitlement = models.CharField(
        max_length=20, choices=Entitlement.choices, default=Entitlement.STANDARD
    )
    # Set when this person was found to be another contact (``contacts.merge``); the row
    # stays so the merge can be undone exactly.
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="merged_contacts"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["workspace", "email"], name="contact_email_idx"),
            models.Index(fields=["workspace", "phone"], name="contact_phone_idx"),
        ]

    def __str__(self) -> str:
        return self.display_name or f"contact {self.pk}"

    def newest_identities(self) -> dict[str, "ContactIdentity"]:
        """The most recently updated identity on each channel (ties: the newest row).
        Reads ``identities.all()``, so a page that prefetched them reads nothing."""
        newest: dict[str, ContactIdentity] = {}
        for identity in self.identities.all():
            best = newest.get(identity.channel)
            if best is None or (identity.updated_at, identity.pk) > (best.updated_at, best.pk):
                newest[identity.channel] = identity
        return newest


class ContactIdentity(models.Model):
    """An account on one channel. ``follower_count`` is kept for display only."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE)
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="identities")
    channel = models.CharField(max_length=30)
    external_id = models.CharField(max_length=320)
    handle = models.CharField(max_length=320, blank=True)
    display_name = models.CharField(max_length=200, blank=True)
    follower_count = models.PositiveIntegerField(null=True, blank=True)
    verified = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        verbose_name_plural = "contact identities"
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "channel", "external_id"], name="identity_unique_external"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.channel}:{self.handle or self.external_id}"


class ContactEvent(models.Model):
    """Append-only log of what happened to a contact itself (merges and their undo): a
    contact may have no case to carry the event. Never updated, never deleted."""

    class Type(models.TextChoices):
        MERGED = "merged"
        MERGE_UNDONE = "merge_undone"

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="events")
    type = models.CharField(max_length=30, choices=Type.choices)
    params = models.JSONField(default=dict, blank=True)
    actor = models.ForeignKey(
        "workspaces.Agent", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    at = models.DateTimeField()

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["contact", "at"], name="contactevent_contact_idx")]

    def __str__(self) -> str:
        return f"{self.type} on contact {self.contact_id}"
