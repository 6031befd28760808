"""A pile-on alerts the team that owns its cases by e-mail, once (DESIGN §1.7).

Queued: the pipeline adds a ``TeamAlert`` row per team in the same transaction as the
pile-on's case events (``queue_pileon_alerts``), so an alert exists exactly when the
raise committed. The row holds case ids and figures, never customer text.

Sent: by the sender worker (``replies.sender.send_pending`` calls ``send_due``), outside
any transaction, through Django's mail backend. Rows are claimed like outbox rows
(``inbound.claims``). Before the mail server is called the row is stamped ``handed_at``
and committed: a worker killed after that point may have delivered it, so the row is
never sent again (UNCONFIRMED, shown on the row) — an alert is sent at most once. A
refusal the worker sees (connection refused, 4xx/5xx) clears the stamp and retries with
back-off, DEAD after ``MAX_ATTEMPTS``. The Message-ID is derived from the row's key, so
even a copy a mail server relays twice is one message to the reader.

Who: the team's ``alert_email`` (a shared mailbox or list, what a support operator
configures for on-call), else the team's agents that have an e-mail address.

Hostile text: the subject is built from our own labels (topic, signals, team name passed
through ``one_line``), the body is plain text, and case subjects (customer text) appear
only collapsed onto one line and shortened, so nothing can add a header or forge a line.
"""

import hashlib
import logging
import smtplib
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.core.mail import EmailMessage
from django.db.models import F, QuerySet
from django.urls import reverse
from django.utils import timezone

from fairdesk.cases.models import Case
from fairdesk.inbound.claims import claim
from fairdesk.triage.pileon import PileOn
from fairdesk.workspaces.models import Agent, Team, TeamAlert, Workspace

logger = logging.getLogger(__name__)

# A pile-on that keeps growing alerts its team again at most once an hour. The first
# alert already raised every case and put the team on it; each new customer's case is
# raised at once too and shows in the queue and on its timeline. What people away from
# the queue need is "still growing: now N customers", not one e-mail per new customer;
# an hour is twice the detection window (``pileon.PILEON_WINDOW``), so the figures have
# moved by then, and a page of them a day at worst stays readable.
REALERT_INTERVAL = timedelta(hours=1)
MAX_ATTEMPTS = 5
LEASE = timedelta(minutes=5)
BACKOFF_BASE = timedelta(seconds=30)
MAX_CASES_KEPT = 200  # case ids kept on a row
MAX_CASES_LISTED = 25  # case links in the body; the rest are counted
SUBJECT_CHARS = 150
SAMPLE_CHARS = 100
_CONTROL = dict.fromkeys([*range(32), 0x7F, 0x85, 0x2028, 0x2029], " ")


def one_line(text: str) -> str:
    """Control characters (CR, LF, tab, …) become spaces; runs of spaces become one."""
    return " ".join(text.translate(_CONTROL).split())


# --- queueing (inside the pipeline's transaction) -----------------------------------


@dataclass(slots=True)
class PileonAlert:
    """Cases a batch raised for one pile-on. ``continued``: some of its cases were alerted
    by an earlier batch (it grew). ``joined``: it shares reports with a pile-on this batch
    alerted under another problem label (one crowd, matched by its text and its topic)."""

    pileon: PileOn
    cases: list[Case]
    continued: bool
    joined: bool = False


def queue_pileon_alerts(workspace: Workspace, found: Sequence[PileonAlert]) -> list[TeamAlert]:
    """One alert per team and pile-on, unless that team was alerted about it (the same
    problem, or any pile-on this one continues) within ``REALERT_INTERVAL`` either side
    (imports may arrive out of order). One query, only in a batch that raised cases."""
    per_team: dict[tuple[int, int], list[Case]] = defaultdict(list)
    for n, alert in enumerate(found):
        for case in alert.cases:
            if case.team_id is not None:
                per_team[(case.team_id, n)].append(case)
    if not per_team:
        return []
    times = [found[n].pileon.last_at for _, n in per_team]
    recent: dict[int, list[tuple[str, datetime]]] = defaultdict(list)
    rows = TeamAlert.objects.filter(
        workspace=workspace,
        team_id__in={team_id for team_id, _ in per_team},
        kind=TeamAlert.Kind.PILEON,
        at__gt=min(times) - REALERT_INTERVAL,
        at__lt=max(times) + REALERT_INTERVAL,
    ).values_list("team_id", "params__problem", "at")
    for team_id, problem, at in rows:
        recent[team_id].append((problem, at))
    alerts: list[TeamAlert] = []
    queued: dict[int, TeamAlert] = {}  # each team's latest alert of this batch
    for (team_id, n), cases in sorted(per_team.items(), key=lambda item: item[0][1]):
        alert = found[n]
        if alert.joined and team_id in queued:  # the same crowd: one e-mail
            _add_cases(queued[team_id], cases)
            continue
        found_at = alert.pileon.last_at
        since = [p for p, at in recent[team_id] if abs(found_at - at) < REALERT_INTERVAL]
        if alert.pileon.problem in since or ((alert.continued or alert.joined) and since):
            continue
        queued[team_id] = _row(workspace, team_id, alert, cases, update=alert.continued)
        alerts.append(queued[team_id])
        recent[team_id].append((alert.pileon.problem, found_at))
    # Another worker may have queued the same pile-on's alert: the unique key keeps one.
    TeamAlert.objects.bulk_create(alerts, ignore_conflicts=True)
    return alerts


def _add_cases(row: TeamAlert, cases: list[Case]) -> None:
    ids = sorted({*row.params["case_ids"], *(c.pk for c in cases)})
    row.params["case_ids"] = ids[:MAX_CASES_KEPT]
    row.params["cases"] = len(ids)


def _row(
    workspace: Workspace, team_id: int, alert: PileonAlert, cases: list[Case], *, update: bool
) -> TeamAlert:
    found = alert.pileon
    digest = hashlib.sha256(found.problem.encode()).hexdigest()[:16]
    if update:  # one update per interval, whichever worker sees the growth first
        stamp = f"u{int(found.last_at.timestamp() // REALERT_INTERVAL.total_seconds())}"
    else:
        stamp = f"s{int(found.started_at.timestamp())}"
    first = cases[0]
    return TeamAlert(
        workspace=workspace,
        team_id=team_id,
        kind=TeamAlert.Kind.PILEON,
        key=f"pileon-{team_id}-{digest}-{stamp}",
        at=found.last_at,
        available_at=timezone.now(),
        params={
            "problem": found.problem,
            "topic": first.topic,
            "signals": found.problem.split(":")[2].split("+")
            if found.problem.startswith("signal:")
            else [],
            "authors": found.authors,
            "reports": found.reports or len(found.keys),
            "started_at": found.started_at.isoformat(),
            "last_at": found.last_at.isoformat(),
            "update": update,
            "case_ids": sorted(c.pk for c in cases)[:MAX_CASES_KEPT],
            "cases": len(cases),
        },
    )


# --- the text ------------------------------------------------------------------------


def describe(problem: str, topic: str) -> str:
    """Our own words for a problem label (``pileon.problems_of``); no customer text."""
    kind, _, rest = problem.partition(":")
    if kind == "signal":
        signal_topic, _, signals = rest.partition(":")
        named = ", ".join(s.replace("_", " ") for s in signals.split("+"))
        return f"{named} ({signal_topic})" if signal_topic != "other" else named
    if kind == "topic":
        return f"complaints about {rest}"
    return "the same message" + (f" ({topic})" if topic and topic != "other" else "")


def subject(alert: TeamAlert) -> str:
    params = alert.params
    what = describe(str(params["problem"]), str(params.get("topic", "")))
    head = "Pile-on growing" if params.get("update") else "Pile-on"
    text = f"{head} ({one_line(alert.team.name)}): {params['authors']} customers, {what}"
    return one_line(text)[:SUBJECT_CHARS]


def body(alert: TeamAlert, cases: Sequence[Case]) -> str:
    params = alert.params
    base = settings.FAIRDESK_BASE_URL
    started = datetime.fromisoformat(str(params["started_at"]))
    last = datetime.fromisoformat(str(params["last_at"]))
    lines = [
        f"Team: {one_line(alert.team.name)}",
        f"Problem: {describe(str(params['problem']), str(params.get('topic', '')))}",
        f"Customers: {params['authors']} different customers, {params['reports']} messages",
        f"Window: {started:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M} UTC",
        "",
        "Each case below was raised one severity level (never above critical) and is in",
        "your queue now.",
    ]
    if params.get("update"):
        lines.append("This pile-on was reported to you before; these cases are new since.")
    lines += ["", f"Cases ({params['cases']}):"]
    for case in cases[:MAX_CASES_LISTED]:
        sample = one_line(case.subject)[:SAMPLE_CHARS]
        link = base + reverse("case", args=[case.public_id])
        lines.append(f"- {case.reference} [{case.severity}] {link}")
        if sample:
            lines.append(f"  {sample}")
    if int(params["cases"]) > MAX_CASES_LISTED:
        lines.append(f"- and {int(params['cases']) - MAX_CASES_LISTED} more")
    topic = str(params.get("topic", ""))
    if topic and topic != "other":
        query = urlencode({"filter": 1, "topic": topic, "team": alert.team.slug})
        lines += ["", f"All open cases on this topic: {base}{reverse('queue')}?{query}"]
    lines += [
        "",
        "Fairdesk counts people, not messages: one customer writing many times never",
        "triggers this alert.",
    ]
    return "\n".join(lines) + "\n"


def recipients(team: Team) -> list[str]:
    if team.alert_email:
        return [team.alert_email]
    members = Agent.objects.filter(
        workspace_id=team.workspace_id, team=team, user__is_active=True
    ).exclude(user__email="")
    return sorted(set(members.values_list("user__email", flat=True)))


# --- sending (the sender worker) ----------------------------------------------------


def send_due(*, limit: int = 100, should_stop: Callable[[], bool] | None = None) -> int:
    """Send up to ``limit`` due alerts; returns how many went out.

    Called on every round of the sender loop: when no alert waits, one read and no write
    (on SQLite a write, even one that changes nothing, takes the database's write lock).
    """
    waiting = (TeamAlert.Status.PENDING, TeamAlert.Status.PROCESSING)
    if not TeamAlert.objects.filter(status__in=waiting).exists():
        return 0
    _expire_leases()
    token, ids = claim(TeamAlert, limit=limit, lease=LEASE)
    sent = 0
    for position, alert_id in enumerate(ids):
        if should_stop is not None and should_stop():  # SIGTERM: give the rest back
            _mine(token, ids[position:]).update(
                status=TeamAlert.Status.PENDING,
                claim_token="",
                lease_until=None,
                attempts=F("attempts") - 1,
            )
            break
        try:
            sent += _send_one(alert_id, token)
        except Exception as error:  # a bug, not the mail server: never retried blindly
            logger.exception("team alert %s failed", alert_id)
            _mine(token, [alert_id]).update(
                status=TeamAlert.Status.DEAD,
                claim_token="",
                lease_until=None,
                last_error=one_line(f"{type(error).__name__}: {error}")[:500],
            )
    return sent


def _mine(token: str, ids: Sequence[int]) -> QuerySet[TeamAlert]:
    """The rows of ``ids`` this worker still holds (its claim was not lost)."""
    return TeamAlert.objects.filter(
        id__in=ids, claim_token=token, status=TeamAlert.Status.PROCESSING
    )


def _expire_leases() -> None:
    """Rows of a worker that died: back to pending if the mail server was never called,
    else UNCONFIRMED (it may have gone out: never sent twice)."""
    now = timezone.now()
    expired = TeamAlert.objects.filter(status=TeamAlert.Status.PROCESSING, lease_until__lt=now)
    expired.filter(handed_at__isnull=False).update(
        status=TeamAlert.Status.UNCONFIRMED,
        claim_token="",
        lease_until=None,
        last_error="The worker stopped while handing it to the mail server; not resent.",
    )
    expired.filter(handed_at__isnull=True).update(
        status=TeamAlert.Status.PENDING, claim_token="", lease_until=None
    )


def _send_one(alert_id: int, token: str) -> int:
    alert = TeamAlert.objects.select_related("team").filter(pk=alert_id).first()
    if alert is None:
        return 0
    to = recipients(alert.team)
    if not to:
        _mine(token, [alert_id]).update(
            status=TeamAlert.Status.NO_RECIPIENT,
            claim_token="",
            lease_until=None,
            last_error="The team has no alert address and no member with an e-mail address.",
        )
        return 0
    cases = Case.objects.filter(
        workspace_id=alert.workspace_id, id__in=alert.params.get("case_ids", [])
    ).only("id", "public_id", "subject", "severity")
    mail = EmailMessage(
        subject=subject(alert),
        body=body(alert, sorted(cases, key=lambda c: c.pk)),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=to,
        headers={
            "Message-ID": f"<{alert.key}.{alert.workspace_id}@fairdesk.alert>",
            "Auto-Submitted": "auto-generated",
        },
    )
    # Committed before the mail server is called (autocommit): see the module docstring.
    if not _mine(token, [alert_id]).update(handed_at=timezone.now(), recipients=to):
        return 0  # the lease ran out and another worker has it
    try:
        mail.send(fail_silently=False)
    except (OSError, smtplib.SMTPException) as error:
        logger.warning("team alert %s not sent", alert_id, exc_info=True)
        _failed(alert, token, error)
        return 0
    _mine(token, [alert_id]).update(
        status=TeamAlert.Status.SENT,
        sent_at=timezone.now(),
        claim_token="",
        lease_until=None,
        last_error="",
    )
    return 1


def _failed(alert: TeamAlert, token: str, error: Exception) -> None:
    """The mail server refused it (so it was not sent): retry later, or give up."""
    dead = alert.attempts >= MAX_ATTEMPTS
    _mine(token, [alert.pk]).update(
        status=TeamAlert.Status.DEAD if dead else TeamAlert.Status.PENDING,
        handed_at=None,
        claim_token="",
        lease_until=None,
        available_at=timezone.now() + BACKOFF_BASE * 2 ** (alert.attempts - 1),
        last_error=one_line(str(error))[:500] or type(error).__name__,
    )
