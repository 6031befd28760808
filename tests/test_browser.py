"""End to end in headless Chromium: log in, open the queue and a case, reply."""

import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from conftest import PASSWORD
from fairdesk.cases.tests.factories import make_case
from fairdesk.workspaces.models import Agent, Workspace

pytest.importorskip("playwright.sync_api")
from playwright.sync_api import Browser, expect, sync_playwright

CHROMIUM = "/usr/bin/chromium"
# Set FAIRDESK_UPDATE_SCREENSHOTS=1 to refresh the README's screenshots from this test.
DOCS_SCREENSHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed"),
]


@pytest.fixture
def static_dirs(settings):
    """fairdesk/static is not an app's static folder; serve it until settings lists it."""
    static = Path(__file__).resolve().parent.parent / "fairdesk" / "static"
    if static not in [Path(p) for p in settings.STATICFILES_DIRS]:
        settings.STATICFILES_DIRS = [*settings.STATICFILES_DIRS, static]


@pytest.fixture
def browser() -> Iterator[Browser]:
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


@pytest.mark.django_db(transaction=True)
def test_agent_replies_from_the_case_page(
    live_server,
    static_dirs: None,
    browser: Browser,
    workspace: Workspace,
    agent: Agent,
    tmp_path: Path,
) -> None:
    shots = DOCS_SCREENSHOTS if os.environ.get("FAIRDESK_UPDATE_SCREENSHOTS") else tmp_path
    now = timezone.now()
    case = make_case(
        workspace,
        text="My heater stopped working and it is freezing <b>here</b>",
        name="Dana Reyes",
        subject="Heater stopped working",
        at=now - timedelta(hours=3),
    )
    make_case(
        workspace,
        external_id="m-2",
        handle="@leak_report",
        name="Sam Park",
        severity="critical",
        text="I can read other customers' invoices by changing the URL",
        subject="Invoices visible to other customers",
        at=now - timedelta(minutes=20),
    )
    make_case(
        workspace,
        external_id="m-3",
        channel="email",
        handle="lee@example.com",
        name="Lee Wong",
        severity="low",
        text="Loved the technician, thank you Maria!",
        subject="Thanks to Maria",
        at=now - timedelta(hours=1),
    )
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)

    page.goto(f"{live_server.url}/")
    expect(page).to_have_url(f"{live_server.url}/login/?next=/")
    page.get_by_label("Username").fill("jc")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()

    expect(page.get_by_role("heading", name="Queue")).to_be_visible()
    rows = page.locator("table.queue tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.first).to_contain_text("Invoices visible to other customers")
    shots.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shots / "queue.png"), full_page=True)

    page.get_by_role("link", name=case.reference).click()
    expect(page.get_by_role("heading", name="Timeline")).to_be_visible()
    expect(page.locator(".timeline")).to_contain_text("freezing <b>here</b>")
    reply_box = page.get_by_role("textbox", name="Reply")
    reply_box.fill("Sorry about the cold! A technician can come today.")
    page.get_by_role("button", name="Send reply").click()

    outbound = page.locator(".timeline .msg-outbound")
    expect(outbound).to_contain_text("A technician can come today. ^JC")
    expect(page.locator(".timeline")).to_contain_text("Reply queued")
    expect(reply_box).to_have_value("")
    page.screenshot(path=str(shots / "case.png"), full_page=True)

    reply_box.fill("you are frauds, this is over your pay scale")
    page.get_by_role("button", name="Send reply").click()
    expect(page.get_by_role("alert")).to_contain_text("The tone guard stopped this reply.")
    expect(page.get_by_role("alert")).to_contain_text("over your pay scale")
    page.get_by_role("button", name="Ask a supervisor to approve").click()
    expect(page.locator(".timeline")).to_contain_text("Reply held for supervisor approval")
    assert errors == []
