"""The root-cause catalogue and the record of weekly digests sent to its owners.

A case's root cause is stored on the case as the cause's slug (``Case.root_cause``): the
figures group cases by that column without a join, the hot cases table needs no new
column, and a cause that is retired (``active=False``) keeps its history. So a slug is
never renamed; the name, description and owner may change at any time.
"""

from django.db import models

from fairdesk.workspaces.models import Agent, Workspace


class RootCause(models.Model):
    """A process failure that makes customers contact us, owned by whoever can remove it."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="root_causes")
    slug = models.SlugField(max_length=100, help_text="Stored on tagged cases; never renamed.")
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    owner = models.ForeignKey(
        Agent,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="owned_root_causes",
        help_text="The process owner: receives the weekly digest at their e-mail address.",
    )
    active = models.BooleanField(default=True, help_text="Retired causes keep their history.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["workspace", "name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "slug"], name="rootcause_unique_slug"),
        ]

    def __str__(self) -> str:
        return self.name


class DigestSent(models.Model):
    """One weekly digest to one owner. Written before the mail goes out, so that a rerun
    (or a second cron) never sends the same week twice; ``sent_at`` stays empty when the
    process died between the two, and the command reports such a digest instead of
    guessing whether it left."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE)
    owner = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="digests")
    week = models.CharField(max_length=8, help_text="ISO week, e.g. 2026-W45.")
    recipient = models.EmailField()
    causes = models.PositiveIntegerField(help_text="How many causes the digest listed.")
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-week", "id"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "week"], name="digest_once_per_week"),
        ]

    def __str__(self) -> str:
        return f"{self.week} to {self.recipient}"
