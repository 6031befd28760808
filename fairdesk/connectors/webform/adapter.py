"""A web form submission as an interchange record (DESIGN section 10).

The form is ours, so there is no platform format to follow: the record is private, its
author is the lower-cased e-mail address (which is also given as ``email``, so the
pipeline joins a customer we already know by that address), and its external id is a
server-made uuid. An order number or case reference is appended to the text, where the
pipeline looks for a quoted ``FD-123`` (within its first 5,000 characters: the form's
caps keep the whole text under that). Every value is hostile and kept as written.
"""

from datetime import datetime
from typing import Any

from fairdesk.connectors.payloads import interchange

CHANNEL = "webform"
REFERENCE_LABEL = "Order/reference: "


def record(
    *,
    external_id: str,
    name: str,
    email: str,
    reference: str,
    message: str,
    created_at: datetime,
) -> dict[str, Any]:
    """The validated interchange record of one submission."""
    address = email.strip().lower()
    text = message
    if reference:
        text = f"{message}\n\n{REFERENCE_LABEL}{reference}"
    raw = {
        "channel": CHANNEL,
        "external_id": external_id,
        "direction": "inbound",
        "visibility": "private",
        "created_at": created_at.isoformat(),
        "author": {
            "external_id": address,
            "handle": address,
            "display_name": name,
            "email": address,
        },
        "text": text,
        "in_reply_to": None,
    }
    return interchange([raw])[0]
