"""End to end in headless Chromium: the agent sends a portal link from the case page;
the customer opens it, proves who they are with the code sent by DM, sees their case
and writes privately with a photo attached, which the agent then sees and downloads on
the case page. Codes and links are read from the queued outbound messages,
where the customer's platform would deliver them."""

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import PASSWORD
from fairdesk.cases.live import WATCH
from fairdesk.cases.models import Message
from fairdesk.portal.models import PortalChallenge, PortalLink
from fairdesk.portal.tests.conftest import CODE, Customer, tiny_png
from fairdesk.workspaces.models import Agent

pytest.importorskip("playwright.sync_api")
from playwright.sync_api import Browser, expect, sync_playwright

PNG = tiny_png()
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed"),
]


@pytest.fixture
def static_dirs(settings: Any) -> None:
    static = Path(__file__).resolve().parents[2] / "static"
    if static not in [Path(p) for p in settings.STATICFILES_DIRS]:
        settings.STATICFILES_DIRS = [*settings.STATICFILES_DIRS, static]


@pytest.fixture
def quick_watch(settings: Any) -> Iterator[None]:
    """The agent's case page long-polls for changes: short waits, and the live watcher
    thread ended before the test database goes (as in cases' live browser test)."""
    settings.FAIRDESK_LIVE_STEP_SECONDS = 0.05
    settings.FAIRDESK_LIVE_LINGER_SECONDS = 0
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


def test_customer_continues_their_case_privately_in_the_portal(
    live_server: Any,
    static_dirs: None,
    browser: Browser,
    dana: Customer,
    bob: Customer,
    agent: Agent,
) -> None:
    errors: list[str] = []
    agent_page = browser.new_context().new_page()
    agent_page.goto(f"{live_server.url}/login/")
    agent_page.get_by_label("Username").fill("jc")
    agent_page.get_by_label("Password").fill(PASSWORD)
    agent_page.get_by_role("button", name="Log in").click()
    agent_page.goto(f"{live_server.url}/cases/{dana.case.public_id}/")
    agent_page.get_by_label("Send to").select_option("x")
    agent_page.get_by_role("button", name="Send portal link").click()
    expect(agent_page.get_by_text("Portal link queued (x).")).to_be_visible()

    link = PortalLink.objects.select_related("message").get()
    assert link.message is not None
    link_message = link.message
    match = re.search(r"(/portal/acme/l/[0-9a-f.]+/)", link_message.text)
    assert match is not None

    customer = browser.new_context().new_page()
    customer.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    customer.on(
        "response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None
    )
    customer.goto(f"{live_server.url}{match.group(1)}")
    expect(customer.get_by_role("heading", name="Confirm it is you")).to_be_visible()
    customer.get_by_label("Direct message on X to @dana").check()
    customer.get_by_role("button", name="Send my code").click()
    challenge = PortalChallenge.objects.get()
    assert challenge.message_id is not None
    code = CODE.search(Message.objects.get(pk=challenge.message_id).text)
    assert code is not None
    customer.get_by_label("Your code").fill(code.group(1))
    customer.get_by_role("button", name="Continue").click()

    expect(customer.get_by_role("heading", name="Your cases")).to_be_visible()
    customer.get_by_role("link", name=dana.case.reference).click()
    expect(customer.locator(".timeline")).to_contain_text("Dana: dryer broken")
    customer.get_by_label("Your message").fill("The label says <b>model 7</b>")
    customer.get_by_label("Attach files (optional)").set_input_files(
        {"name": "label.png", "mimeType": "image/png", "buffer": PNG}
    )
    customer.get_by_role("button", name="Send").click()
    expect(customer.get_by_role("status")).to_contain_text("your message is on your case")
    expect(customer.locator(".timeline")).to_contain_text("The label says <b>model 7</b>")
    expect(customer.locator(".timeline").get_by_role("link", name="label.png")).to_be_visible()
    assert "Bob" not in customer.content()
    assert errors == []

    agent_page.reload()
    file_link = agent_page.get_by_role("link", name="label.png")
    expect(file_link).to_be_visible()
    with agent_page.expect_download() as download:
        file_link.click()
    assert download.value.suggested_filename == "label.png"
    assert Path(download.value.path()).read_bytes() == PNG
