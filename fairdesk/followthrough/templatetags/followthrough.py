"""``{% work_orders_panel case %}``: the case page's work orders, the form to add one, and
the resolution: propose it once the work is done, and what became of earlier proposals."""

from typing import Any

from django import template
from django.conf import settings

from fairdesk.cases.models import Case
from fairdesk.followthrough.forms import WorkOrderForm
from fairdesk.followthrough.models import WorkOrder
from fairdesk.followthrough.queries import resolutions_of, work_orders_of
from fairdesk.followthrough.resolution import PROPOSABLE

register = template.Library()


@register.inclusion_tag("followthrough/_case_panel.html", takes_context=True)
def work_orders_panel(context: template.Context, case: Case) -> dict[str, Any]:
    orders = work_orders_of(case)
    open_orders: list[WorkOrder] = [order for order in orders if order.is_open]
    return {
        "messages": context.get("messages", ()),
        "case": case,
        "orders": orders,
        "form": WorkOrderForm.fresh(workspace=case.workspace),
        "resolutions": resolutions_of(case),
        "can_propose": case.status in PROPOSABLE and not open_orders,
        "open_orders": open_orders,
        "quiet_days": settings.FAIRDESK_QUIET_CLOSE_DAYS,
    }
