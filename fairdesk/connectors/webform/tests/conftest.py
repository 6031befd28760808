import uuid
from typing import Any

import pytest
from django.test import Client

from fairdesk.connectors.models import Channel
from fairdesk.connectors.services import create_channel
from fairdesk.workspaces.models import Workspace

ACME_IP = "203.0.113.7"
OTHER_IP = "198.51.100.23"


@pytest.fixture
def webform(workspace: Workspace) -> Channel:
    return create_channel(workspace=workspace, kind="webform", name="Acme contact form", config={})


@pytest.fixture
def globex_webform(other_workspace: Workspace) -> Channel:
    return create_channel(
        workspace=other_workspace, kind="webform", name="Globex contact form", config={}
    )


def form_url(channel: Channel | uuid.UUID) -> str:
    public_id = channel.public_id if isinstance(channel, Channel) else channel
    return f"/contact/{public_id}/"


def thanks_url(channel: Channel, submission_id: uuid.UUID | str) -> str:
    return f"/contact/{channel.public_id}/thanks/{submission_id}/"


def fields(**overrides: Any) -> dict[str, Any]:
    """A valid submission; every call gets its own token unless one is given."""
    data = {
        "name": "Dana Whitfield",
        "email": "Dana@Example.com",
        "reference": "",
        "message": "My kettle stopped heating after two days.",
        "token": str(uuid.uuid4()),
    }
    data.update(overrides)
    return data


def post(channel: Channel, data: dict[str, Any], *, ip: str = ACME_IP, **extra: Any) -> Any:
    return Client(REMOTE_ADDR=ip).post(form_url(channel), data, **extra)
