import base64
import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import pytest

from fairdesk.connectors.models import Channel
from fairdesk.connectors.services import create_channel
from fairdesk.workspaces.models import Workspace

FIXTURES = Path(__file__).parent / "fixtures"
ACME_SECRET = "acme-consumer-secret-z3ZX4v7mAAUGykl3EcmkqbartmuW8VFOOzCloLx9Q45P0h"
GLOBEX_SECRET = "globex-consumer-secret-Q45P0hLrFuz3ZX4v7mAAUGykl3EcmkqbartmuW8VF"
BRAND_ID = "1000000001"
GLOBEX_BRAND_ID = "1000000999"


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def fixture_json(name: str) -> Any:
    return json.loads(fixture_bytes(name))


def signature(secret: str, body: bytes) -> str:
    """Computed independently of the adapter: sha256= + base64(HMAC-SHA256(secret, body))."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return "sha256=" + base64.b64encode(digest).decode()


@pytest.fixture
def x_channel(workspace: Workspace) -> Channel:
    return create_channel(
        workspace=workspace,
        kind="x",
        name="@AcmeSupport",
        config={"brand_user_id": BRAND_ID, "brand_handle": "@AcmeSupport"},
        credentials={"consumer_key": "ck-acme", "consumer_secret": ACME_SECRET},
    )


@pytest.fixture
def globex_channel(other_workspace: Workspace) -> Channel:
    return create_channel(
        workspace=other_workspace,
        kind="x",
        name="@GlobexHelp",
        config={"brand_user_id": GLOBEX_BRAND_ID, "brand_handle": "@GlobexHelp"},
        credentials={"consumer_key": "ck-globex", "consumer_secret": GLOBEX_SECRET},
    )
