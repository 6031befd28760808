"""The one satisfaction answer a closed case gets, wherever it comes from: the portal's
form (``services.record_csat``) or a reply on the customer's own channel
(``followthrough.satisfaction``). ``CsatResponse`` is one-to-one with the case, so the
first answer wins and a later one — from either place — writes nothing."""

from datetime import datetime

from django.db import IntegrityError, transaction

from fairdesk.cases.models import Case
from fairdesk.portal import events
from fairdesk.portal.models import CsatResponse

MAX_COMMENT_CHARS = 2_000


def save_answer(
    *, case: Case, channel: str, score: int, comment: str, at: datetime
) -> CsatResponse | None:
    """Store the answer and its timeline event; None when the case already has one.
    The caller has checked the score (1 to 5) and the comment's length."""
    try:
        with transaction.atomic():
            answer = CsatResponse.objects.create(
                workspace_id=case.workspace_id,
                case=case,
                contact_id=case.contact_id,
                channel=channel,
                score=score,
                comment=comment,
            )
            events.satisfaction_rated(answer, at=at).save()
    except IntegrityError:
        return None
    return answer
