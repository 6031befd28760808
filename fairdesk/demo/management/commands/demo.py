import os
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from fairdesk.demo.channels import connect_channels
from fairdesk.demo.guide import start_text
from fairdesk.demo.loading import LoadSummary, load_demo_stream
from fairdesk.demo.platforms import DemoPlatforms, register, start_platforms
from fairdesk.demo.replay import Replayer
from fairdesk.demo.runtime import run_with_threads, worker_loops
from fairdesk.demo.setup import DemoWorkspace, ensure_demo_workspace
from fairdesk.inbound.pipeline import StopFlag

HOST = "127.0.0.1"
DEMO_URLCONF = "fairdesk.demo.urls"


def refuse_postgres(*, engine: str, database_url: str, allow: bool) -> None:
    """The demo writes a demo workspace: keep it out of a real database by default."""
    if database_url and "postgresql" in engine and not allow:
        raise CommandError(
            "DATABASE_URL points at PostgreSQL; the demo uses SQLite in the data directory "
            f"({settings.DATA_DIR}). Unset DATABASE_URL, or pass --allow-database-url to put "
            "the demo workspace in that database."
        )


class Command(BaseCommand):
    help = (
        "Run the demo on 127.0.0.1: SQLite in the data directory, a demo workspace whose "
        "channels are connected to local X, Meta, Mastodon and Bluesky stand-ins, the demo "
        "stream replayed live through them, web + pipeline + sender + poller in one process."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--no-replay", action="store_true", help="no live traffic")
        parser.add_argument(
            "--allow-database-url",
            action="store_true",
            help="use the PostgreSQL database named by DATABASE_URL",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        refuse_postgres(
            engine=settings.DATABASES["default"]["ENGINE"],
            database_url=os.environ.get("DATABASE_URL", ""),
            allow=options["allow_database_url"],
        )
        call_command("migrate", interactive=False, verbosity=0)
        demo = ensure_demo_workspace()
        platforms = start_platforms()
        try:
            connect_channels(workspace=demo.workspace, platforms=platforms)
            summary = load_demo_stream(demo.workspace, timezone.now(), platforms=platforms)
            self.serve_demo(demo, platforms, summary, options)
        finally:
            register(None)
            platforms.stop()
        self.stdout.write("Demo stopped.")

    def serve_demo(
        self,
        demo: DemoWorkspace,
        platforms: DemoPlatforms,
        summary: LoadSummary,
        options: dict[str, Any],
    ) -> None:
        """Print the guide, then serve with the workers (and the replay) until stopped."""
        replay = not options["no_replay"]
        url = f"http://{HOST}:{options['port']}/"
        text = start_text(
            demo=demo,
            summary=summary,
            platforms=platforms,
            url=url,
            data_dir=settings.DATA_DIR,
            replay=replay,
        )
        self.stdout.write(text)
        self.stdout.flush()
        stop = StopFlag()
        loops = worker_loops(stop)
        if replay:
            replayer = Replayer(demo.workspace, platforms)
            loops["replay"] = lambda: replayer.run(stop)
        register(platforms)
        # This process serves the demo's URLconf: the site plus the demo's own page.
        settings.ROOT_URLCONF = DEMO_URLCONF
        try:
            run_with_threads(host=HOST, port=options["port"], loops=loops, stop=stop)
        except OSError as error:
            raise CommandError(f"cannot serve on {url}: {error}") from error
