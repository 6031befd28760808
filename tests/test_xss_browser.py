"""Stored XSS sweep in headless Chromium: every page an agent or supervisor can reach.

Hostile text goes in through the real ingest path (message text, e-mail subject, display
names, handles, links) and through every other thing staff can name (teams, employees,
saved views, canned replies, articles, root causes, work orders). The test then logs in
as a supervisor and crawls every same-origin page it can reach by links from the queue,
and asserts on each page that no payload ran (each one records itself in
``window.__xss``), no dialog opened and no link or form points at a ``javascript:`` URL.
New pages are swept as soon as something links to them.
"""

import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urldefrag, urlsplit

import pytest
from django.utils import timezone

from conftest import PASSWORD
from fairdesk.cases.models import Case
from fairdesk.followthrough.services import NewWorkOrder, create_work_order
from fairdesk.insights.models import RootCause
from fairdesk.knowledge.models import Article, CannedReply
from fairdesk.routing.models import SavedView
from fairdesk.workspaces.models import Agent, Team, Workspace
from fairdesk.workspaces.services import add_employee

pytest.importorskip("playwright.sync_api")
from playwright.sync_api import Browser, Page, sync_playwright

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
MAX_PAGES = 120

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed"),
]


def payload(where: str) -> str:
    """Markup that records ``where`` in ``window.__xss`` if a browser ever runs it."""
    mark = f"(window.__xss=window.__xss||[]).push('{where}')"
    return (
        f'<script>{mark}</script><img src=x onerror="{mark}">'
        f'"><svg onload="{mark}"> javascript:{mark} =HYPERLINK("http://evil.test")'
    )


SHORT = '<img src=x onerror="(window.__xss=window.__xss||[]).push(1)">'


@pytest.fixture
def browser() -> Iterator[Browser]:
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def static_dirs(settings: Any) -> None:
    static = Path(__file__).resolve().parent.parent / "fairdesk" / "static"
    if static not in [Path(p) for p in settings.STATICFILES_DIRS]:
        settings.STATICFILES_DIRS = [*settings.STATICFILES_DIRS, static]


def seed_hostile(workspace: Workspace, supervisor: Agent, ingest: Any) -> None:
    from conftest import record

    records = [
        record("x-1", payload("tweet") + " my order never came", handle=f"@{SHORT}"),
        record(
            "mail-1",
            payload("mail body") + " refund please",
            channel="email",
            author="mallory@example.com",
            handle="mallory@example.com",
            email="mallory@example.com",
            visibility="private",
        ),
        record(
            "m-1",
            "see javascript:alert(1) and https://ok.example/<b>x</b> " + payload("toot"),
            channel="mastodon",
            author="m-9",
            handle=f"@x{SHORT}@evil.test",
        ),
    ]
    records[1]["subject"] = payload("subject")
    for r in records:
        r["author"]["display_name"] = payload("name")[:200]
    ingest(workspace, records)
    team = Team.objects.create(workspace=workspace, name=SHORT, slug="hostile")
    add_employee(workspace=workspace, name=SHORT[:100], title=payload("title")[:100])
    SavedView.objects.create(
        workspace=workspace, owner=supervisor, name=SHORT[:80], shared=True, conditions={}
    )
    CannedReply.objects.create(workspace=workspace, title=SHORT, body=payload("canned"))
    Article.objects.create(workspace=workspace, title=SHORT, body=payload("article"), tags=SHORT)
    RootCause.objects.create(
        workspace=workspace, slug="hostile", name=SHORT, description=payload("cause")
    )
    case = Case.objects.filter(workspace=workspace).order_by("id").first()
    assert case is not None
    create_work_order(
        case=case,
        actor=supervisor,
        order=NewWorkOrder(
            kind="refund",
            team=team,
            title=payload("order")[:200],
            customer_label=SHORT,
            due_at=timezone.now() + timedelta(days=2),
            idempotency_key="xss-1",
        ),
    )


def same_origin_links(page: Page, origin: str) -> list[str]:
    hrefs: list[str] = page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)")
    links = []
    for href in hrefs:
        url, _ = urldefrag(href)
        parts = urlsplit(url)
        if f"{parts.scheme}://{parts.netloc}" != origin:
            continue
        if any(skip in parts.path for skip in ("/logout", "/download", "/attachments/", "/api/")):
            continue
        if parts.path.endswith(".csv") or "format=csv" in parts.query:
            continue
        links.append(url)
    return links


def injected_elements(page: Page) -> int:
    """Elements the payloads would create if markup got through unescaped.

    The Content-Security-Policy already stops inline script from running, so counting
    the elements catches an escaping bug that the policy would hide.
    """
    script = """() => document.querySelectorAll(
        'img[src="x"], svg[onload], [onerror], [onload]').length
        + [...document.scripts].filter(s => s.text.includes('__xss')).length"""
    count: int = page.evaluate(script)
    return count


def javascript_urls(page: Page) -> list[str]:
    script = """() => [...document.querySelectorAll('[href],[src],[action],[formaction]')]
        .flatMap(e => ['href', 'src', 'action', 'formaction'].map(a => e.getAttribute(a)))
        .filter(v => v && v.replace(/[\\s\\u0000-\\u001f]/g, '').toLowerCase()
        .startsWith('javascript:'))"""
    found: list[str] = page.evaluate(script)
    return found


@pytest.mark.django_db(transaction=True)
def test_no_stored_payload_runs_on_any_page(
    live_server: Any,
    static_dirs: None,
    browser: Browser,
    workspace: Workspace,
    supervisor: Agent,
    ingest: Any,
) -> None:
    seed_hostile(workspace, supervisor, ingest)
    origin = live_server.url
    page = browser.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))

    page.goto(f"{origin}/login/")
    page.get_by_label("Username").fill("sam")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{origin}/")

    seen: set[str] = set()
    todo = [
        f"{origin}/",
        f"{origin}/search/?q=mallory",
        f"{origin}/search/?q={quote(SHORT)}",
        f"{origin}/search/?q={quote(payload('query'))}",
    ]
    ran: dict[str, Any] = {}
    bad_urls: dict[str, list[str]] = {}
    visited_paths: set[str] = set()
    while todo and len(seen) < MAX_PAGES:
        url = todo.pop(0)
        if url in seen:
            continue
        seen.add(url)
        response = page.goto(url)
        if (
            response is None
            or response.status >= 400
            or "text/html" not in (response.headers.get("content-type", ""))
        ):
            continue
        visited_paths.add(urlsplit(url).path)
        page.wait_for_load_state("load")
        marks = page.evaluate("() => window.__xss || null")
        if marks:
            ran[url] = marks
        if injected_elements(page):
            ran[url] = f"{injected_elements(page)} injected element(s)"
        found = javascript_urls(page)
        if found:
            bad_urls[url] = found
        todo.extend(link for link in same_origin_links(page, origin) if link not in seen)

    assert ran == {}
    assert dialogs == []
    assert bad_urls == {}
    # The sweep really reached the pages that show the hostile text.
    case = Case.objects.filter(workspace=workspace).order_by("id").first()
    assert case is not None
    must_see = {"/", f"/cases/{case.public_id}/", "/insights/", "/search/"}
    assert must_see <= visited_paths, sorted(visited_paths)
    assert len(visited_paths) >= 15, sorted(visited_paths)
