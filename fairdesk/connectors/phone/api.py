"""``POST /api/v1/calls``: call records from a telephony system.

The body is our own schema, close to a telephony platform's call resource (Twilio's Call
resource has ``sid``, ``from``, ``to``, ``direction``, ``start_time``, ``duration`` in
seconds, ``caller_name``): a bridge maps one to the other. Unknown fields are refused
(422), so a misspelt field never silently drops data. The bearer token's agent decides
the workspace: a call can only ever land in the token's own workspace.
"""

from datetime import timedelta
from typing import Any, Literal

from django.utils import timezone
from ninja import Field, Router, Schema
from pydantic import AwareDatetime, ConfigDict, field_validator

from fairdesk.api_auth import current_agent
from fairdesk.connectors.phone.numbers import PhoneNumberError, to_e164
from fairdesk.connectors.phone.services import (
    CLOCK_SKEW,
    MAX_NOTES_CHARS,
    MAX_TRANSCRIPT_CHARS,
    CallInvalid,
    CallRecord,
    NoPhoneChannel,
    receive_call,
)

router = Router()


class CallIn(Schema):
    model_config = ConfigDict(extra="forbid")

    call_id: str = Field(
        min_length=1,
        max_length=200,
        pattern=r"^[!-~]+$",
        description="The telephony system's id of the call: sending it again stores nothing.",
    )
    from_number: str = Field(max_length=40, description="Caller, in international form.")
    to_number: str = Field(max_length=40, description="Callee, in international form.")
    direction: Literal["inbound", "outbound"] = Field(
        description="inbound: the customer called us; outbound: we called the customer."
    )
    started_at: AwareDatetime
    duration_seconds: int = Field(ge=0, le=86_400)
    caller_name: str = Field("", max_length=200)
    notes: str = Field("", max_length=MAX_NOTES_CHARS)
    transcript: str = Field("", max_length=MAX_TRANSCRIPT_CHARS)
    case_reference: str | None = Field(
        None, pattern=r"^FD-[0-9]{1,12}$", description="The case the call was about, e.g. FD-42."
    )

    @field_validator("from_number", "to_number")
    @classmethod
    def international(cls, value: str) -> str:
        try:
            return to_e164(value)
        except PhoneNumberError as error:
            raise ValueError(str(error)) from None

    @field_validator("started_at")
    @classmethod
    def not_in_future(cls, value: AwareDatetime) -> AwareDatetime:
        if value > timezone.now() + CLOCK_SKEW:
            raise ValueError("a call cannot start in the future")
        return value

    def record(self) -> CallRecord:
        inbound = self.direction == "inbound"
        return CallRecord(
            call_id=self.call_id,
            direction=self.direction,
            customer_number=self.from_number if inbound else self.to_number,
            started_at=self.started_at,
            duration=timedelta(seconds=self.duration_seconds),
            caller_name=self.caller_name if inbound else "",
            notes=self.notes,
            transcript=self.transcript,
            case_reference=self.case_reference or "",
        )


class CallOut(Schema):
    call_id: str
    status: Literal["stored", "duplicate"]
    case_reference: str | None = Field(
        description="The case the call was filed on at once (outbound calls to a customer "
        "with a case); null when the pipeline files it, moments later."
    )


class CallRejectedOut(Schema):
    detail: str


@router.post(
    "/calls",
    response={200: CallOut, 201: CallOut, 409: CallRejectedOut, 422: CallRejectedOut},
    summary="Report a phone call",
)
def report_call(request: Any, body: CallIn) -> tuple[int, Any]:
    """Store a call with a customer. 201 when stored, 200 when this ``call_id`` was
    stored before (nothing changes), 409 when the workspace has no phone channel, 422
    for invalid fields or a case reference this workspace does not have."""
    agent = current_agent(request)
    try:
        receipt = receive_call(agent=agent, call=body.record())
    except NoPhoneChannel as missing:
        return 409, CallRejectedOut(detail=str(missing))
    except CallInvalid as invalid:
        return 422, CallRejectedOut(detail=str(invalid))
    reference = receipt.case.reference if receipt.case is not None else None
    if not receipt.stored:
        return 200, CallOut(call_id=body.call_id, status="duplicate", case_reference=None)
    return 201, CallOut(call_id=body.call_id, status="stored", case_reference=reference)
