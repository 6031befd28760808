"""The routing-rules settings pages (supervisors and admins): list in the order rules
are tried, create, edit, move up or down, switch on or off, delete. Parse, authorise,
call one service, render."""

import uuid
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from fairdesk.cases.access import agent_required
from fairdesk.routing import queries
from fairdesk.routing.forms import RuleForm
from fairdesk.routing.models import RoutingRule
from fairdesk.routing.rules import describe
from fairdesk.routing.services import (
    RuleInvalid,
    create_rule,
    delete_rule,
    move_rule,
    set_rule_enabled,
    update_rule,
)
from fairdesk.workspaces.models import Agent


def _require_editor(agent: Agent) -> None:
    if not agent.is_supervisor:
        raise PermissionDenied("Only supervisors and admins manage routing rules.")


def _rule_or_404(agent: Agent, public_id: uuid.UUID) -> RoutingRule:
    rule = queries.routing_rule_for(agent.workspace, public_id)
    if rule is None:
        raise Http404("No such routing rule.")
    return rule


@require_GET
@agent_required
def rule_list(request: HttpRequest, *, agent: Agent) -> HttpResponse:
    _require_editor(agent)
    context = {
        "rules": [
            (rule, describe(rule.conditions)) for rule in queries.routing_rules(agent.workspace)
        ],
        "changes": queries.rule_changes(agent.workspace),
    }
    return render(request, "routing/rules.html", context)


@require_http_methods(["GET", "POST"])
@agent_required
def rule_edit(
    request: HttpRequest, public_id: uuid.UUID | None = None, *, agent: Agent
) -> HttpResponse:
    """New (no id) or edit; the rule is looked up in the agent's workspace only."""
    _require_editor(agent)
    rule = _rule_or_404(agent, public_id) if public_id is not None else None
    initial = RuleForm.initial_from(rule) if rule else None
    form = RuleForm(request.POST or None, initial=initial, viewer=agent)
    if request.method == "POST" and form.is_valid():
        try:
            _save(agent, rule, form.cleaned_data)
        except RuleInvalid as error:
            form.add_error(None, str(error))
        else:
            messages.success(
                request, f"Saved the rule “{' '.join(form.cleaned_data['name'].split())}”."
            )
            return redirect("routing-rules")
    status = 422 if form.errors else 200
    return render(request, "routing/rule_edit.html", {"form": form, "rule": rule}, status=status)


def _save(agent: Agent, rule: RoutingRule | None, data: dict[str, Any]) -> None:
    fields = {
        "name": data["name"],
        "conditions": data["conditions"],
        "team": data["team"],
        "assignee": data["assignee"],
        "enabled": data["enabled"],
    }
    if rule is None:
        create_rule(agent=agent, **fields)
    else:
        update_rule(agent=agent, rule=rule, **fields)


@require_POST
@agent_required
def rule_move(request: HttpRequest, public_id: uuid.UUID, *, agent: Agent) -> HttpResponse:
    """One place up (tried earlier) or down."""
    _require_editor(agent)
    rule = _rule_or_404(agent, public_id)
    step = {"up": -1, "down": 1}.get(request.POST.get("direction", ""))
    if step is None:
        return HttpResponse("Move the rule up or down.", status=422, content_type="text/plain")
    try:
        move_rule(agent=agent, rule=rule, position=max(1, rule.position + step))
    except RuleInvalid as error:
        return HttpResponse(str(error), status=422, content_type="text/plain")
    return redirect("routing-rules")


@require_POST
@agent_required
def rule_enabled(request: HttpRequest, public_id: uuid.UUID, *, agent: Agent) -> HttpResponse:
    _require_editor(agent)
    rule = _rule_or_404(agent, public_id)
    wanted = {"on": True, "off": False}.get(request.POST.get("enabled", ""))
    if wanted is None:
        return HttpResponse("Switch the rule on or off.", status=422, content_type="text/plain")
    try:
        set_rule_enabled(agent=agent, rule=rule, enabled=wanted)
    except RuleInvalid as error:
        return HttpResponse(str(error), status=422, content_type="text/plain")
    messages.success(request, f"Rule “{rule.name}” switched {'on' if wanted else 'off'}.")
    return redirect("routing-rules")


@require_POST
@agent_required
def rule_delete(request: HttpRequest, public_id: uuid.UUID, *, agent: Agent) -> HttpResponse:
    _require_editor(agent)
    rule = _rule_or_404(agent, public_id)
    try:
        delete_rule(agent=agent, rule=rule)
    except RuleInvalid as error:
        return HttpResponse(str(error), status=422, content_type="text/plain")
    messages.success(request, f"Deleted the rule “{rule.name}”.")
    return redirect("routing-rules")
