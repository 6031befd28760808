"""``fairdesk bench insights``: every insights page and API endpoint, three periods.

Two signed-in supervisors go round every (page or endpoint, period) pair against a real
``fairdesk serve`` for the given time; the periods are the last 30 days, the last 90
days and the last 12 months. CSV exports are left out: they stream a whole period by
design and are not interactive pages. ``/healthz`` is the same-run baseline.

For each page whose p95 misses the target, the page is rendered once more in-process and
its slowest SQL statement is explained (``EXPLAIN (ANALYZE, BUFFERS)`` on PostgreSQL), so
the report says which query dominates.
"""

import time
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from fairdesk.benchkit import http_load
from fairdesk.insights.views import SECTIONS
from fairdesk.workspaces.models import Agent, Workspace

TARGET_P95_MS = 300.0
PAGES = (
    ("page overview", "/insights/?{period}"),
    # The overview's sections, each loaded by the page as a request of its own (opened
    # here as a page: the section with the site's layout, a little more than the page
    # asks for).
    *(
        (f"page overview {name.replace('_', ' ')}", f"/insights/section/{name}/?{{period}}")
        for name, _ in SECTIONS
    ),
    ("page crickets", "/insights/crickets/?{period}"),
    ("page sps promoters", "/insights/sps/promoters/?{period}"),
    ("page sps detractors", "/insights/sps/detractors/?{period}"),
    ("page kudos", "/insights/kudos/?{period}"),
    ("page root causes", "/insights/root-causes/?{period}"),
    ("api parity", "/api/v1/insights/parity?{api_period}"),
    ("api crickets", "/api/v1/insights/crickets?{api_period}"),
    ("api cricket messages", "/api/v1/insights/crickets/messages?{api_period}"),
    ("api sps", "/api/v1/insights/sps?{api_period}"),
    ("api sps converted", "/api/v1/insights/sps/converted?{api_period}"),
    ("api praise", "/api/v1/insights/praise?{api_period}"),
    ("api kudos", "/api/v1/insights/praise/kudos?{api_period}"),
    ("api service levels", "/api/v1/insights/service-levels?{api_period}"),
    ("api csat", "/api/v1/insights/csat?{api_period}"),
    ("api root causes", "/api/v1/insights/root-causes?{api_period}"),
)
PERIODS = (("30 days", 30), ("90 days", 90), ("12 months", 365))
MAX_EXPLAINED = 8


class InsightsBenchError(Exception):
    """The bench cannot run (no such workspace, no supervisor)."""


def urls(now: datetime) -> list[tuple[str, str]]:
    """(name, path) of every page and endpoint for every period."""
    found = []
    for period_name, days in PERIODS:
        start = now - timedelta(days=days)
        page_period = (
            f"days={days}"
            if days in (30, 90)
            else (f"start={start.date().isoformat()}&end={now.date().isoformat()}")
        )
        api_period = f"start={quote(start.isoformat())}&end={quote(now.isoformat())}"
        for name, template in PAGES:
            path = template.format(period=page_period, api_period=api_period)
            found.append((f"{name} · {period_name}", path))
    return found


def run(
    *,
    slug: str,
    seconds: float,
    threads: int,
    processes: int = 1,
    clients: int = 2,
    timeout_s: int = 60,
) -> dict[str, Any]:
    """At least one full round per client (every target measured ``clients`` times),
    more rounds while ``seconds`` last; a statement over ``timeout_s`` fails its page."""
    workspace = Workspace.objects.filter(slug=slug).first()
    if workspace is None:
        raise InsightsBenchError(f"No workspace {slug!r}: run `fairdesk bench seed` first.")
    supervisors = list(
        Agent.objects.filter(
            workspace=workspace, role__in=[Agent.Role.SUPERVISOR, Agent.Role.ADMIN]
        )
        .select_related("user")
        .order_by("id")[:clients]
    )
    if not supervisors:
        raise InsightsBenchError(f"{slug} has no supervisor to read the insights.")
    targets = urls(datetime.now(UTC))
    cookies = http_load.sign_in(supervisors)
    load_before = http_load.load_average()
    try:
        with http_load.server(
            threads=threads, processes=processes, statement_timeout_s=timeout_s
        ) as served:
            health = [
                http_load.AgentScript(c, lambda rng: ("healthz", "/healthz")) for c in cookies
            ]
            baseline = http_load.drive(served.base, health, seconds=10, think_ms=0)
            started = time.perf_counter()
            scripts = [
                http_load.AgentScript(
                    cookie,
                    _RoundRobin(
                        targets,
                        offset=n * len(targets) // len(cookies),
                        stop_after=started + seconds,
                    ),
                )
                for n, cookie in enumerate(cookies)
            ]
            results = http_load.drive(served.base, scripts, seconds=24 * 3600, think_ms=0)
            elapsed = time.perf_counter() - started
    finally:
        http_load.sign_out(cookies)
    figures = {name: http_load.summarise(*results.get(name, ([], 0))) for name, _ in targets}
    # Missed: too slow, or failed (a statement past the timeout answers 500) — failures first.
    failed = [name for name, f in figures.items() if f.errors]
    slow = failed + [
        name
        for name, f in figures.items()
        if f.requests and f.p95_ms > TARGET_P95_MS and name not in failed
    ]
    paths = dict(targets)
    return {
        "db": connection.vendor,
        "workspace": slug,
        "seconds": round(elapsed, 1),
        "clients": len(cookies),
        "server_threads": threads,
        "server_processes": processes,
        "target_p95_ms": TARGET_P95_MS,
        "pages": {name: f.as_dict() for name, f in figures.items()},
        "baseline_healthz": http_load.summarise(*baseline.get("healthz", ([], 0))).as_dict(),
        "missed_target": slow,
        "never_measured": [name for name, f in figures.items() if not f.requests],
        "dominant_queries": {
            name: dominant_query(supervisors[0], paths[name], timeout_s=timeout_s)
            for name in slow[:MAX_EXPLAINED]
        },
        "load_average_before": load_before,
        "load_average_after": http_load.load_average(),
    }


class _RoundRobin:
    """Every target in turn from ``offset`` (so two clients do not move in step), whole
    rounds only, until a round ends after ``stop_after``."""

    def __init__(self, targets: list[tuple[str, str]], *, offset: int, stop_after: float) -> None:
        self.targets, self.offset, self.stop_after = targets, offset, stop_after
        self.done = 0

    def __call__(self, rng: Any) -> tuple[str, str] | None:
        if (
            self.done
            and self.done % len(self.targets) == 0
            and time.perf_counter() > self.stop_after
        ):
            return None
        target = self.targets[(self.offset + self.done) % len(self.targets)]
        self.done += 1
        return target


def dominant_query(agent: Agent, path: str, *, timeout_s: int = 60) -> dict[str, Any]:
    """The slowest SQL statement of one rendering of ``path``, with its plan on
    PostgreSQL: ``EXPLAIN (ANALYZE, BUFFERS)``, or a plain ``EXPLAIN`` for a statement
    that ran past ``timeout_s`` (it is logged with the time it had run when cancelled)."""
    client = Client(raise_request_exception=False)
    client.force_login(agent.user)
    postgres = connection.vendor == "postgresql"
    with connection.cursor() as cursor:
        if postgres:
            cursor.execute(f"SET statement_timeout = {int(timeout_s) * 1000}")
    try:
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            status = client.get(path).status_code
            total = (time.perf_counter() - started) * 1000
    finally:
        client.logout()
        if postgres:
            with connection.cursor() as cursor:
                cursor.execute("SET statement_timeout = 0")
    statements = [(float(q["time"]) * 1000, q["sql"]) for q in captured.captured_queries]
    if not statements:
        return {"page_ms": round(total, 1), "status": status, "statements": 0}
    took, sql = max(statements)
    found: dict[str, Any] = {
        "page_ms": round(total, 1),
        "status": status,
        "statements": len(statements),
        "slowest_ms": round(took, 1),
        "slowest_sql": sql[:3000],
    }
    if postgres and sql.lstrip().upper().startswith("SELECT"):
        timed_out = took >= timeout_s * 1000 * 0.95
        explain = "EXPLAIN " if timed_out else "EXPLAIN (ANALYZE, BUFFERS) "
        with connection.cursor() as cursor:
            cursor.execute(explain + sql)
            found["plan"] = [row[0] for row in cursor.fetchall()][:60]
        found["plan_analyzed"] = not timed_out
    return found
