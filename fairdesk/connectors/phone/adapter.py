"""Phone calls as text and as interchange records (DESIGN section 10).

A call is private and its author is the customer's number in E.164 form (``numbers``),
given as ``phone`` too so the pipeline finds a contact we already know by that number.
The record's text is what an agent reads on the timeline: the notes, one line saying
which way the call went, how long it took and which case the caller named (``FD-123``,
where the pipeline looks for a quoted reference), then the transcript. Notes and
transcripts are hostile input, kept as written.
"""

from datetime import datetime, timedelta
from typing import Any

from fairdesk.connectors.payloads import interchange

CHANNEL = "phone"
DIRECTIONS = {"inbound": "Inbound call", "outbound": "Outbound call"}


def describe_duration(duration: timedelta) -> str:
    """'0 s', '45 s', '4 min 5 s', '1 h 2 min'."""
    seconds = int(duration.total_seconds())
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {seconds} s"
    return f"{seconds} s"


def call_text(
    *,
    direction: str,
    duration: timedelta,
    notes: str = "",
    transcript: str = "",
    case_reference: str = "",
) -> str:
    summary = f"{DIRECTIONS[direction]}, {describe_duration(duration)}"
    if case_reference:
        summary += f", about {case_reference}"
    # The summary comes before the transcript: the pipeline reads a quoted reference
    # only in a text's first 5,000 characters, and the notes are capped below that.
    parts = [notes.strip()] if notes.strip() else []
    parts.append(f"({summary})")
    if transcript.strip():
        parts.append(f"Transcript:\n{transcript.strip()}")
    return "\n\n".join(parts)


def record(
    *,
    call_id: str,
    direction: str,
    customer_number: str,
    caller_name: str,
    started_at: datetime,
    text: str,
) -> dict[str, Any]:
    """The validated interchange record of one call with the customer at
    ``customer_number`` (E.164: the caller of an inbound call, the callee otherwise)."""
    raw = {
        "channel": CHANNEL,
        "external_id": call_id,
        "direction": direction,
        "visibility": "private",
        "created_at": started_at.isoformat(),
        "author": {
            "external_id": customer_number,
            "handle": customer_number,
            "display_name": caller_name,
            "phone": customer_number,
        },
        "text": text,
        "in_reply_to": None,
    }
    return interchange([raw])[0]
