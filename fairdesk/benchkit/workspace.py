"""``fairdesk bench workspace``: concurrent agents on the queue, case and search pages.

Each simulated agent is signed in as a distinct agent of the seeded workspace and works
in a closed loop against a real ``fairdesk serve``: the queue through every built-in and
saved view (following "next page" links), case pages (open cases, random cases of the
whole year, and the longest threads), and search (names, handles, words, prefixes).
``/healthz`` driven the same way first is the same-run baseline.

Before the load, every page kind is also rendered in-process with Django's test client
to count its SQL statements on small and large cases, first and later pages: the count
must not grow with the data, and each ``COUNT(`` statement is listed for review.
"""

import random
import re
import time
from typing import Any

from django.db import connection
from django.db.models import Count, Max, Min
from django.test import Client
from django.test.utils import CaptureQueriesContext

from fairdesk.benchkit import http_load
from fairdesk.cases.models import OPEN_STATUSES, Case, Message
from fairdesk.contacts.models import Contact, ContactIdentity
from fairdesk.routing.conditions import BUILT_IN_VIEWS
from fairdesk.routing.models import SavedView
from fairdesk.workspaces.models import Agent, Workspace

NEXT_PAGE = re.compile(rb'[?&;]after=([^"&\s]+)"')
WORDS = (
    "refund",
    "delayed",
    "cancelled flight",
    "password",
    "app crash",
    "premium",
    "baggage",
    "canc",
    "thank",
    "order",
    "never again",
    "customer service",
)
KINDS = ("queue", "case", "search")
SEARCH_SHARE = 0.15  # of the requests; queue and case pages share the rest 45:40


class WorkspaceBenchError(Exception):
    """The bench cannot run (no such workspace, too few agents)."""


def run(
    *,
    slug: str,
    agents: int,
    seconds: float,
    think_ms: int,
    threads: int,
    processes: int = 1,
    search_share: float = SEARCH_SHARE,
) -> dict[str, Any]:
    if not 0 <= search_share <= 1:
        raise WorkspaceBenchError("The search share is a fraction from 0 to 1.")
    workspace = Workspace.objects.filter(slug=slug).first()
    if workspace is None:
        raise WorkspaceBenchError(f"No workspace {slug!r}: run `fairdesk bench seed` first.")
    people = list(Agent.objects.filter(workspace=workspace).select_related("user").order_by("id"))
    if len(people) < agents:
        raise WorkspaceBenchError(f"{slug} has {len(people)} agents, fewer than {agents}.")
    people = people[:agents]
    sample = _Sample.of(workspace, random.Random(1))
    queries = query_counts(people[0], sample)
    cookies = http_load.sign_in(people)
    load_before = http_load.load_average()
    try:
        with http_load.server(threads=threads, processes=processes) as served:
            baseline_scripts = [
                http_load.AgentScript(cookie, lambda rng: ("healthz", "/healthz"))
                for cookie in cookies
            ]
            base_seconds = max(10.0, seconds / 4)
            baseline = http_load.drive(
                served.base, baseline_scripts, seconds=base_seconds, think_ms=think_ms
            )
            scripts = [
                _Agent(sample, people[n], cookie, search_share).script()
                for n, cookie in enumerate(cookies)
            ]
            cpu_before, started = served.cpu_seconds(), time.perf_counter()
            pages = http_load.drive(served.base, scripts, seconds=seconds, think_ms=think_ms)
            elapsed = time.perf_counter() - started
            server_cpu = served.cpu_seconds() - cpu_before
    finally:
        http_load.sign_out(cookies)
    base_figures = http_load.summarise(*baseline.get("healthz", ([], 0)))
    figures = {kind: http_load.summarise(*pages.get(kind, ([], 0))) for kind in KINDS}
    requests = sum(f.requests for f in figures.values())
    return {
        "db": connection.vendor,
        "workspace": slug,
        "cases": sample.cases,
        "messages": sample.messages,
        "agents": agents,
        "seconds": seconds,
        "think_ms": think_ms,
        "search_share": search_share,
        "server_threads": threads,
        "server_processes": processes,
        "requests_per_s": round(requests / elapsed, 1),
        # Per web process, Python runs on one core at a time, whatever the threads.
        "server_cpu_ms_per_request": round(1000 * server_cpu / requests, 1) if requests else None,
        "server_cpu_share_of_one_core": round(server_cpu / elapsed, 2),
        "pages": {kind: f.as_dict() for kind, f in figures.items()},
        "baseline_healthz": base_figures.as_dict(),
        "p95_ratio_to_baseline": {
            kind: round(f.p95_ms / base_figures.p95_ms, 1) if base_figures.p95_ms else None
            for kind, f in figures.items()
        },
        "queries": queries,
        "load_average_before": load_before,
        "load_average_after": http_load.load_average(),
    }


class _Sample:
    """What the agents pick from: cases (open, random, longest), views, search terms."""

    def __init__(self) -> None:
        self.open_cases: list[str] = []
        self.any_cases: list[str] = []
        self.long_cases: list[str] = []
        self.short_cases: list[str] = []
        self.terms: list[str] = []
        self.saved_views: list[str] = []
        self.cases = 0
        self.messages = 0

    @classmethod
    def of(cls, workspace: Workspace, rng: random.Random) -> "_Sample":
        sample = cls()
        cases = Case.objects.filter(workspace=workspace)
        bounds = cases.aggregate(low=Min("id"), high=Max("id"))
        low, high = bounds["low"] or 0, bounds["high"] or 0
        picks = [rng.randint(low, high) for _ in range(600)]
        sample.any_cases = [
            str(p) for p in cases.filter(id__in=picks).values_list("public_id", flat=True)
        ]
        sample.open_cases = [
            str(p)
            for p in cases.filter(status__in=OPEN_STATUSES)
            .order_by("escalation_at", "id")
            .values_list("public_id", flat=True)[:300]
        ]
        longest = (
            Message.objects.filter(workspace=workspace, case_id__in=_recent_ids(cases))
            .values("case_id")
            .annotate(n=Count("id"))
            .order_by("-n")[:20]
        )
        ids = [row["case_id"] for row in longest]
        sample.long_cases = [
            str(p) for p in cases.filter(id__in=ids).values_list("public_id", flat=True)
        ]
        sample.short_cases = sample.any_cases[:5]
        sample.terms = _terms(workspace, rng)
        sample.saved_views = [
            str(v)
            for v in SavedView.objects.filter(workspace=workspace, shared=True).values_list(
                "public_id", flat=True
            )
        ]
        sample.cases = high - low + 1 if high else 0
        sample.messages = _estimate(Message._meta.db_table, workspace)
        return sample


def _recent_ids(cases: Any) -> list[int]:
    """Ids of the latest 50,000 cases: where the longest threads are looked for (bounded)."""
    return list(cases.order_by("-id").values_list("id", flat=True)[:50_000])


def _terms(workspace: Workspace, rng: random.Random) -> list[str]:
    names = list(
        Contact.objects.filter(workspace=workspace).values_list("display_name", flat=True)[:200]
    )
    handles = list(
        ContactIdentity.objects.filter(workspace=workspace, channel="x").values_list(
            "handle", flat=True
        )[:200]
    )
    terms = list(WORDS)
    terms += [n.split()[-1] for n in rng.sample(names, min(10, len(names)))]
    terms += rng.sample(names, min(5, len(names)))
    terms += [h[: max(4, len(h) - 3)] for h in rng.sample(handles, min(10, len(handles)))]
    return terms


def _estimate(table: str, workspace: Workspace) -> int:
    """Messages of the workspace: exact on SQLite, the planner's estimate on PostgreSQL
    (an exact count of millions of rows is what the pages must never do)."""
    if connection.vendor != "postgresql":
        return Message.objects.filter(workspace=workspace).count()
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE relname = %s", [table])
        row = cursor.fetchone()
    return int(row[0]) if row else 0


class _Agent:
    """One agent's habits: views it opens, pages it follows, cases it reads, searches."""

    def __init__(self, sample: _Sample, agent: Agent, cookie: str, search_share: float) -> None:
        self.sample, self.agent, self.cookie = sample, agent, cookie
        self.queue_share = (1 - search_share) * 45 / 85
        self.case_share = (1 - search_share) * 40 / 85
        self.views = [v.key for v in BUILT_IN_VIEWS] + sample.saved_views
        self.next_page: dict[str, str] = {}

    def script(self) -> http_load.AgentScript:
        return http_load.AgentScript(self.cookie, self.next_request, self.on_response)

    def next_request(self, rng: random.Random) -> tuple[str, str]:
        roll = rng.random()
        if roll < self.queue_share:
            view = rng.choice(self.views)
            after = self.next_page.get(view)
            if after and rng.random() < 0.4:
                return "queue", f"/?view={view}&after={after}"
            return "queue", f"/?view={view}"
        if roll < self.queue_share + self.case_share:
            pool = (
                rng.choices(
                    (self.sample.open_cases, self.sample.any_cases, self.sample.long_cases),
                    (45, 45, 10),
                )[0]
                or self.sample.any_cases
            )
            return "case", f"/cases/{rng.choice(pool)}/"
        term = rng.choice(self.sample.terms)
        return "search", f"/search/?q={_quote(term)}"

    def on_response(self, kind: str, path: str, body: bytes) -> None:
        if kind != "queue":
            return
        view = path.split("view=", 1)[1].split("&", 1)[0]
        found = NEXT_PAGE.search(body)
        if found:
            self.next_page[view] = found.group(1).decode()
        else:
            self.next_page.pop(view, None)


def _quote(term: str) -> str:
    from urllib.parse import quote

    return quote(term)


def query_counts(agent: Agent, sample: _Sample) -> dict[str, Any]:
    """SQL statements per page kind over different data (first and later queue pages,
    short and long cases, rare and common words): min and max per kind, and every
    statement with ``COUNT(`` in it."""
    client = Client()
    client.force_login(agent.user)
    urls: dict[str, list[str]] = {"queue": [], "case": [], "search": []}
    for view in [v.key for v in BUILT_IN_VIEWS] + sample.saved_views:
        urls["queue"].append(f"/?view={view}")
        first = client.get(f"/?view={view}")
        found = NEXT_PAGE.search(first.content)
        if found:
            urls["queue"].append(f"/?view={view}&after={found.group(1).decode()}")
    urls["case"] = [f"/cases/{c}/" for c in sample.short_cases[:3] + sample.long_cases[:3]]
    urls["search"] = [f"/search/?q={_quote(t)}" for t in sample.terms[:6] + sample.terms[-4:]]
    result: dict[str, Any] = {}
    for kind, paths in urls.items():
        counts, counting = [], set()
        for path in paths:
            with CaptureQueriesContext(connection) as captured:
                response = client.get(path)
            if response.status_code != 200:
                raise WorkspaceBenchError(f"{path} answered {response.status_code}")
            counts.append(len(captured.captured_queries))
            counting |= {
                q["sql"][:300] for q in captured.captured_queries if "COUNT(" in q["sql"].upper()
            }
        result[kind] = {
            "pages": len(paths),
            "counts": counts,
            "min": min(counts) if counts else 0,
            "max": max(counts) if counts else 0,
            "count_statements": sorted(counting),
        }
    client.logout()
    return result
