"""Reads for the web form's thank-you page: what may be told to whoever holds its URL."""

import uuid

from fairdesk.cases.models import Case, CaseEvent, Message
from fairdesk.connectors.models import Channel, WebformSubmission
from fairdesk.connectors.webform.adapter import CHANNEL
from fairdesk.inbound.identities import CASE_REFERENCE


def shown_reference(*, channel: Channel, submission_id: uuid.UUID) -> str:
    """The case reference to show for a submission, or "" (then the page only says we
    have the message).

    Never waits for the pipeline: until it has filed the submission there is nothing to
    show. Once filed, the reference is shown when this submission opened the case, or
    when its text quoted that reference. A submission that joined an existing case
    because it gave that customer's e-mail address shows nothing: the address is not
    verified, and anyone could type it to learn someone else's case number. Spam never
    has a case. An unknown id, or another channel's, shows nothing either.
    """
    if not WebformSubmission.objects.filter(channel=channel, public_id=submission_id).exists():
        return ""
    message = (
        Message.objects.filter(
            workspace_id=channel.workspace_id,
            channel=CHANNEL,
            external_id=str(submission_id),
            case__isnull=False,
        )
        .select_related("case")
        .first()
    )
    if message is None or message.case is None:
        return ""
    case = message.case
    if _opened_by(case, message) or _quotes(message.text, case):
        return case.reference
    return ""


def _opened_by(case: Case, message: Message) -> bool:
    return CaseEvent.objects.filter(
        case=case,
        type=CaseEvent.Type.OPENED,
        params__channel=CHANNEL,
        params__external_id=message.external_id,
    ).exists()


def _quotes(text: str, case: Case) -> bool:
    return any(int(match.group(1)) == case.pk for match in CASE_REFERENCE.finditer(text[:5000]))
