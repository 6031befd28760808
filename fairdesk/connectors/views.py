"""Channel settings: health of every connected account (supervisors, admins) and the
connect / edit form (admins only). Secrets are write-only."""

import uuid

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from fairdesk.cases.access import agent_required
from fairdesk.connectors.config import ConfigError
from fairdesk.connectors.health import channel_health
from fairdesk.connectors.models import Channel
from fairdesk.connectors.services import create_channel, update_channel
from fairdesk.connectors.settings_forms import ChannelForm
from fairdesk.workspaces.models import Agent


def _require(agent: Agent, *roles: str) -> None:
    if agent.role not in roles:
        raise PermissionDenied("Your role cannot manage channels.")


@require_GET
@agent_required
def channel_list(request: HttpRequest, *, agent: Agent) -> HttpResponse:
    _require(agent, Agent.Role.SUPERVISOR, Agent.Role.ADMIN)
    context = {
        "rows": channel_health(agent.workspace),
        "kinds": Channel.Kind.choices,
        "can_edit": agent.role == Agent.Role.ADMIN,
        "base_url": request.build_absolute_uri("/").rstrip("/"),
    }
    return render(request, "connectors/channels.html", context)


@require_http_methods(["GET", "POST"])
@agent_required
def channel_new(request: HttpRequest, kind: str, *, agent: Agent) -> HttpResponse:
    _require(agent, Agent.Role.ADMIN)
    if kind not in Channel.Kind.values:
        raise Http404("unknown channel kind")
    form = ChannelForm(request.POST or None, kind=kind)
    if request.method == "POST" and form.is_valid():
        try:
            channel = create_channel(
                workspace=agent.workspace,
                kind=kind,
                name=form.cleaned_data["name"],
                config=form.config(),
                credentials=form.secrets(),
            )
        except ConfigError as error:
            form.add_error(None, str(error))
        else:
            messages.success(request, f"Connected {channel.name}.")
            return redirect("channels")
    return _form_page(request, form=form, channel=None, status=422 if form.errors else 200)


@require_http_methods(["GET", "POST"])
@agent_required
def channel_edit(request: HttpRequest, public_id: uuid.UUID, *, agent: Agent) -> HttpResponse:
    _require(agent, Agent.Role.ADMIN)
    channel = get_object_or_404(Channel, workspace=agent.workspace, public_id=public_id)
    initial = {"name": channel.name}
    form = ChannelForm(
        request.POST or None, kind=channel.kind, existing=channel.config, initial=initial
    )
    if request.method == "POST" and form.is_valid():
        try:
            update_channel(
                channel=channel,
                name=form.cleaned_data["name"],
                config=form.config(),
                credentials=form.secrets(),
            )
        except ConfigError as error:
            form.add_error(None, str(error))
        else:
            messages.success(request, f"Saved {channel.name}.")
            return redirect("channels")
    return _form_page(request, form=form, channel=channel, status=422 if form.errors else 200)


def _form_page(
    request: HttpRequest, *, form: ChannelForm, channel: Channel | None, status: int
) -> HttpResponse:
    context = {"form": form, "channel": channel, "kind_label": Channel.Kind(form.kind).label}
    return render(request, "connectors/channel_form.html", context, status=status)
