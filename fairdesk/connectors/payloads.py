"""What every connector's ``parse`` shares: the error type and the last validation step."""

from typing import Any

from pydantic import ValidationError

from fairdesk.inbound.interchange import InterchangeMessage


class PayloadError(ValueError):
    """A signed payload that does not have the documented shape."""


def objects(container: dict[str, Any], key: str) -> list[dict[str, Any]]:
    """``container[key]`` as a list of JSON objects (missing means empty)."""
    items = container.get(key) or []
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise PayloadError(f"{key} is not a list of objects")
    return items


def interchange(raw: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Validate parsed records as interchange messages, or name the first bad field."""
    try:
        return [InterchangeMessage.model_validate(r).model_dump(mode="json") for r in raw]
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        raise PayloadError(f"invalid event: {where}: {error['msg']}") from exc
