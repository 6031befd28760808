"""The API's request parser: JSON as usual, but NUL characters are refused.

PostgreSQL text cannot hold NUL (SQLite can), so a ``\\u0000`` anywhere in a body would
otherwise pass validation and fail at the database with a 500 on one backend only. A body
carrying one is refused as unparseable (400); query-string values lose theirs.
"""

import json
from typing import Any, cast

from django.http import HttpRequest
from django.utils.datastructures import MultiValueDict
from ninja.parser import Parser


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(item) for item in value)
    return False


class NulSafeParser(Parser):
    def parse_body(self, request: HttpRequest) -> dict[str, Any]:
        data = json.loads(request.body)
        if _has_nul(data):
            raise ValueError("NUL characters are not accepted")
        return cast(dict[str, Any], data)  # a JSON array passes through, as in ninja

    def parse_querydict(
        self, data: MultiValueDict, list_fields: list[str], request: HttpRequest
    ) -> dict[str, Any]:
        parsed = super().parse_querydict(data, list_fields, request)
        return {
            key: [v.replace("\x00", "") for v in value]
            if isinstance(value, list)
            else value.replace("\x00", "")
            if isinstance(value, str)
            else value
            for key, value in parsed.items()
        }
