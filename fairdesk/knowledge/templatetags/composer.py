"""``{% composer_panel case %}``: canned replies, articles, the live length counter and
the preview, next to the case page's reply box."""

from typing import Any

from django import template

from fairdesk.cases.models import Case
from fairdesk.knowledge.composer import composer_limits
from fairdesk.replies.limits import final_text

register = template.Library()


@register.inclusion_tag("knowledge/_composer_panel.html", takes_context=True)
def composer_panel(context: template.Context, case: Case) -> dict[str, Any]:
    agent = context["agent"]
    return {
        "case": case,
        "limits": {"signature": final_text("", agent.initials), "targets": composer_limits(case)},
    }
