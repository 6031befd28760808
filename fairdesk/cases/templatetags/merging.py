"""``{% merge_panel case %}``: on the case page, merge this case into another, split
messages off, merge the customer with another contact (supervisors), and undo."""

from typing import Any

from django import template

from fairdesk.cases.merge import merge_target_of, undoable_events
from fairdesk.cases.models import Case
from fairdesk.contacts.merge import may_merge_contacts, undoable_contact_events

register = template.Library()


@register.inclusion_tag("cases/_merge_panel_body.html", takes_context=True)
def merge_panel(context: template.Context, case: Case) -> dict[str, Any]:
    agent = context.get("agent")
    contact_merges = agent is not None and may_merge_contacts(agent)
    return {
        "case": case,
        "merged_into": merge_target_of(case),
        "undoable": undoable_events(case),
        "contact_merges": contact_merges,
        "contact_undoable": undoable_contact_events(case.contact_id) if contact_merges else [],
    }
