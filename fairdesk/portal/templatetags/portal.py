"""``{% portal_panel case %}``: the case page's "send portal link" form and the links sent."""

from typing import Any

from django import template
from django.utils import timezone

from fairdesk.cases.models import Case
from fairdesk.portal.forms import SendLinkForm
from fairdesk.portal.queries import links_of, route_choices

register = template.Library()


@register.inclusion_tag("portal/_agent_panel.html")
def portal_panel(case: Case) -> dict[str, Any]:
    routes = route_choices(case)
    return {
        "case": case,
        "routes": routes,
        "form": SendLinkForm.fresh(routes=routes),
        "links": links_of(case),
        "now": timezone.now(),
    }
