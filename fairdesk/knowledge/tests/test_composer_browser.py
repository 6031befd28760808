"""The composer in headless Chromium: the live counter follows X's weighting, a canned
reply goes into the reply box by keyboard, the preview shows the signed text, and a
hostile customer name never runs as script."""

from pathlib import Path
from typing import Any

import pytest

from fairdesk.cases.tests.factories import make_case
from fairdesk.knowledge.services import create_canned_reply
from fairdesk.workspaces.models import Agent, Workspace

pytest.importorskip("playwright.sync_api")
from playwright.sync_api import Browser, expect

from fairdesk.cases.tests.test_shortcuts_browser import CHROMIUM, browser, logged_in

__all__ = ["browser"]  # the fixture, shared with the shortcuts test

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed"),
]

HOSTILE = "<img src=x onerror=window.__pwned=1><script>window.__pwned=1</script>"


@pytest.mark.django_db(transaction=True)
def test_counter_picker_and_preview(
    live_server: Any, browser: Browser, workspace: Workspace, agent: Agent, supervisor: Agent
) -> None:
    case = make_case(workspace, channel="x", external_id="tw-1", name=HOSTILE)
    create_canned_reply(
        agent=supervisor, title="Dryer refund", body="Hi {first_name}, refund for {case_ref}."
    )
    errors: list[str] = []
    page = logged_in(browser, live_server.url, errors)
    page.goto(f"{live_server.url}/cases/{case.public_id}/")
    page.wait_for_load_state("load")

    box = page.get_by_label("Your reply")
    counter = page.locator("[data-composer-count]")
    box.fill("\U0001f600" * 139)  # 278 + " ^JC" = 282 as X counts
    expect(counter).to_contain_text("282 of 280 characters")
    expect(counter).to_have_class("composer-count over")
    expect(page.locator("[data-composer-alert]")).to_have_text(
        "The reply is too long for a post on X."
    )
    box.fill("")

    page.get_by_label("Canned replies and articles").fill("refund")
    use = page.get_by_role("button", name="Use “Dryer refund”")
    expect(use).to_be_visible()
    use.focus()
    page.keyboard.press("Enter")
    name = HOSTILE.split(" ", 1)[0]  # {first_name}: the name's first word
    expect(box).to_have_value(f"Hi {name}, refund for {case.reference}.")
    expect(box).to_be_focused()
    expect(counter).not_to_have_class("composer-count over")

    page.get_by_role("button", name="Preview the reply").click()
    preview = page.locator("#composer-preview blockquote")
    expect(preview).to_have_text(f"Hi {name}, refund for {case.reference}. ^JC")
    expect(page.locator("#composer-preview")).to_contain_text("The tone guard lets it through.")
    assert page.evaluate("window.__pwned") is None
    assert errors == []
