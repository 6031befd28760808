"""What the queue and case pages show, prepared in Python once per request.

The queue renders 50 rows on every page load, for 20 agents at a time: through the
template engine each row cost about 0.15 ms of CPU (about 20 variable look-ups, filters,
one ``reverse()``), which is most of a page. Here a row is plain strings, and its markup
is one ``format_html`` call, which escapes every value (customer text is hostile).

Nothing here decides anything: the order is the query's (earliest deadline first), and
channel, reach and loudness only ever appear as text.
"""

import html
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.forms import Form
from django.template.defaultfilters import filesizeformat, linebreaksbr
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import Truncator
from django.utils.translation import get_language

from fairdesk.cases.models import Attachment, Case, Direction, Message
from fairdesk.cases.queries import TimelineEntry, describe_due
from fairdesk.replies.models import OutboxMessage
from fairdesk.routing.conditions import BREACHING_SOON_MINUTES

SUBJECT_CHARS = 90
# What a row reads (``queue_page(only=...)``): the other 20 columns of a case, most of
# them timestamps, are not loaded; reading one would cost a query per row.
QUEUE_ROW_FIELDS = (
    "public_id",
    "workspace_id",
    "contact__display_name",
    "team__name",
    "assignee__display_name",
    "severity",
    "subject",
    "origin_channel",
    "escalation_at",
)
_PLACEHOLDER = uuid.UUID(int=0)


@dataclass(frozen=True, slots=True)
class QueueRow:
    """One case as the queue and search tables show it (plain strings, not yet escaped)."""

    case: Case
    public_id: str
    reference: str
    url: str
    due: str
    due_at: str  # ISO 8601, "" without a deadline
    overdue: bool
    breaching_soon: bool
    severity: str
    severity_label: str
    subject: str
    contact: str
    handle: str
    channel: str
    team: str
    assignee: str


def queue_rows(cases: list[Case], *, now: datetime | None = None) -> list[QueueRow]:
    """Display rows for ``cases`` (teams, contacts, assignees and identities preloaded)."""
    now = now or timezone.now()
    soon = now + timedelta(minutes=BREACHING_SOON_MINUTES)
    case_url = _url_maker("case")
    rows = []
    for case in cases:
        at = case.escalation_at
        contact = case.contact
        rows.append(
            QueueRow(
                case=case,
                public_id=str(case.public_id),
                reference=case.reference,
                url=case_url(case.public_id),
                due=describe_due(at, now),
                due_at=timezone.localtime(at).isoformat() if at is not None else "",
                overdue=at is not None and at < now,
                breaching_soon=at is not None and now <= at <= soon,
                severity=case.severity,
                severity_label=str(case.get_severity_display()),
                subject=Truncator(case.subject or "(no subject)").chars(SUBJECT_CHARS),
                contact=contact.display_name or "Unnamed contact",
                handle=next((i.handle for i in contact.identities.all() if i.handle), ""),
                channel=case.origin_channel,
                team=(case.team.name if case.team is not None else "") or "—",
                assignee=(case.assignee.display_name if case.assignee is not None else "") or "—",
            )
        )
    return rows


def _url_maker(name: str) -> Any:
    """``reverse(name, args=[public_id])`` for many ids from one ``reverse()``."""
    prefix, _, suffix = reverse(name, args=[_PLACEHOLDER]).partition(str(_PLACEHOLDER))
    return lambda public_id: f"{prefix}{public_id}{suffix}"


_PICK = (
    '<td class="pick"><input type="checkbox" name="case" value="{0}" aria-label="Select {1}"></td>'
)
_ROW = (
    '\n    <tr data-queue-row data-case-id="{0}" data-reference="{1}">\n      {pick}\n'
    '      <td><a href="{2}" data-row-link>{1}</a></td>\n'
    "      <td>{due}</td>\n"
    '      <td><span class="sev sev-{3}">{4}</span></td>\n'
    "      <td>{5}</td>\n"
    "      <td>{6}{handle}</td>\n"
    "      <td>{7}</td>\n"
    "      <td>{8}</td>\n"
    "      <td>{9}</td>\n"
    "    </tr>\n  "
)
_DUE = '<time datetime="{0}" class="{1}">{2}</time>{3}'
_SOON = '<span class="badge-soon">breaching soon</span>'


def rows_html(rows: list[QueueRow], *, selectable: bool) -> SafeString:
    """The ``<tr>`` of every row (keyboard shortcuts and live updates read the data-*
    attributes; a ticked box is named ``case`` for the bulk form).

    Every value goes through ``escape`` (what ``{{ }}`` and ``format_html`` do, without
    their per-value overhead); only the fixed markup above is not escaped."""
    return mark_safe("".join(_row_html(row, selectable) for row in rows))  # noqa: S308


def _row_html(row: QueueRow, selectable: bool) -> str:
    values = [
        escape(v)
        for v in (
            row.public_id,
            row.reference,
            row.url,
            row.severity,
            row.severity_label,
            row.subject,
            row.contact,
            row.channel,
            row.team,
            row.assignee,
        )
    ]
    due = escape(row.due)
    if row.due_at:
        state = "overdue" if row.overdue else "due"
        soon = _SOON if row.breaching_soon else ""
        due = _DUE.format(escape(row.due_at), state, due, soon)
    return _ROW.format(
        *values,
        pick=_PICK.format(values[0], values[1]) if selectable else "",
        due=due,
        handle=f' <span class="muted">{escape(row.handle)}</span>' if row.handle else "",
    )


def escape(value: str) -> str:
    """``django.utils.html.escape`` for a str (same five characters, same entities)."""
    return html.escape(value, quote=True)


# --- the filter box -------------------------------------------------------------------

FILTER_BOX_CACHE_SIZE = 256
_filter_boxes: dict[str, SafeString] = {}


def filter_box_html(form: Form) -> SafeString:
    """The queue's filter box (``form.as_div()``): 50 widgets, about 10 ms through the
    form templates. Unbound, the markup depends only on the form's class, its initial
    values (the view's conditions), its choices (the workspace's teams) and the language,
    so it is rendered once per such key and process. A bound form (the filter applied,
    maybe with errors) is always rendered afresh."""
    if form.is_bound:
        return form.as_div()
    choices = [(name, list(getattr(field, "choices", ()))) for name, field in form.fields.items()]
    key = repr((type(form), get_language(), sorted(form.initial.items()), choices))
    html = _filter_boxes.get(key)
    if html is None:
        html = form.as_div()
        if len(_filter_boxes) >= FILTER_BOX_CACHE_SIZE:
            _filter_boxes.clear()
        _filter_boxes[key] = html
    return html


# --- the case timeline ----------------------------------------------------------------

_MESSAGE = """
      <li class="msg msg-{direction} vis-{visibility}">
        <div class="meta">
          <span class="dir">{direction_label}</span>
          <span class="chan">{channel}</span>
          <span class="vis">{visibility_label}</span>
          <span class="author">{author}</span>
          <time datetime="{at_iso}">{at} UTC</time>
          {delivery}
        </div>
        <p class="text">{text}</p>
        {attachments}
        {tags}
        {outbox}
      </li>
      """
_EVENT = """
      <li class="event event-{type}">
        <div class="meta"><span class="title">{title}</span> {time}</div>
        {details}
      </li>
      """
_DELIVERY = '<span class="delivery delivery-{}">{}</span>'
_ATTACHMENT = '<li><a href="{}" download>{}</a> <span class="muted">{}, {}</span></li>'
_NOTHING_YET = '\n      <li class="muted">Nothing yet.</li>\n    '


def timeline_html(entries: list[TimelineEntry]) -> SafeString:
    """The ``<li>`` of every timeline entry, in the order given (platform time).

    Customer and agent text, handles, file names and event details are all escaped."""
    if not entries:
        return mark_safe(_NOTHING_YET)  # noqa: S308
    attachment_url = _url_maker("attachment")
    parts = []
    for entry in entries:
        if entry.message is not None:
            parts.append(_message_html(entry, attachment_url))
        elif entry.event is not None:
            parts.append(_event_html(entry))
    return mark_safe("".join(parts))  # noqa: S308


def _stamp(at: datetime) -> tuple[str, str]:
    local = timezone.localtime(at)
    return escape(local.isoformat()), local.strftime("%Y-%m-%d %H:%M")


def _message_html(entry: TimelineEntry, attachment_url: Any) -> str:
    m = entry.message
    assert m is not None
    inbound = m.direction == Direction.INBOUND
    outbox = getattr(m, "outbox", None)  # the reverse one-to-one is absent for most
    at_iso, at = _stamp(m.sent_at)
    delivery = ""
    if not inbound:
        delivery = _DELIVERY.format(
            escape(m.delivery_status), escape(str(m.get_delivery_status_display()))
        )
    return _MESSAGE.format(
        direction=escape(m.direction),
        visibility=escape(m.visibility),
        direction_label=escape(str(m.get_direction_display())),
        channel=escape(m.channel),
        visibility_label=escape(str(m.get_visibility_display())),
        author=escape(_author(m, inbound=inbound, outbox=outbox)),
        at_iso=at_iso,
        at=at,
        delivery=delivery,
        text=linebreaksbr(m.text, autoescape=True),
        attachments=_attachments_html(entry.attachments, attachment_url),
        tags=_tags_html(m) if inbound else "",
        outbox=_outbox_html(outbox),
    )


def _author(m: Message, *, inbound: bool, outbox: OutboxMessage | None) -> str:
    if inbound:
        identity = m.identity
        return (identity.handle or identity.display_name if identity else "") or "customer"
    if m.agent is not None:
        return (
            f"{m.agent.display_name} as {m.brand_handle}"
            if m.brand_handle
            else (m.agent.display_name)
        )
    if outbox is not None:
        return "Fairdesk (automatic)"
    return f"{m.brand_handle or 'brand'} (reply from imported history)"


def _attachments_html(files: tuple[Attachment, ...], attachment_url: Any) -> str:
    if not files:
        return ""
    items = "".join(
        _ATTACHMENT.format(
            escape(attachment_url(f.public_id)),
            escape(f.filename),
            escape(f.content_type),
            escape(str(filesizeformat(f.size))),
        )
        for f in files
    )
    return f'<ul class="attachments" aria-label="Attachments">{items}</ul>'


def _tags_html(m: Message) -> str:
    triage = m.triage if isinstance(m.triage, dict) else {}
    signals = triage.get("signals")
    if not isinstance(signals, list | tuple):
        signals = ()
    tags = [
        f'<span class="tag">sentiment: {escape(m.sentiment)}</span>' if m.sentiment else "",
        "".join(f'<span class="tag signal">{escape(str(s))}</span>' for s in signals),
        '<span class="tag praise">praise</span>' if triage.get("praise") else "",
        '<span class="tag spam">spam</span>' if m.is_spam else "",
    ]
    return '<p class="tags">\n          {}\n        </p>'.format("\n          ".join(tags))


def _outbox_html(outbox: OutboxMessage | None) -> str:
    if outbox is None:
        return ""
    if outbox.status == OutboxMessage.Status.DEAD:
        return (
            f'<p class="error" role="status">Not delivered after {outbox.attempts} attempts: '
            f"{escape(outbox.last_error)}</p>"
        )
    if outbox.last_error:
        return (
            f'<p class="warn">Retrying ({outbox.attempts} failed): {escape(outbox.last_error)}</p>'
        )
    return ""


def _event_html(entry: TimelineEntry) -> str:
    assert entry.event is not None
    at_iso, at = _stamp(entry.at)
    details = ""
    if entry.details:
        items = "".join(
            f'<li><span class="muted">{escape(label)}:</span> {escape(value)}</li>'
            for label, value in entry.details
        )
        details = f'<ul class="details">{items}</ul>'
    return _EVENT.format(
        type=escape(entry.event.type),
        title=escape(entry.title),
        time=f'<time datetime="{at_iso}">{at} UTC</time>',
        details=details,
    )
