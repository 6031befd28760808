"""A long timeline in headless Chromium: "show earlier" brings the whole history into
the page in platform-time order, keeps a half-written reply, survives a reload, and
still works in place after a live update swapped the timeline."""

from pathlib import Path
from typing import Any

import pytest

from fairdesk.cases import views
from fairdesk.cases.tests.factories import add_inbound
from fairdesk.cases.tests.test_page_rendering import long_case
from fairdesk.workspaces.models import Agent, Workspace

pytest.importorskip("playwright.sync_api")
from playwright.sync_api import Browser, expect

from fairdesk.cases.tests.test_live_browser import (
    WAITED,
    arrives,
    browser,
    long_polling,
    quick_watch,
)
from fairdesk.cases.tests.test_shortcuts_browser import CHROMIUM, logged_in

__all__ = ["browser", "quick_watch"]  # the fixtures, shared with the live-update tests

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed"),
]


@pytest.mark.django_db(transaction=True)
def test_show_earlier_loads_the_whole_history_in_place(
    live_server: Any,
    browser: Browser,
    workspace: Workspace,
    agent: Agent,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(views, "TIMELINE_LATEST", 3)
    case = long_case(workspace, 6)
    errors: list[str] = []
    page = logged_in(browser, live_server.url, errors)
    page.goto(f"{live_server.url}/cases/{case.public_id}/")
    texts = page.locator("#case-work .timeline li.msg p.text")
    expect(texts).to_have_text(["note 3", "note 4", "note 5"])
    page.locator("textarea[data-shortcut='r']").fill("Half-written reply")

    page.get_by_role("link", name="Show 3 earlier entries").click()
    expect(texts).to_have_text([f"note {n}" for n in range(6)])
    expect(page.locator("textarea[data-shortcut='r']")).to_have_value("Half-written reply")
    assert page.url.endswith(f"/cases/{case.public_id}/?timeline=all")
    expect(page.get_by_role("link", name="Show 3 earlier entries")).to_have_count(0)

    page.reload()
    expect(texts).to_have_text([f"note {n}" for n in range(6)])
    assert errors == []


@pytest.mark.django_db(transaction=True)
def test_show_earlier_still_loads_in_place_after_a_live_update(
    live_server: Any,
    browser: Browser,
    workspace: Workspace,
    agent: Agent,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(views, "TIMELINE_LATEST", 3)
    case = long_case(workspace, 5)
    identity = case.contact.identities.get()
    errors: list[str] = []
    page = logged_in(browser, live_server.url, errors)
    long_polling(page, f"{live_server.url}/cases/{case.public_id}/")
    page.locator("body").evaluate("body => body.setAttribute('data-not-reloaded', '1')")
    page.locator("textarea[data-shortcut='r']").fill("Half-written reply")
    texts = page.locator("#case-work .timeline li.msg p.text")

    arrives(lambda: add_inbound(case, identity, text="note 5", external_id="live-1"))
    expect(texts).to_have_text(["note 3", "note 4", "note 5"], timeout=WAITED)
    page.get_by_role("link", name="Show 3 earlier entries").click()
    expect(texts).to_have_text([f"note {n}" for n in range(6)])
    expect(page.locator("textarea[data-shortcut='r']")).to_have_value("Half-written reply")
    expect(page.locator("body")).to_have_attribute("data-not-reloaded", "1")
    assert errors == []
