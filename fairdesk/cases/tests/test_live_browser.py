"""Live updates in headless Chromium: a new customer message shows up on an open queue
page and on the open case without a reload, is announced politely, runs no script, and
leaves a half-written reply alone."""

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from django.db import transaction
from django.utils import timezone

from fairdesk.cases.live import WATCH
from fairdesk.cases.tests.factories import add_inbound
from fairdesk.routing.tests.builders import queued
from fairdesk.workspaces.models import Agent, Workspace

pytest.importorskip("playwright.sync_api")
from playwright.sync_api import Browser, Page, expect, sync_playwright

from fairdesk.cases.tests.test_shortcuts_browser import ARGS, CHROMIUM, logged_in

HOSTILE = '<img src=x onerror="window.pwned=1"><script>window.pwned=1</script> =HYPERLINK("x")'
WAITED = 20_000  # ms Playwright keeps looking; the page answers within a poll or two

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed"),
]

T = TypeVar("T")


@pytest.fixture
def quick_watch(settings: Any) -> Iterator[None]:
    """Short waits so the page's last long-poll ends soon after the browser closes."""
    settings.FAIRDESK_LIVE_STEP_SECONDS = 0.05
    settings.FAIRDESK_LIVE_LINGER_SECONDS = 0
    settings.FAIRDESK_LIVE_WAIT_SECONDS = 2
    yield
    for _ in range(3):  # a poll sent just before the browser closed may start a new wait
        WATCH.join(timeout=15)
        time.sleep(0.2)


@pytest.fixture
def browser(quick_watch: None) -> Iterator[Browser]:
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


def arrives(write: Callable[[], T]) -> T:
    """``write`` in one transaction while the open page's long-poll reads in the server
    thread (the SQLite test database is a file, so the write waits for no reader: root
    conftest)."""
    with transaction.atomic():
        return write()


def long_polling(page: Page, url: str) -> None:
    """Open ``url`` and return once the page has its cursor and waits for changes."""
    with page.expect_request(lambda r: "/live/changes/?since=" in r.url, timeout=WAITED):
        page.goto(url)


@pytest.mark.django_db(transaction=True)
def test_a_new_message_appears_on_the_open_queue_and_case(
    live_server: Any,
    browser: Browser,
    workspace: Workspace,
    other_workspace: Workspace,
    agent: Agent,
) -> None:
    first = queued(workspace, "first", due_in=30)
    queued(other_workspace, "foreign", due_in=1)
    errors: list[str] = []
    page = logged_in(browser, live_server.url, errors)
    long_polling(page, f"{live_server.url}/")
    page.locator("body").evaluate("body => body.setAttribute('data-not-reloaded', '1')")
    page.get_by_role("checkbox", name=f"Select {first.reference}").check()

    second = arrives(lambda: queued(workspace, "second", due_in=5, subject=HOSTILE))
    rows = page.locator("table.queue tbody tr")
    expect(rows).to_have_count(2, timeout=WAITED)
    expect(rows.nth(0)).to_have_attribute("data-reference", second.reference)
    expect(rows.nth(0)).to_contain_text('<img src=x onerror="window.pwned=1">')
    live_note = page.locator("[data-live-url]")
    expect(live_note).to_have_text("1 new message", timeout=WAITED)
    expect(live_note).to_have_attribute("aria-live", "polite")
    expect(page.get_by_role("checkbox", name=f"Select {first.reference}")).to_be_checked()
    expect(page.locator("body")).to_have_attribute("data-not-reloaded", "1")
    assert page.locator("table.queue").get_by_text("Foreign").count() == 0

    long_polling(page, f"{live_server.url}/cases/{first.public_id}/")
    page.locator("body").evaluate("body => body.setAttribute('data-not-reloaded', '1')")
    reply = page.locator('textarea[data-shortcut="r"]')
    reply.fill("Half-written answer")
    identity = first.contact.identities.get()
    arrives(
        lambda: add_inbound(first, identity, text=HOSTILE, external_id="first-2", at=timezone.now())
    )
    expect(page.locator(".timeline .msg-inbound")).to_have_count(2, timeout=WAITED)
    expect(page.locator(".timeline")).to_contain_text("<script>window.pwned=1</script>")
    expect(page.locator("[data-live-url]")).to_have_text("1 new message", timeout=WAITED)
    expect(reply).to_have_value("Half-written answer")
    expect(page.locator("body")).to_have_attribute("data-not-reloaded", "1")

    assert page.evaluate("() => window.pwned") is None
    assert errors == []


@pytest.mark.django_db(transaction=True)
def test_the_first_case_appears_on_an_empty_queue_and_shortcuts_still_work(
    live_server: Any,
    browser: Browser,
    workspace: Workspace,
    other_workspace: Workspace,
    agent: Agent,
) -> None:
    queued(other_workspace, "foreign", due_in=1)
    errors: list[str] = []
    page = logged_in(browser, live_server.url, errors)
    long_polling(page, f"{live_server.url}/")
    expect(page.get_by_text("Nothing waiting in this view.")).to_be_visible()

    arrived = arrives(lambda: queued(workspace, "arrived", due_in=5))
    link = page.get_by_role("link", name=arrived.reference)
    expect(link).to_be_visible(timeout=WAITED)
    expect(page.locator("[data-live-url]")).to_have_text("1 new message", timeout=WAITED)
    expect(page.locator("[data-live-url]")).to_have_count(1)
    page.keyboard.press("j")
    expect(link).to_be_focused()
    assert page.get_by_text("Foreign").count() == 0
    assert errors == []
