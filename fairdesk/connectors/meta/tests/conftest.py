import hashlib
import hmac
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fairdesk.connectors.meta.standin import MetaStandIn
from fairdesk.connectors.models import Channel
from fairdesk.connectors.services import create_channel
from fairdesk.workspaces.models import Workspace

FIXTURES = Path(__file__).parent / "fixtures"
ACME_SECRET = "acme-app-secret-6f1d2c0b9a8e7d6c5b4a3f2e1d0c9b8a"
GLOBEX_SECRET = "globex-app-secret-0c9b8a6f1d2c5b4a3f2e1d0e7d6c9b8a"
ACME_VERIFY_TOKEN = "acme-verify-Jq8rT2vX"
PAGE_ID = "104200000000001"
IG_ACCOUNT_ID = "17841400000000001"
GLOBEX_PAGE_ID = "104200000000999"
ACME_TOKEN = "EAAacme-page-token-0001"


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def fixture_json(name: str) -> Any:
    return json.loads(fixture_bytes(name))


def signature(secret: str, body: bytes) -> str:
    """Computed independently of the adapter: sha256= + hex(HMAC-SHA256(secret, body))."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@pytest.fixture
def meta_channel(workspace: Workspace) -> Channel:
    return create_channel(
        workspace=workspace,
        kind="facebook",
        name="Acme Support (Facebook)",
        config={
            "page_id": PAGE_ID,
            "page_name": "Acme Support",
            "instagram_account_id": IG_ACCOUNT_ID,
            "instagram_username": "@acmesupport",
        },
        credentials={"app_secret": ACME_SECRET, "verify_token": ACME_VERIFY_TOKEN},
    )


@pytest.fixture
def globex_channel(other_workspace: Workspace) -> Channel:
    return create_channel(
        workspace=other_workspace,
        kind="facebook",
        name="Globex Help",
        config={"page_id": GLOBEX_PAGE_ID, "page_name": "Globex Help"},
        credentials={"app_secret": GLOBEX_SECRET, "verify_token": "globex-verify"},
    )


@pytest.fixture
def graph() -> Iterator[MetaStandIn]:
    """The Graph API stand-in with Acme's Page (and its Instagram account)."""
    with MetaStandIn() as standin:
        assert isinstance(standin, MetaStandIn)
        standin.add_page(
            PAGE_ID,
            ACME_TOKEN,
            name="Acme Support",
            instagram_account_id=IG_ACCOUNT_ID,
            instagram_username="@acmesupport",
            app_secret=ACME_SECRET,
        )
        yield standin
