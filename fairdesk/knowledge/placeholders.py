"""Placeholders in canned replies: ``{first_name}``, ``{case_ref}``, … filled for one case.

A tiny explicit substitution, not a template engine: each ``{name}`` is looked up in a
fixed table and replaced by plain text. Neither Django templates nor ``str.format`` see
the body (a supervisor-written body is still input: ``{0.__class__}`` or ``{% load %}``
must stay inert), and a value is never scanned again, so a customer called
``{case_ref}`` is just a name. Values are one line of plain text; the page escapes them
like any other text. An unknown placeholder is refused when the reply is saved.
"""

import re
import unicodedata
from collections.abc import Mapping

from fairdesk.cases.models import Case
from fairdesk.workspaces.models import Agent

TOKEN = re.compile(r"\{([^{}\n]{0,40})\}")
MAX_VALUE_CHARS = 80
NO_NAME = "there"  # "Hi {first_name}," reads "Hi there," when the name is unknown
PLACEHOLDERS: dict[str, str] = {
    "first_name": 'the customer\'s first name ("there" when unknown)',
    "case_ref": "the case reference, like FD-42",
    "agent_name": "your name",
    "agent_initials": "your initials",
    "brand_handle": "the brand's handle, like @AcmeSupport",
}


class PlaceholderError(ValueError):
    """The text names a placeholder that does not exist."""


def unknown_placeholders(body: str) -> list[str]:
    """The ``{names}`` in ``body`` that are not placeholders, in order, each once."""
    found = [m.group(1) for m in TOKEN.finditer(body) if m.group(1) not in PLACEHOLDERS]
    return list(dict.fromkeys(found))


def check(body: str) -> None:
    """Refuse a body with an unknown placeholder, naming it and the known ones."""
    unknown = unknown_placeholders(body)
    if unknown:
        names = ", ".join("{" + name + "}" for name in unknown)
        known = ", ".join("{" + name + "}" for name in PLACEHOLDERS)
        raise PlaceholderError(f"Unknown placeholder {names}. Use one of {known}.")


def render(body: str, values: Mapping[str, str]) -> str:
    """``body`` with each placeholder replaced by its value; anything else unchanged."""
    return TOKEN.sub(lambda m: values.get(m.group(1), m.group(0)), body)


def values_for(*, case: Case, agent: Agent) -> dict[str, str]:
    """The placeholder values for a reply by ``agent`` on ``case``."""
    name = one_line(case.contact.display_name)
    return {
        "first_name": (name.split(" ", 1)[0] if name else "") or NO_NAME,
        "case_ref": case.reference,
        "agent_name": one_line(agent.display_name),
        "agent_initials": one_line(agent.initials),
        "brand_handle": one_line(case.workspace.brand_handle),
    }


def one_line(value: str, limit: int | None = MAX_VALUE_CHARS) -> str:
    """``value`` as one line: control characters (CR, LF, NUL, …) made spaces,
    whitespace collapsed, cut to ``limit`` characters (None: not cut)."""
    cleaned = "".join(" " if unicodedata.category(char) == "Cc" else char for char in value or "")
    return " ".join(cleaned.split())[:limit]
