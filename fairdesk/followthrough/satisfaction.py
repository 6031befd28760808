"""Satisfaction on the customer's own channel: the message that closes a case after a
resolution (the customer's yes, or the quiet period) asks the one question, and a reply
that starts with a score is the answer.

* ``QUESTION`` — appended by ``resolution._close`` to the closing message, which is
  then remembered as ``Resolution.csat_question``.
* ``survey_answers`` — the pipeline's hook (``inbound.threading``): a message of the
  batch that is plainly a score (``rules.csat_score``), from the contact of a case closed
  with the question less than ``FAIRDESK_CSAT_REPLY_DAYS`` before it was written, is
  filed on that closed case: it reopens nothing, starts no clock and opens no case.
  Anything else threads as before — a reply that is not a score opens a new case, as
  every message after closure does, so nothing the customer says is swallowed; so does a
  score whose comment carries a severity signal ("1 — it caught fire": safety, money
  lost, a security report…), which must reach an agent. One query per batch, and none
  when no message of the batch is a score.
* ``record_channel_answers`` — the ``fairdesk followthrough`` step, in the style of the
  "yes, it's fixed" reading: it reads the inbound messages filed on closed cases (a
  cursor, as ``callbacks`` does) and stores the first score on each as the case's
  ``CsatResponse`` (channel: where it was written; comment: the rest of the text). The
  portal and the channel share the one-answer rule (``portal.satisfaction``): whichever
  comes first wins, a later answer stays on the timeline as a message only.
"""

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.conf import settings

from fairdesk.cases.models import Case, CaseStatus, Message
from fairdesk.contacts.models import ContactIdentity
from fairdesk.followthrough.cursor import read_new_inbound
from fairdesk.followthrough.models import Resolution
from fairdesk.followthrough.rules import csat_score
from fairdesk.inbound.identities import identity_key
from fairdesk.portal.satisfaction import MAX_COMMENT_CHARS, save_answer
from fairdesk.workspaces.models import Workspace

if TYPE_CHECKING:
    from fairdesk.inbound.pipeline import Parsed

QUESTION = (
    "How did we do, from 1 (poor) to 5 (great)? Reply with a number, and add a comment if you like."
)
CURSOR = "csat-answers"
BATCH = 500

MessageKey = tuple[str, str]


def reply_window() -> timedelta:
    return timedelta(days=settings.FAIRDESK_CSAT_REPLY_DAYS)


def survey_answers(
    workspace: Workspace,
    parsed: Iterable["Parsed"],
    identities: dict[tuple[str, str], ContactIdentity],
) -> dict[MessageKey, Case]:
    """The closed case each score message of the batch answers, by (channel, external id)."""
    scores: list[tuple[MessageKey, int, datetime]] = []
    for item in parsed:
        msg = item.message
        if msg.direction != "inbound" or item.spam or csat_score(msg.text) is None:
            continue
        if item.triage is not None and item.triage.signals:
            continue  # something is wrong again: it goes to the queue, not into a rating
        identity = identities[identity_key(msg.channel, msg.author.external_id)]
        scores.append(((msg.channel, msg.external_id), identity.contact_id, msg.created_at))
    if not scores:
        return {}
    earliest = min(written for _, _, written in scores)
    asked = (
        Resolution.objects.filter(
            workspace=workspace,
            case__contact_id__in={contact for _, contact, _ in scores},
            case__status=CaseStatus.CLOSED,
            csat_question__isnull=False,
            decided_at__gte=earliest - reply_window(),
        )
        .select_related("case")
        .order_by("decided_at", "id")
    )
    latest: dict[int, Resolution] = {r.case.contact_id: r for r in asked}
    found: dict[MessageKey, Case] = {}
    for key, contact, written in scores:
        resolution = latest.get(contact)
        if resolution is not None and _in_window(resolution, written):
            found[key] = resolution.case
    return found


def _in_window(resolution: Resolution, written: datetime) -> bool:
    decided = resolution.decided_at
    return decided is not None and decided < written <= decided + reply_window()


def record_channel_answers(*, now: datetime, limit: int = BATCH) -> int:
    """Read the next inbound messages filed on closed cases; returns how many answers
    were stored. The cursor moves in the same transaction as the answers."""
    return read_new_inbound(
        CURSOR, now=now, limit=limit, consider=_consider, case__status=CaseStatus.CLOSED
    )


def _consider(message: Message) -> int:
    case = message.case
    answer = csat_score(message.text)
    if case is None or answer is None or message.is_spam:
        return 0
    asked = Resolution.objects.filter(case=case, csat_question__isnull=False).order_by(
        "-decided_at", "-id"
    )
    resolution = asked.first()
    if resolution is None or not _in_window(resolution, message.sent_at):
        return 0
    score, comment = answer
    saved = save_answer(
        case=case,
        channel=message.channel,
        score=score,
        comment=comment[:MAX_COMMENT_CHARS],
        at=message.sent_at,
    )
    return int(saved is not None)
