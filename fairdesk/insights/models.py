"""The root-cause catalogue and the record of weekly digests sent to its owners.

A case's root cause is stored on the case as the cause's slug (``Case.root_cause``): the
figures group cases by that column without a join, the hot cases table needs no new
column, and a cause that is retired (``active=False``) keeps its history. So a slug is
never renamed; the name, description and owner may change at any time.
"""

from typing import Any

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


# -- rollups ------------------------------------------------------------------------------
#
# Per (workspace, UTC day) sums behind the figures, refreshed by ``fairdesk insights
# rollup`` (``insights.rollups``). A figure reads the days listed in ``RollupDay`` from its
# cells and queries the rest of its period live, so it is exact whether or not the refresh
# has run. Cells keep ids (team) rather than names: a renamed team shows its new name.


class RollupState(models.Model):
    """How far the rollups of a workspace have read the changes: case events up to
    ``event_cursor`` (id) and rows updated since ``changed_since``."""

    workspace = models.OneToOneField(Workspace, on_delete=models.CASCADE, related_name="+")
    event_cursor = models.BigIntegerField(default=0)
    changed_since = models.DateTimeField()
    refreshed_at = models.DateTimeField()

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"rollups of {self.workspace_id} at {self.refreshed_at:%Y-%m-%d %H:%M}"


class RollupDay(models.Model):
    """One day of one figure summed into its cells (no row: the day is read live)."""

    class Figure(models.TextChoices):
        PARITY = "parity"
        SERVICE_LEVELS = "service_levels"
        CRICKETS = "crickets"
        CSAT = "csat"
        ROOT_CAUSES = "root_causes"
        PROMOTERS = "promoters"
        # A calendar month's sets of people (``PromoterPeople`` with ``month``); ``day``
        # is the month's first day.
        PROMOTER_MONTHS = "promoter_months"
        # A week's parity sums (``ParityWeekCell``); ``day`` is the week's Monday.
        PARITY_WEEKS = "parity_weeks"
        PRAISE = "praise"

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    figure = models.CharField(max_length=20, choices=Figure.choices)
    day = models.DateField()
    # The SLA table the day was measured against ("" when the figure does not use it).
    targets_key = models.CharField(max_length=64, blank=True)
    computed_at = models.DateTimeField()
    # Summed before every deadline of the day had passed (crickets): some of its cells
    # still wait on the clock. The refresh sums it again once they all have.
    pending = models.BooleanField(default=False)

    class Meta:
        ordering = ["figure", "day"]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "figure", "day"], name="rollup_day_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.figure} {self.day}"


class Cell(models.Model):
    """What every rollup cell has: the workspace and the UTC day it sums."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()

    objects: "models.Manager[Any]"

    class Meta:
        abstract = True
        ordering = ["day", "id"]

    def __str__(self) -> str:
        return f"{type(self).__name__} {self.day}"


class ParitySums(Cell):
    """Per dimension, group and stratum: counts of cases and the moments of log waits
    (``insights.comparison``)."""

    dimension = models.CharField(max_length=12)
    bucket = models.CharField(max_length=40)
    severity = models.CharField(max_length=20)
    entitlement = models.CharField(max_length=20)
    cases = models.PositiveIntegerField()
    first_response_n = models.PositiveIntegerField()
    first_response_sum = models.FloatField()
    first_response_squares = models.FloatField()
    resolution_n = models.PositiveIntegerField()
    resolution_sum = models.FloatField()
    resolution_squares = models.FloatField()
    proposed = models.PositiveIntegerField(help_text="Cases with a proposal of resolution.")
    made_whole = models.PositiveIntegerField(help_text="Cases the customer confirmed fixed.")
    compensated = models.PositiveIntegerField(help_text="Cases with a refund or goodwill.")

    class Meta(Cell.Meta):
        abstract = True


class ParityCell(ParitySums):
    """The parity sums of the cases first raised on the day."""

    class Meta(ParitySums.Meta):
        indexes = [
            models.Index(fields=["workspace", "dimension", "day"], name="parity_cell_idx"),
        ]


class ParityWeekCell(ParitySums):
    """The parity sums of a week (Monday to Sunday, ``day`` its Monday): the sums of its
    seven days' ``ParityCell`` rows, written by the refresh once every day of the week is
    rolled up (``RollupDay`` figure ``parity_weeks`` marks it). A year of parity reads
    ~52 weeks of these rather than grouping ~21,000 day cells per dimension by week."""

    class Meta(ParitySums.Meta):
        indexes = [
            models.Index(fields=["workspace", "dimension", "day"], name="parity_week_idx"),
        ]


class ServiceLevelCell(Cell):
    """Cases first raised on the day (all of them past every deadline), per severity,
    team and channel of origin: deadlines met, met late and overdue."""

    severity = models.CharField(max_length=20)
    team = models.ForeignKey(
        "workspaces.Team", null=True, on_delete=models.SET_NULL, related_name="+"
    )
    origin_channel = models.CharField(max_length=30)
    cases = models.PositiveIntegerField()
    first_response_met = models.PositiveIntegerField()
    first_response_late = models.PositiveIntegerField()
    first_response_overdue = models.PositiveIntegerField()
    resolution_met = models.PositiveIntegerField()
    resolution_late = models.PositiveIntegerField()
    resolution_overdue = models.PositiveIntegerField()

    class Meta(Cell.Meta):
        indexes = [models.Index(fields=["workspace", "day"], name="service_level_cell_idx")]


class CricketCell(Cell):
    """Customer messages written on the day, per sentiment, praise, channel and team: how
    many, how many due, how many never answered, as at the refresh.

    Messages still inside their deadline at the refresh are kept apart, grouped also by
    the time they were sent and their deadline's length in seconds (``sent_at`` and
    ``target``, otherwise null): ``due`` and ``crickets`` are 0 there, ``unanswered``
    counts those no reply had answered, and the reader counts them due once ``target``
    seconds have passed since ``sent_at``. A reply written later changes the case, which
    sends the day back to the live query until the next refresh.
    """

    sentiment = models.CharField(max_length=10)
    is_praise = models.BooleanField()
    channel = models.CharField(max_length=30)
    team = models.ForeignKey(
        "workspaces.Team", null=True, on_delete=models.SET_NULL, related_name="+"
    )
    messages = models.PositiveIntegerField()
    due = models.PositiveIntegerField()
    crickets = models.PositiveIntegerField()
    sent_at = models.DateTimeField(null=True)
    target = models.FloatField(null=True)
    unanswered = models.PositiveIntegerField(default=0)

    class Meta(Cell.Meta):
        indexes = [models.Index(fields=["workspace", "day"], name="cricket_cell_idx")]


class CsatCell(Cell):
    """CSAT answers given on the day, per channel of origin and team."""

    origin_channel = models.CharField(max_length=30)
    team = models.ForeignKey(
        "workspaces.Team", null=True, on_delete=models.SET_NULL, related_name="+"
    )
    n = models.PositiveIntegerField()
    happy = models.PositiveIntegerField()
    total = models.PositiveIntegerField()

    class Meta(Cell.Meta):
        indexes = [models.Index(fields=["workspace", "day"], name="csat_cell_idx")]


class PraiseCell(Cell):
    """Kudos (``praise_forwarded`` events) of the day, per (employee, manager) as the
    events recorded them: how many, how many answered, and the names they carried (the
    greatest, as the live query picks one). Both keys may be missing (NULL)."""

    # NULL, not "": an event without the key is its own group, apart from an empty key.
    employee_key = models.TextField(null=True)  # noqa: DJ001
    employee_name = models.TextField(null=True)  # noqa: DJ001
    manager_key = models.TextField(null=True)  # noqa: DJ001
    manager_name = models.TextField(null=True)  # noqa: DJ001
    kudos = models.PositiveIntegerField()
    answered = models.PositiveIntegerField()

    class Meta(Cell.Meta):
        indexes = [models.Index(fields=["workspace", "day"], name="praise_cell_idx")]


class RootCauseCell(Cell):
    """Cases first raised on the day, per triage topic and tagged cause, with repeats."""

    topic = models.CharField(max_length=40)
    root_cause = models.CharField(max_length=100)
    cases = models.PositiveIntegerField()
    topic_repeats = models.PositiveIntegerField()
    cause_repeats = models.PositiveIntegerField()

    class Meta(Cell.Meta):
        indexes = [models.Index(fields=["workspace", "day"], name="root_cause_cell_idx")]


class PromoterPeople(Cell):
    """Who wrote to us in public on one UTC day (or, with ``month``, in the calendar month
    starting at ``day``), spam excluded, for the Social Promoter Score
    (``queries.promoters``): the authors, who of them promoted, who detracted, and who
    detracted on a case resolved (or closed) at or after the detraction. Each is a set of
    contact ids (``insights.people``), so a period's distinct people are the union of its
    days' sets, never a sum of per-day counts. A day with no author has no row.

    A month's row is the union of its days' rows, written by the refresh once every day
    of the month is rolled up (``RollupDay`` figure ``promoter_months`` marks it) and
    dropped with its marker when any of its days is forgotten or summed again; a period
    reads a month from here only when none of its days is stale.

    The sets hold contact ids, not foreign keys: a contact merge (or its undo) makes the
    days of both contacts' messages stale (``coverage``), and the refresh writes them
    again."""

    month = models.BooleanField(default=False, help_text="The row is a calendar month.")
    authors = models.BinaryField()
    promoted = models.BinaryField()
    detracted = models.BinaryField()
    resolved = models.BinaryField(help_text="Detracted on a case resolved after it.")

    class Meta(Cell.Meta):
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "month", "day"], name="promoter_people_unique"
            ),
        ]


class PromoterEvent(Cell):
    """What the times to conversion of the Social Promoter Score are measured between, for
    one public, non-spam message written on ``day``: a promotion (``at``: when it was
    written), or the resolution (or closing) of the case a detraction was on, at or after
    the detraction (``at``: when the case was resolved). Read by person for the converted
    people only, through ``promoter_event_idx`` (on PostgreSQL an index-only scan), never
    through their identities, messages and cases.

    ``person`` is the writer's contact id but not a foreign key: a contact merge (or its
    undo) makes the days of both contacts' messages stale (``coverage``), and a case
    resolved, reopened or closed makes its messages' days stale, and the refresh writes
    them again."""

    PROMOTION, RESOLUTION = 0, 1

    person = models.BigIntegerField(help_text="The contact's id.")
    kind = models.PositiveSmallIntegerField(
        choices=[(PROMOTION, "promotion"), (RESOLUTION, "resolution")]
    )
    at = models.DateTimeField()

    class Meta(Cell.Meta):
        indexes = [
            models.Index(
                fields=["workspace", "person", "day"],
                include=["kind", "at"],
                name="promoter_event_idx",
            )
        ]
