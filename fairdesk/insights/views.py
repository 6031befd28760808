"""The insights pages: every figure for one workspace and period, the lists behind them, CSV.

Each page runs a fixed number of queries whatever the data (the tests assert it): the
figures aggregate in the database and the lists are paged.
"""

import uuid
from datetime import datetime
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from fairdesk.cases.access import agent_required
from fairdesk.cases.queries import case_for
from fairdesk.insights import coverage, exports
from fairdesk.insights.forms import PagedPeriodForm, PeriodForm
from fairdesk.insights.periods import resolve_period
from fairdesk.insights.queries import (
    crickets,
    csat,
    parity,
    praise,
    promoters,
    root_causes,
    service_levels,
)
from fairdesk.insights.queries.expressions import TargetsTable
from fairdesk.insights.services import RootCauseInvalid, tag_root_cause
from fairdesk.routing.queries import targets_table
from fairdesk.workspaces.models import Agent

PREVIEW = 10
PAGE_SIZE = 100


def _period(form: PeriodForm) -> tuple[datetime, datetime]:
    if form.is_bound and form.is_valid():
        start, end = form.cleaned_data["period"]
        return start, end
    return resolve_period(None, None)


def _render(
    request: HttpRequest, template: str, form: PeriodForm, context: dict[str, Any]
) -> HttpResponse:
    start, end = _period(form)
    base = {"form": form, "start": start, "end": end, "query": form.query()}
    status = 400 if form.errors else 200
    return render(request, template, {**base, **context}, status=status)


# The overview's sections, in page order: (name, label). Each is also served alone
# (``overview_section``): the page loads them side by side, so it shows each figure as
# soon as it is ready rather than after the slowest of them.
SECTIONS = (
    ("parity", "Fairness parity"),
    ("crickets", "Crickets"),
    ("sps", "Social Promoter Score"),
    ("praise", "Praise"),
    ("service_levels", "Service levels"),
    ("csat", "Customer satisfaction"),
)


def _section_figures(
    name: str, agent: Agent, start: datetime, end: datetime, targets: TargetsTable | None = None
) -> dict[str, Any]:
    """What the section's partial template shows (``targets``: the SLA table, if read)."""
    workspace, now = agent.workspace, timezone.now()
    if name == "parity":
        return {"parity": parity.parity(workspace, start, end)}
    if name == "crickets":
        targets = targets_table(workspace) if targets is None else targets
        return {
            "crickets": crickets.crickets(workspace, start, end, now=now, targets=targets),
            "cricket_preview": crickets.cricket_page(
                workspace, start, end, now=now, limit=PREVIEW, targets=targets
            ),
        }
    if name == "sps":
        return {"sps": promoters.social_promoter_score(workspace, start, end)}
    if name == "praise":
        return {
            "praise": praise.praise(workspace, start, end),
            "kudos": praise.kudos_page(workspace, start, end, limit=PREVIEW),
        }
    if name == "service_levels":
        targets = targets_table(workspace) if targets is None else targets
        levels = service_levels.service_levels(workspace, start, end, now=now, targets=targets)
        return {"service_levels": levels}
    return {"csat": csat.csat(workspace, start, end)}


@require_GET
@agent_required
def overview(request: HttpRequest, *, agent: Agent) -> HttpResponse:
    """The sections load on their own (``?all=1``: every figure in this one response,
    for pages read without JavaScript, printed or saved)."""
    form = PeriodForm(request.GET or None)
    if form.errors:
        return _render(request, "insights/overview.html", form, {})
    if request.GET.get("all") != "1":
        return _render(request, "insights/overview.html", form, {"sections": SECTIONS})
    start, end = _period(form)
    figures: dict[str, Any] = {}
    targets = targets_table(agent.workspace)
    # The rollup state and stale days once, not per figure; no JIT for the live queries.
    with coverage.one_read(), coverage.without_jit():
        for name, _ in SECTIONS:
            figures.update(_section_figures(name, agent, start, end, targets))
    return _render(request, "insights/overview.html", form, {**figures, "all": True})


@require_GET
@agent_required
def overview_section(request: HttpRequest, name: str, *, agent: Agent) -> HttpResponse:
    """One section of the overview: its partial for the page that loads it, or a page of
    its own when opened directly."""
    if name not in dict(SECTIONS):
        raise Http404("No such section.")
    form = PeriodForm(request.GET or None)
    if form.errors:
        return _render(request, "insights/overview.html", form, {})
    start, end = _period(form)
    with coverage.one_read(), coverage.without_jit():
        figures = _section_figures(name, agent, start, end)
    template = f"insights/_{name}.html"
    if getattr(request, "htmx", False):
        figures = {**figures, "lazy_trend": True}  # parity: the weekly trend when opened
    else:
        figures = {**figures, "section": template, "label": dict(SECTIONS)[name]}
        template = "insights/section.html"
    return _render(request, template, form, figures)


@require_GET
@agent_required
def parity_trend(request: HttpRequest, dimension: str, *, agent: Agent) -> HttpResponse:
    """One dimension's weekly parity trend, which the overview's parity section loads
    when it is opened: the section itself then never computes a week's figures."""
    if dimension not in parity.DIMENSIONS:
        raise Http404("No such dimension.")
    form = PeriodForm(request.GET or None)
    if form.errors:
        return _render(request, "insights/_parity_trend.html", form, {})
    start, end = _period(form)
    with coverage.one_read(), coverage.without_jit():
        found = parity.dimension_parity(agent.workspace, start, end, dimension)
    return _render(request, "insights/_parity_trend.html", form, {"d": found})


def _page(form: PeriodForm) -> int:
    return (form.cleaned_data.get("page") or 1) if form.is_valid() else 1


@require_GET
@agent_required
def cricket_list(request: HttpRequest, *, agent: Agent) -> HttpResponse:
    form = PagedPeriodForm(request.GET or None)
    if form.errors:
        return _render(request, "insights/crickets.html", form, {})
    start, end = _period(form)
    page = _page(form)
    items = crickets.cricket_page(
        agent.workspace,
        start,
        end,
        now=timezone.now(),
        limit=PAGE_SIZE + 1,
        offset=(page - 1) * PAGE_SIZE,
    )
    context = {"items": items[:PAGE_SIZE], "page": page, "more": len(items) > PAGE_SIZE}
    return _render(request, "insights/crickets.html", form, context)


@require_GET
@agent_required
def sps_messages(request: HttpRequest, kind: str, *, agent: Agent) -> HttpResponse:
    if kind not in promoters.KINDS:
        raise Http404("No such count.")
    form = PagedPeriodForm(request.GET or None)
    if form.errors:
        return _render(request, "insights/sps_messages.html", form, {"kind": kind})
    start, end = _period(form)
    page = _page(form)
    offset = (page - 1) * PAGE_SIZE
    count, items = promoters.sps_messages(
        agent.workspace, start, end, kind=kind, limit=PAGE_SIZE, offset=offset
    )
    cap = promoters.count_cap(limit=PAGE_SIZE, offset=offset)
    context = {
        "kind": kind,
        "count": min(count, cap),
        "count_capped": count > cap,
        "items": items,
        "page": page,
        "more": page * PAGE_SIZE < count,
    }
    return _render(request, "insights/sps_messages.html", form, context)


@require_GET
@agent_required
def kudos_list(request: HttpRequest, *, agent: Agent) -> HttpResponse:
    form = PagedPeriodForm(request.GET or None)
    if form.errors:
        return _render(request, "insights/kudos.html", form, {})
    start, end = _period(form)
    page = _page(form)
    items = praise.kudos_page(
        agent.workspace, start, end, limit=PAGE_SIZE + 1, offset=(page - 1) * PAGE_SIZE
    )
    context = {"items": items[:PAGE_SIZE], "page": page, "more": len(items) > PAGE_SIZE}
    return _render(request, "insights/kudos.html", form, context)


@require_GET
@agent_required
def root_cause_report(request: HttpRequest, *, agent: Agent) -> HttpResponse:
    form = PeriodForm(request.GET or None)
    context: dict[str, Any] = {"repeat_days": root_causes.REPEAT_DAYS}
    if not form.errors:
        start, end = _period(form)
        context["report"] = root_causes.root_causes(agent.workspace, start, end)
    return _render(request, "insights/root_causes.html", form, context)


@require_POST
@agent_required
def tag_case(request: HttpRequest, public_id: uuid.UUID, *, agent: Agent) -> HttpResponse:
    """The case page's root-cause card: set, change or clear the case's cause."""
    case = case_for(workspace=agent.workspace, public_id=public_id)
    try:
        changed = tag_root_cause(case=case, agent=agent, slug=request.POST.get("root_cause", ""))
    except RootCauseInvalid as error:
        messages.error(request, f"Root cause not saved — {error}")
    else:
        messages.success(request, "Root cause saved." if changed else "Root cause unchanged.")
    return redirect("case", public_id=case.public_id)


@require_GET
@agent_required  # type: ignore[arg-type]  # a streaming response is not an HttpResponse
def export(
    request: HttpRequest, figure: str, *, agent: Agent
) -> HttpResponse | StreamingHttpResponse:
    if figure not in exports.FIGURES:
        raise Http404("No such figure.")
    form = PeriodForm(request.GET or None)
    if form.errors:
        return HttpResponse(
            " ".join(str(e) for errors in form.errors.values() for e in errors),
            status=400,
            content_type="text/plain; charset=utf-8",
        )
    start, end = _period(form)
    return exports.csv_response(figure, exports.Scope(agent.workspace, start, end, timezone.now()))
