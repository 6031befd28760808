"""The insights overview in headless Chromium: every section loads into the page on its
own, with the same figures the one-page version shows, and nothing errs on the way."""

from pathlib import Path
from typing import Any

import pytest

from fairdesk.insights.tests.test_views import populate
from fairdesk.workspaces.models import Agent, Workspace

pytest.importorskip("playwright.sync_api")
from playwright.sync_api import Browser, expect

from conftest import PASSWORD
from fairdesk.cases.tests.test_live_browser import browser, quick_watch
from fairdesk.cases.tests.test_shortcuts_browser import CHROMIUM

__all__ = ["browser", "quick_watch"]  # the fixtures, shared with the case page's tests

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed"),
]


@pytest.mark.django_db(transaction=True)
def test_the_overview_loads_each_section_in_place(
    live_server: Any,
    browser: Browser,
    workspace: Workspace,
    other_workspace: Workspace,
    agent: Agent,
) -> None:
    populate(workspace, other_workspace)
    errors: list[str] = []
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    order: list[str] = []  # "start parity", "end parity" (its response), ...: in time order
    page.on("request", lambda r: _note(order, "start", r.url))
    page.on("response", lambda r: _note(order, "end", r.url))
    page.on("requestfailed", lambda r: _note(order, "failed", r.url))
    # Straight to the overview from the login form, never through the queue: the queue
    # page long-polls /live/changes/, and the live server of these tests shares one
    # in-memory SQLite connection between its threads, where a poll still running beside
    # a section's query can deadlock them both (seen once in CI).
    page.goto(f"{live_server.url}/login/?next=/insights/%3Fdays%3D7")
    page.get_by_label("Username").fill("jc")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    for heading in ("parity", "crickets", "sps", "praise", "sla", "csat"):
        expect(page.locator(f"h2#{heading}")).to_be_visible()
    expect(page.locator("[aria-busy='true']")).to_have_count(0)
    assert page.evaluate("() => window.__xss || null") is None
    # One at a time, in page order: each starts only after the one before has finished.
    names = ["parity", "crickets", "sps", "praise", "service_levels", "csat"]
    assert order == [f"{step} {name}" for name in names for step in ("start", "end")]
    # The weekly parity trend is fetched when opened, into its own <details>.
    trend = page.locator("section[aria-labelledby='parity'] details").filter(has_text="Weekly")
    expect(trend).to_have_count(3)
    expect(trend.first.get_by_text("Week of")).to_have_count(0)
    trend.first.locator("summary").click()
    expect(trend.first.get_by_role("columnheader", name="Week of")).to_be_visible()
    expect(trend.nth(1).get_by_text("Loading…")).to_be_attached()  # the others: not yet
    promoters = page.locator("a[href='/insights/sps/promoters/?days=7']")
    expect(promoters).to_have_text("1")  # the fan, as on the one-page version
    page.get_by_role("link", name="Every figure on one page").click()
    expect(page.locator("h2#sps")).to_be_visible()
    assert page.url.endswith("/insights/?days=7&all=1")
    assert errors == []


def _note(order: list[str], step: str, url: str) -> None:
    if "/insights/section/" in url:
        order.append(f"{step} {url.split('/insights/section/')[1].split('/')[0]}")
