"""The weekly root-cause digest: each process owner gets one e-mail per ISO week listing
their causes with that week's cases, the trend over the last ``TREND_WEEKS`` weeks and the
share of repeat contacts (the figures of ``queries.root_causes``, so they match the page).

Once per (owner, week): a ``DigestSent`` row is written and committed *before* the mail is
handed to the mail backend, so a rerun, or a second cron on another host, skips that
owner. If sending raises, the row is deleted again and the next run retries; if the
process dies between the two, the row stays without ``sent_at`` and is reported, never
sent twice.

Names and texts are hostile: the HTML part is rendered with autoescaping, every line of the
text part is collapsed onto one line, and the subject has control characters removed, so
a cause or workspace name with CRLF can never add a header or forge a line.
"""

import logging
import re
import smtplib
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.mail.backends.base import BaseEmailBackend
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.utils import timezone

from fairdesk.insights.models import DigestSent, RootCause
from fairdesk.insights.queries.root_causes import REPEAT_DAYS, CauseFigure, cause_counts
from fairdesk.workspaces.models import Agent, Workspace

logger = logging.getLogger(__name__)

TREND_WEEKS = 4
SUBJECT_CHARS = 150
_WEEK_RE = re.compile(r"^(\d{4})-W(\d{2})$")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f\u2028\u2029\x85]+")


class BadWeek(ValueError):
    """Not an ISO week like 2026-W45; the message says why."""


@dataclass(frozen=True, slots=True)
class Week:
    label: str  # 2026-W45
    start: datetime  # Monday 00:00 UTC
    end: datetime  # the next Monday

    @classmethod
    def of(cls, day: date) -> "Week":
        year, number, _ = day.isocalendar()
        monday = date.fromisocalendar(year, number, 1)
        start = datetime(monday.year, monday.month, monday.day, tzinfo=UTC)
        return cls(f"{year}-W{number:02d}", start, start + timedelta(weeks=1))


def parse_week(text: str) -> Week:
    match = _WEEK_RE.match(text.strip())
    if not match:
        raise BadWeek(f"{text[:20]!r} is not an ISO week like 2026-W45.")
    try:
        return Week.of(date.fromisocalendar(int(match[1]), int(match[2]), 1))
    except ValueError as exc:
        raise BadWeek(f"{text[:20]!r} is not a week of that year.") from exc


def last_full_week(now: datetime) -> Week:
    """The week before the one ``now`` falls in (a Monday cron reports the week just over)."""
    return Week.of(now.astimezone(UTC).date() - timedelta(weeks=1))


def one_line(text: str) -> str:
    """Control characters (CR, LF, tab, …) and runs of spaces become one space."""
    return " ".join(_CONTROL_RE.sub(" ", text).split())


@dataclass(frozen=True, slots=True)
class CauseLine:
    name: str
    cases: int
    repeats: int
    repeat_share: float | None
    trend: tuple[int, ...]  # cases per week, oldest first; the last is this week
    change: int  # this week minus the week before

    @property
    def trend_text(self) -> str:
        return ", ".join(str(n) for n in self.trend)


@dataclass(frozen=True, slots=True)
class Digest:
    workspace: Workspace
    owner: Agent
    week: Week
    causes: tuple[CauseLine, ...]

    @property
    def owner_name(self) -> str:
        return one_line(self.owner.display_name)

    @property
    def workspace_name(self) -> str:
        return one_line(self.workspace.name)

    @property
    def recipient(self) -> str:
        return self.owner.user.email

    @property
    def subject(self) -> str:
        subject = f"Root causes, week {self.week.label}: {self.workspace_name}"
        return subject[:SUBJECT_CHARS]

    def message(self) -> EmailMultiAlternatives:
        context = {"digest": self, "repeat_days": REPEAT_DAYS, "trend_weeks": TREND_WEEKS}
        mail = EmailMultiAlternatives(
            subject=self.subject,
            body=render_to_string("insights/digest.txt", context),
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[self.recipient],
        )
        mail.attach_alternative(render_to_string("insights/digest.html", context), "text/html")
        return mail


@dataclass
class DigestRun:
    week: str
    sent: list[str] = field(default_factory=list)  # recipients
    planned: list[str] = field(default_factory=list)  # --dry-run: who would get one
    already_sent: list[str] = field(default_factory=list)
    unconfirmed: list[str] = field(default_factory=list)  # claimed, never marked sent
    no_email: list[str] = field(default_factory=list)  # owners without an address
    failed: list[str] = field(default_factory=list)  # the mail server refused; retried next run


def _line(week: CauseFigure, trend: CauseFigure) -> CauseLine:
    counts = tuple(w.cases for w in trend.weeks)
    return CauseLine(
        name=one_line(week.name),
        cases=week.cases,
        repeats=week.repeats,
        repeat_share=week.repeat_share,
        trend=counts,
        change=counts[-1] - counts[-2] if len(counts) > 1 else 0,
    )


def workspace_digests(workspace: Workspace, week: Week) -> list[Digest]:
    """One digest per owner of an active cause in the workspace: four queries."""
    causes = RootCause.objects.filter(
        workspace=workspace, active=True, owner__isnull=False, owner__workspace=workspace
    )
    owners = {c.slug: c.owner for c in causes.select_related("owner__user")}
    if not owners:
        return []
    this_week = {f.key: f for f in cause_counts(workspace, week.start, week.end)}
    trend_start = week.start - timedelta(weeks=TREND_WEEKS - 1)
    trends = {f.key: f for f in cause_counts(workspace, trend_start, week.end)}
    lines: dict[int, list[CauseLine]] = defaultdict(list)
    by_pk: dict[int, Agent] = {}
    for slug, owner in owners.items():
        assert owner is not None
        by_pk[owner.pk] = owner
        lines[owner.pk].append(_line(this_week[slug], trends[slug]))
    return [
        Digest(workspace, by_pk[pk], week, tuple(sorted(found, key=lambda c: (-c.cases, c.name))))
        for pk, found in sorted(lines.items())
    ]


def send_digests(*, week: Week, dry_run: bool = False) -> DigestRun:
    """Send every owner of every workspace their digest of ``week``, once."""
    run = DigestRun(week=week.label)
    done = dict(DigestSent.objects.filter(week=week.label).values_list("owner_id", "sent_at"))
    workspaces = Workspace.objects.filter(
        root_causes__active=True, root_causes__owner__isnull=False
    )
    connection = None if dry_run else get_connection()
    for workspace in workspaces.distinct().order_by("id"):
        for digest in workspace_digests(workspace, week):
            who = f"{digest.owner_name} <{digest.recipient}>"
            if digest.owner.pk in done:
                (run.already_sent if done[digest.owner.pk] else run.unconfirmed).append(who)
            elif not digest.recipient:
                run.no_email.append(digest.owner_name)
            elif dry_run:
                run.planned.append(who)
            else:
                outcomes = {"sent": run.sent, "taken": run.already_sent, "failed": run.failed}
                outcomes[_send_once(digest, connection)].append(who)
    return run


def _send_once(digest: Digest, connection: BaseEmailBackend | None) -> str:
    """Claim (owner, week), send, mark sent: "sent", "taken" (claimed by another run)
    or "failed" (the claim is dropped again, so the next run retries)."""
    try:
        with transaction.atomic():
            claim = DigestSent.objects.create(
                workspace=digest.workspace,
                owner=digest.owner,
                week=digest.week.label,
                recipient=digest.recipient,
                causes=len(digest.causes),
            )
    except IntegrityError:
        return "taken"
    mail = digest.message()
    mail.connection = connection
    try:
        mail.send()
    except (OSError, smtplib.SMTPException):
        logger.warning("Digest to %s not sent", digest.recipient, exc_info=True)
        claim.delete()
        return "failed"
    DigestSent.objects.filter(pk=claim.pk).update(sent_at=timezone.now())
    return "sent"
