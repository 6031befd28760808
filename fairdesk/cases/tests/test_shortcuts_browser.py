"""The keyboard shortcuts in headless Chromium: j/k, a, e, / and r work, and no script
error happens on the way."""

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import PASSWORD
from fairdesk.cases.models import Case, CaseStatus
from fairdesk.routing.tests.builders import queued
from fairdesk.workspaces.models import Agent, Workspace

pytest.importorskip("playwright.sync_api")
from playwright.sync_api import Browser, Page, expect, sync_playwright

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed"),
]


@pytest.fixture
def browser() -> Iterator[Browser]:
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


def logged_in(browser: Browser, url: str, errors: list[str]) -> Page:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.goto(f"{url}/login/")
    page.get_by_label("Username").fill("jc")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Queue")).to_be_visible()
    page.wait_for_load_state("load")  # the deferred script has run
    return page


@pytest.mark.django_db(transaction=True)
def test_queue_and_case_page_by_keyboard(
    live_server: Any, browser: Browser, workspace: Workspace, agent: Agent
) -> None:
    first = queued(workspace, "first", due_in=5)
    second = queued(workspace, "second", due_in=10)
    third = queued(workspace, "third", due_in=15)
    errors: list[str] = []
    page = logged_in(browser, live_server.url, errors)

    page.keyboard.press("j")
    expect(page.get_by_role("link", name=first.reference)).to_be_focused()
    page.keyboard.press("j")
    page.keyboard.press("j")
    expect(page.get_by_role("link", name=third.reference)).to_be_focused()
    page.keyboard.press("k")
    expect(page.get_by_role("link", name=second.reference)).to_be_focused()
    expect(page.locator(f'tr[data-case-id="{second.public_id}"]')).to_have_attribute(
        "aria-current", "true"
    )

    page.keyboard.press("a")
    expect(page.get_by_role("status")).to_contain_text("1 changed, 0 unchanged, 0 refused.")
    page.wait_for_load_state("load")
    assert Case.objects.get(pk=second.pk).assignee_id == agent.pk

    page.keyboard.press("j")
    page.once("dialog", lambda dialog: dialog.accept())
    page.keyboard.press("e")
    expect(page.get_by_role("status")).to_contain_text("1 changed")
    page.wait_for_load_state("load")
    assert Case.objects.get(pk=first.pk).status == CaseStatus.RESOLVED

    page.keyboard.press("/")
    search = page.get_by_role("searchbox", name="Search messages, handles and names")
    expect(search).to_be_focused()
    page.keyboard.type("third")  # typing in the box: j, k, a, e, r are just letters here
    expect(search).to_have_value("third")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Search")).to_be_visible()
    expect(page.locator("table.queue tbody tr")).to_have_count(1)

    page.goto(f"{live_server.url}/cases/{third.public_id}/")  # waits for "load"
    page.keyboard.press("r")
    expect(page.locator('textarea[data-shortcut="r"]')).to_be_focused()
    assert errors == []
