"""Channel settings: health for supervisors, connect/edit for admins, secrets write-only."""

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from conftest import PASSWORD
from fairdesk.connectors import secrets
from fairdesk.connectors.models import Channel
from fairdesk.connectors.services import create_channel
from fairdesk.workspaces.models import Agent, Workspace
from fairdesk.workspaces.services import create_agent

SECRET = "cs-value-never-rendered"


@pytest.fixture
def admin(workspace: Workspace) -> Agent:
    return create_agent(
        workspace=workspace,
        username="ada",
        password=PASSWORD,
        display_name="Ada Admin",
        initials="AA",
        role=Agent.Role.ADMIN,
    )


@pytest.fixture
def other_admin(other_workspace: Workspace) -> Agent:
    return create_agent(
        workspace=other_workspace,
        username="otto",
        password=PASSWORD,
        display_name="Otto",
        initials="OT",
        role=Agent.Role.ADMIN,
    )


@pytest.fixture
def x_channel(workspace: Workspace) -> Channel:
    return create_channel(
        workspace=workspace,
        kind="x",
        name="<script>alert(1)</script> @Acme",
        config={"brand_user_id": "1000000001", "brand_handle": "@Acme"},
        credentials={"consumer_secret": SECRET},
    )


def logged_in(agent: Agent) -> Client:
    client = Client()
    client.force_login(agent.user)
    return client


def test_health_page_shows_state_and_never_secrets(
    admin: Agent, x_channel: Channel, other_workspace: Workspace
) -> None:
    create_channel(
        workspace=other_workspace, kind="x", name="Other brand", config={"brand_user_id": "2"}
    )
    Channel.objects.filter(pk=x_channel.pk).update(
        last_error="bad signature <b>boom</b>",
        last_error_at=timezone.now(),
        send_blocked_until=timezone.now() + timedelta(minutes=10),
    )
    page = logged_in(admin).get(reverse("channels")).content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt; @Acme" in page
    assert "<script>alert(1)" not in page
    assert "bad signature &lt;b&gt;boom&lt;/b&gt;" in page
    assert f"/webhooks/x/{x_channel.public_id}/" in page
    assert "status-error" in page
    assert SECRET not in page
    assert "Other brand" not in page


def test_agents_cannot_see_channels_and_supervisors_cannot_edit(
    agent: Agent, supervisor: Agent, x_channel: Channel
) -> None:
    assert logged_in(agent).get(reverse("channels")).status_code == 403
    page = logged_in(supervisor).get(reverse("channels"))
    assert page.status_code == 200
    assert reverse("channel-edit", args=[x_channel.public_id]) not in page.content.decode()
    response = logged_in(supervisor).post(
        reverse("channel-edit", args=[x_channel.public_id]), {"name": "hijacked"}
    )
    assert response.status_code == 403
    assert Channel.objects.get(pk=x_channel.pk).name != "hijacked"


def test_admin_connects_a_channel_with_encrypted_secrets(
    admin: Agent, workspace: Workspace
) -> None:
    client = logged_in(admin)
    form = client.get(reverse("channel-new", args=["x"])).content.decode()
    assert 'name="config_brand_user_id"' in form and 'name="secret_consumer_secret"' in form
    response = client.post(
        reverse("channel-new", args=["x"]),
        {
            "name": "Acme on X",
            "config_brand_user_id": "1000000001",
            "config_brand_handle": "@Acme",
            "secret_consumer_secret": SECRET,
        },
    )
    assert response.status_code == 302
    channel = Channel.objects.get(workspace=workspace)
    assert channel.config["brand_user_id"] == "1000000001"
    assert secrets.credentials(channel) == {"consumer_secret": SECRET}
    assert SECRET not in channel.credentials_encrypted


def test_bad_configuration_is_refused_and_nothing_saved(admin: Agent) -> None:
    response = logged_in(admin).post(
        reverse("channel-new", args=["x"]),
        {"name": "Acme", "config_brand_user_id": "not-a-number"},
    )
    assert response.status_code == 422
    assert not Channel.objects.exists()
    assert logged_in(admin).get(reverse("channel-new", args=["nope"])).status_code == 404


def test_editing_keeps_secrets_left_blank(admin: Agent, x_channel: Channel) -> None:
    response = logged_in(admin).post(
        reverse("channel-edit", args=[x_channel.public_id]),
        {
            "name": "Renamed",
            "config_brand_user_id": "1000000001",
            "secret_access_token": "new-token",
        },
    )
    assert response.status_code == 302
    x_channel.refresh_from_db()
    assert x_channel.name == "Renamed"
    assert secrets.credentials(x_channel) == {
        "consumer_secret": SECRET,
        "access_token": "new-token",
    }
    page = logged_in(admin).get(reverse("channel-edit", args=[x_channel.public_id]))
    assert SECRET not in page.content.decode() and "new-token" not in page.content.decode()


def test_another_workspaces_admin_gets_404(other_admin: Agent, x_channel: Channel) -> None:
    client = logged_in(other_admin)
    assert client.get(reverse("channel-edit", args=[x_channel.public_id])).status_code == 404
    response = client.post(reverse("channel-edit", args=[x_channel.public_id]), {"name": "mine"})
    assert response.status_code == 404
    x_channel.refresh_from_db()
    assert x_channel.name.endswith("@Acme")
