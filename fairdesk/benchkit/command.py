"""The ``seed``, ``workspace`` and ``insights`` subcommands of ``fairdesk bench``."""

import argparse
import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

SCALE_BENCHES = ("seed", "workspace", "insights")
MAX_PROCESSES = 64  # as ``fairdesk serve --processes``


def _processes(value: str) -> int:
    """``--processes``: a whole number the server accepts, checked before it is started."""
    try:
        found = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {value!r}") from None
    if not 1 <= found <= MAX_PROCESSES:
        raise argparse.ArgumentTypeError(f"must be between 1 and {MAX_PROCESSES}")
    return found


def add_scale_arguments(sub: Any) -> None:
    seed = sub.add_parser("seed", help="seed a realistic workspace of N cases and M messages")
    seed.add_argument("--cases", type=int, default=10_000)
    seed.add_argument("--messages", type=int, default=50_000)
    seed.add_argument("--workspace", default="bench", help="slug of the seeded workspace")
    seed.add_argument("--seed", type=int, default=1, help="random seed (same seed, same rows)")
    seed.add_argument("--days", type=int, default=365, help="the period the cases span")
    seed.add_argument(
        "--until", default=None, help="end of the period, ISO 8601 (default: now, to the minute)"
    )
    seed.add_argument("--other-cases", type=int, default=None, help="cases of the second tenant")
    seed.add_argument("--texts", type=Path, default=None, help="customer messages, one a line")
    seed.add_argument("--data", type=Path, default=None, help="the shared corpora directory")
    seed.add_argument("--password", default="bench", help="password of every seeded agent")
    seed.add_argument("--keep-indexes", action="store_true", help="load through the indexes")
    seed.add_argument("--json", action="store_true")

    workspace = sub.add_parser("workspace", help="concurrent agents: queue, case and search pages")
    workspace.add_argument("--workspace", default="bench")
    workspace.add_argument("--agents", type=int, default=20)
    workspace.add_argument("--seconds", type=float, default=60.0)
    workspace.add_argument("--think-ms", type=int, default=1000, help="mean pause between pages")
    workspace.add_argument("--threads", type=int, default=8, help="web server threads")
    workspace.add_argument(
        "--processes", type=_processes, default=1, help="web server processes (fairdesk serve)"
    )
    workspace.add_argument(
        "--search-share", type=float, default=0.15, help="fraction of requests that search"
    )
    workspace.add_argument("--json", action="store_true")

    insights = sub.add_parser("insights", help="every insights page and API endpoint")
    insights.add_argument("--workspace", default="bench")
    insights.add_argument("--seconds", type=float, default=30.0)
    insights.add_argument("--threads", type=int, default=4, help="web server threads")
    insights.add_argument(
        "--processes", type=_processes, default=1, help="web server processes (fairdesk serve)"
    )
    insights.add_argument(
        "--timeout", type=int, default=60, help="seconds a statement may run (PostgreSQL)"
    )
    insights.add_argument("--json", action="store_true")


def run_scale_bench(command: BaseCommand, options: dict[str, Any]) -> None:
    what = options["what"]
    if what == "seed":
        data = _seed(command, options)
    elif what == "workspace":
        from fairdesk.benchkit.workspace import WorkspaceBenchError
        from fairdesk.benchkit.workspace import run as run_workspace

        try:
            data = run_workspace(
                slug=options["workspace"],
                agents=options["agents"],
                seconds=options["seconds"],
                think_ms=options["think_ms"],
                threads=options["threads"],
                processes=options["processes"],
                search_share=options["search_share"],
            )
        except WorkspaceBenchError as error:
            raise CommandError(str(error)) from None
    else:
        from fairdesk.benchkit.insights import InsightsBenchError
        from fairdesk.benchkit.insights import run as run_insights

        try:
            data = run_insights(
                slug=options["workspace"],
                seconds=options["seconds"],
                threads=options["threads"],
                processes=options["processes"],
                timeout_s=options["timeout"],
            )
        except InsightsBenchError as error:
            raise CommandError(str(error)) from None
    if options["json"]:
        command.stdout.write(json.dumps(data))
    else:
        command.stdout.write(json.dumps(data, indent=2))


def _seed(command: BaseCommand, options: dict[str, Any]) -> dict[str, Any]:
    from datetime import UTC, datetime

    from fairdesk.benchkit import texts
    from fairdesk.benchkit.seed import SeedRefused, seed

    until = None
    if options["until"]:
        try:
            until = datetime.fromisoformat(options["until"])
        except ValueError as error:
            raise CommandError(f"--until: {error}") from None
        until = until if until.tzinfo else until.replace(tzinfo=UTC)
    try:
        pools = texts.load(options["texts"], options["data"])
    except (OSError, ValueError) as error:
        raise CommandError(str(error)) from None
    quiet = options["json"]
    try:
        result = seed(
            slug=options["workspace"],
            cases=options["cases"],
            messages=options["messages"],
            seed=options["seed"],
            pools=pools,
            until=until,
            days=options["days"],
            other_cases=options["other_cases"],
            password=options["password"],
            keep_indexes=options["keep_indexes"],
            progress=None if quiet else (lambda text: command.stderr.write(text)),
        )
    except (SeedRefused, ValueError) as error:
        raise CommandError(str(error)) from None
    return result.as_dict()
