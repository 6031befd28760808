"""Shared fixtures: two workspaces, named personas, and a real ingest path.

Every access test uses both workspaces and two customers (STYLE 19, 21).
"""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from fairdesk.workspaces.models import Agent, Workspace
from fairdesk.workspaces.services import add_employee, create_agent, create_workspace, issue_token

# Helper modules that several tests share assert too: show the values when one fails.
pytest.register_assert_rewrite("fairdesk.testing", "fairdesk.portal.tests.oauth_flow")

PASSWORD = "correct-horse-battery"  # noqa: S105 - test persona password
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def fast_password_hashing(settings: Any) -> None:
    """Real hashing is deliberately slow; tests only need it to work."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def short_live_waits(settings: Any) -> None:
    """Pages in browser tests long-poll for changes: a short wait and no lingering watcher,
    so no request outlives its test (the live tests set their own waits)."""
    settings.FAIRDESK_LIVE_WAIT_SECONDS = 1
    settings.FAIRDESK_LIVE_LINGER_SECONDS = 0


@pytest.fixture(scope="session")
def django_db_modify_db_settings(
    django_db_modify_db_settings_parallel_suffix: None,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """On SQLite the test database is a file (one per test process), not Django's default
    in-memory database. In memory, every thread's connection (the live server's request
    threads, the live-update watcher a page's long-poll starts) shares one cache, where a
    reader's table lock makes a concurrent write fail at once ("database table is locked:
    cases_caseevent", seen in CI in the portal browser test) instead of waiting. A file
    runs as production SQLite does: WAL, readers never block the writer, writers wait for
    each other (``SQLITE_OPTIONS``' busy timeout)."""
    from django.conf import settings

    database = settings.DATABASES["default"]
    test = database.setdefault("TEST", {})
    if database["ENGINE"] == "django.db.backends.sqlite3" and not test.get("NAME"):
        # (FAIRDESK_TEST_DB, where given, names the file instead: settings.py)
        test["NAME"] = str(tmp_path_factory.mktemp("database") / "test.sqlite3")


@pytest.fixture(scope="session")
def empty_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from fairdesk.inbound import triage_cache

    triage_cache.forget()  # nothing loaded from the developer's ./var before this
    return tmp_path_factory.mktemp("data")


@pytest.fixture(autouse=True)
def isolated_data_dir(settings: Any, empty_data_dir: Path) -> None:
    """Tests never read the developer's data directory (./var: trained triage bundles,
    attachments): they see an empty one, as CI does, unless a test gives its own (and
    then calls ``triage_cache.forget()`` before and after)."""
    settings.DATA_DIR = empty_data_dir


@pytest.fixture
def workspace(db: None) -> Workspace:
    return create_workspace(name="Acme", slug="acme", brand_handle="@AcmeSupport")


@pytest.fixture
def other_workspace(db: None) -> Workspace:
    return create_workspace(name="Globex", slug="globex", brand_handle="@GlobexHelp")


@pytest.fixture
def agent(workspace: Workspace) -> Agent:
    return create_agent(
        workspace=workspace, username="jc", password=PASSWORD, display_name="Jo Chen", initials="JC"
    )


@pytest.fixture
def supervisor(workspace: Workspace) -> Agent:
    return create_agent(
        workspace=workspace,
        username="sam",
        password=PASSWORD,
        display_name="Sam Okafor",
        initials="SO",
        role=Agent.Role.SUPERVISOR,
    )


@pytest.fixture
def outsider(other_workspace: Workspace) -> Agent:
    """An agent of the other workspace: must never see or touch Acme's data."""
    return create_agent(
        workspace=other_workspace,
        username="ozzy",
        password=PASSWORD,
        display_name="Ozzy Outsider",
        initials="OO",
    )


@pytest.fixture
def staff(workspace: Workspace) -> dict[str, Any]:
    manager = add_employee(workspace=workspace, name="Grace Hopper", title="Cabin crew manager")
    maria = add_employee(
        workspace=workspace,
        name="Maria Lopez",
        title="Flight attendant",
        email="maria@acme.test",
        aliases=["Maria L."],
        manager=manager,
    )
    manager.email = "grace@acme.test"
    manager.save(update_fields=["email"])
    return {"manager": manager, "maria": maria}


@pytest.fixture
def agent_client(agent: Agent) -> Client:
    client = Client()
    client.force_login(agent.user)
    return client


@pytest.fixture
def api_token(agent: Agent) -> str:
    return issue_token(agent=agent, name="tests")


def record(
    external_id: str,
    text: str,
    *,
    channel: str = "x",
    author: str = "u-1",
    handle: str = "@dana",
    followers: int | None = 10,
    minutes: int = 0,
    direction: str = "inbound",
    visibility: str = "public",
    in_reply_to: str | None = None,
    email: str | None = None,
    entitlement: str | None = None,
) -> dict[str, Any]:
    """One interchange record (DESIGN section 10) with sensible defaults."""
    return {
        "channel": channel,
        "external_id": external_id,
        "direction": direction,
        "visibility": visibility,
        "created_at": (T0 + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z"),
        "author": {
            "external_id": author,
            "handle": handle,
            "display_name": handle.lstrip("@").title(),
            "followers": followers,
            "email": email,
        },
        "text": text,
        "in_reply_to": in_reply_to,
        "entitlement": entitlement,
    }


@pytest.fixture
def ingest() -> Callable[..., int]:
    """Store interchange records for a workspace and run the real pipeline to the end."""
    from fairdesk.inbound.interchange import InterchangeMessage
    from fairdesk.inbound.pipeline import drain
    from fairdesk.inbound.services import store_events

    def run(workspace: Workspace, records: list[dict[str, Any]]) -> int:
        clean = [InterchangeMessage.model_validate(r).model_dump(mode="json") for r in records]
        store_events(workspace=workspace, records=clean)
        return drain()

    return run
