"""Logging a call on a case page: a form loaded into the page (HTMX) or its own page.

Parse, authorise (the case must be in the agent's workspace: another's is a 404), call
the service, render. After a logged call the case page reloads, so the timeline and the
deadlines show the call's effect.
"""

import uuid

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from fairdesk.cases.access import agent_required
from fairdesk.cases.models import Case
from fairdesk.cases.queries import case_for
from fairdesk.connectors.phone.forms import CallLogForm
from fairdesk.connectors.phone.services import CallInvalid, log_call
from fairdesk.workspaces.models import Agent


@require_http_methods(["GET", "POST"])
@agent_required
def calls(request: HttpRequest, public_id: uuid.UUID, *, agent: Agent) -> HttpResponse:
    case = case_for(workspace=agent.workspace, public_id=public_id)
    if request.method == "GET":
        return _form(request, case, CallLogForm.fresh(), status=200)
    form = CallLogForm(request.POST)
    if form.is_valid():
        try:
            log_call(
                case=case,
                agent=agent,
                direction=form.cleaned_data["direction"],
                started_at=form.cleaned_data["started_at"],
                duration=form.duration,
                notes=form.cleaned_data["notes"],
                key=str(form.cleaned_data["key"]),
            )
        except CallInvalid as error:
            form.add_error(None, str(error))
        else:
            return _back_to_case(request, case)
    return _form(request, case, form, status=422)


def _form(request: HttpRequest, case: Case, form: CallLogForm, *, status: int) -> HttpResponse:
    context = {"case": case, "form": form}
    if getattr(request, "htmx", False):
        # htmx swaps only 2xx answers: the form with its errors comes back as a 200.
        return render(request, "phone/_call_form.html", context)
    return render(request, "phone/log_call.html", context, status=status)


def _back_to_case(request: HttpRequest, case: Case) -> HttpResponse:
    url = reverse("case", args=[case.public_id])
    if getattr(request, "htmx", False):
        return HttpResponse(headers={"HX-Redirect": url})
    return redirect(url)
