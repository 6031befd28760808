"""``{% work_orders_panel case %}``: the case page's work orders and the form to add one."""

from typing import Any

from django import template

from fairdesk.cases.models import Case
from fairdesk.followthrough.forms import WorkOrderForm
from fairdesk.followthrough.queries import work_orders_of

register = template.Library()


@register.inclusion_tag("followthrough/_case_panel.html", takes_context=True)
def work_orders_panel(context: template.Context, case: Case) -> dict[str, Any]:
    return {
        "messages": context.get("messages", ()),
        "case": case,
        "orders": work_orders_of(case),
        "form": WorkOrderForm.fresh(workspace=case.workspace),
    }
