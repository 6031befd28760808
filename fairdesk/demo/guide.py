"""What the demo prints on start: where to go, how to log in, and what to look at."""

from dataclasses import dataclass
from pathlib import Path

from fairdesk.cases.models import Case, Message
from fairdesk.demo.dryer import CSAT_SCORE
from fairdesk.demo.loading import LoadSummary, dana_case
from fairdesk.demo.platform_ids import facebook_post_id, x_tweet_id
from fairdesk.demo.platforms import DemoPlatforms
from fairdesk.demo.setup import AGENTS, DemoWorkspace
from fairdesk.demo.stream import BLOCKED_DRAFT, SPAM_COPIES
from fairdesk.workspaces.models import Workspace

PLATFORMS_PATH = "demo/platforms/"


@dataclass(frozen=True, slots=True)
class StoryCases:
    security: Case | None
    dana: Case | None
    praise: Case | None
    small_customer: Case | None
    loud_customer: Case | None


def case_of(workspace: Workspace, channel: str, external_id: str) -> Case | None:
    message = (
        Message.objects.select_related("case")
        .filter(workspace=workspace, channel=channel, external_id=external_id)
        .first()
    )
    return message.case if message is not None else None


def story_cases(workspace: Workspace) -> StoryCases:
    """The cases the first instance of each story became."""
    return StoryCases(
        security=case_of(workspace, "x", x_tweet_id("story-security")),
        dana=dana_case(workspace),
        praise=case_of(workspace, "facebook", facebook_post_id("story-praise")),
        small_customer=case_of(workspace, "email", "<story-callback@smallshop.example>"),
        loud_customer=case_of(workspace, "x", x_tweet_id("story-angry")),
    )


def _ref(case: Case | None) -> str:
    return case.reference if case is not None else "(not processed yet)"


def story_lines(cases: StoryCases, *, data_dir: Path, url: str) -> list[str]:
    return [
        f"1. {_ref(cases.security)}  @devjane reports an exposed admin/debug panel on X: "
        "Critical, routed to Security, acknowledgement already sent; top of the queue.",
        f"2. {_ref(cases.dana)}  Dana's dryer, start to finish (see the timeline): a public "
        "tweet, a DM and an e-mail quoting the reference - one case, one customer, three "
        "channels. Then she signs in to the portal with the link and code sent by DM; the "
        "replacement heating element ships and the technician fits it (two work orders, "
        'field service); she gets a status update, then "Is this fixed for you?"; her '
        f'"yes" by DM closes the case, and she rates it {CSAT_SCORE}/5 in the portal.',
        f"3. {_ref(cases.praise)}  praise for Maria: forwarded to Maria Lopez and her manager "
        f"Grace Hopper (the mail is in {data_dir / 'mail'}); still in the queue to be answered.",
        f"4. {_ref(cases.small_customer)} and {_ref(cases.loud_customer)}  a quiet e-mail "
        "(no followers) and an angry tweet (200,000 followers) about the same problem in the "
        "same minute: identical deadlines, side by side in the queue.",
        f"5. {SPAM_COPIES} identical promo comments on Instagram: filtered as spam, no cases.",
        f'6. Try it: open a case as jo and reply "{BLOCKED_DRAFT}" - the tone guard blocks it.',
        f"7. Reply on an X, Facebook, Instagram, Mastodon or Bluesky case and watch it leave: "
        f"{url}{PLATFORMS_PATH} lists what each platform received.",
    ]


def platform_lines(platforms: DemoPlatforms) -> list[str]:
    return [
        f"  X {platforms.x.url}   Meta {platforms.meta.url}",
        f"  Mastodon {platforms.mastodon.url}   Bluesky {platforms.bluesky.url}",
    ]


def start_text(
    *,
    demo: DemoWorkspace,
    summary: LoadSummary,
    platforms: DemoPlatforms,
    url: str,
    data_dir: Path,
    replay: bool,
) -> str:
    logins = [
        f"  {spec.username:<4} {demo.credentials.password_for(spec.username)}"
        f"   ({spec.display_name}, {spec.role})"
        for spec in AGENTS
    ]
    lines = [
        f"Fairdesk demo: {demo.workspace.name} ({demo.workspace.brand_handle})",
        f"Open {url}",
        "Log in as:",
        *logins,
        f"API token (Authorization: Bearer ...): {demo.credentials.api_token}",
        f"Data directory: {data_dir} (credentials in demo-credentials.json)",
        f"Stream: {summary.stored} new events, {summary.duplicates} already loaded, "
        f"{summary.processed} processed, {summary.sent} replies sent.",
        "Platforms (local stand-ins; webhooks and polling in, the connectors' replies out):",
        *platform_lines(platforms),
        "What to look at:",
        *(
            "  " + line
            for line in story_lines(story_cases(demo.workspace), data_dir=data_dir, url=url)
        ),
        "Live traffic is replayed every few seconds." if replay else "Replay is off.",
        "Press Ctrl-C to stop.",
    ]
    return "\n".join(lines)
