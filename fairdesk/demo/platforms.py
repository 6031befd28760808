"""The platforms of the demo: X, Meta, Mastodon and Bluesky stand-ins on loopback.

``start_platforms`` starts the four stand-ins (``fairdesk/connectors/<kind>/standin.py``)
in this process on free ports, each with the brand's account and fresh secrets; the
demo's channels are then connected to them (``channels.py``), customers' messages are
delivered through them (``delivery.py``) and the replies agents send land in them
(``received.py``). Ports and secrets change on every start.

The running demo registers its platforms (``register``) so the demo's page can show
what they received; nothing else reads the registry.
"""

import secrets
import threading
import time
from dataclasses import dataclass, field, fields
from typing import Any

from fairdesk.connectors.bluesky.standin import BlueskyStandIn
from fairdesk.connectors.mastodon.standin import MastodonStandIn
from fairdesk.connectors.meta.standin import MetaStandIn
from fairdesk.connectors.x.standin import XStandIn
from fairdesk.demo import platform_ids as ids
from fairdesk.demo.setup import DEMO_NAME

BRAND_DISPLAY_NAME = "Acme Support"


@dataclass(frozen=True, slots=True)
class PlatformSecrets:
    """What each platform and the brand's channel share, new on every start."""

    x_consumer_secret: str
    x_access_token: str
    meta_app_secret: str
    meta_verify_token: str
    meta_page_token: str
    mastodon_token: str
    bluesky_password: str

    @classmethod
    def fresh(cls) -> "PlatformSecrets":
        return cls(**{f.name: secrets.token_urlsafe(24) for f in fields(cls)})


@dataclass
class DemoPlatforms:
    """The four running stand-ins and the secrets the brand's channels share with them."""

    x: XStandIn
    meta: MetaStandIn
    mastodon: MastodonStandIn
    bluesky: BlueskyStandIn
    secrets: PlatformSecrets
    # (channel, external id) of the posts put on Mastodon and Bluesky in this run: a
    # platform holds a post once, however often the demo hands it over.
    seeded: set[tuple[str, str]] = field(default_factory=set)
    _last_notification: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def next_notification_id(self) -> str:
        """A Mastodon notification id: like Mastodon's, milliseconds shifted left 16 bits,
        and always above the previous one (polling asks for what is above its cursor)."""
        with self._lock:
            self._last_notification = max(
                self._last_notification + 1, int(time.time() * 1000) << 16
            )
            return str(self._last_notification)

    def stop(self) -> None:
        for standin in (self.x, self.meta, self.mastodon, self.bluesky):
            standin.stop()


def mastodon_brand_account() -> dict[str, Any]:
    return {
        "id": ids.MASTODON_ACCOUNT_ID,
        "username": ids.MASTODON_ACCT,
        "acct": ids.MASTODON_ACCT,
        "display_name": BRAND_DISPLAY_NAME,
        "locked": False,
        "bot": False,
        "followers_count": 48210,
        "emojis": [],
        "fields": [],
    }


def start_platforms() -> DemoPlatforms:
    """The four stand-ins, started, with the brand's accounts and fresh secrets."""
    keys = PlatformSecrets.fresh()
    x = XStandIn()
    x.add_account(
        user_id=ids.X_BRAND_ID,
        username=ids.X_BRAND_USERNAME,
        token=keys.x_access_token,
        name=BRAND_DISPLAY_NAME,
    )
    meta = MetaStandIn()
    meta.add_page(
        ids.PAGE_ID,
        keys.meta_page_token,
        name=DEMO_NAME,
        instagram_account_id=ids.INSTAGRAM_ACCOUNT_ID,
        instagram_username=ids.INSTAGRAM_USERNAME,
        app_secret=keys.meta_app_secret,
    )
    mastodon = MastodonStandIn(token=keys.mastodon_token, account=mastodon_brand_account())
    bluesky = BlueskyStandIn()
    bluesky.add_account(
        did=ids.BLUESKY_DID,
        handle=ids.BLUESKY_HANDLE,
        password=keys.bluesky_password,
        display_name=BRAND_DISPLAY_NAME,
    )
    started = DemoPlatforms(x=x, meta=meta, mastodon=mastodon, bluesky=bluesky, secrets=keys)
    for standin in (x, meta, mastodon, bluesky):
        standin.start()
    return started


_running: list[DemoPlatforms] = []
_registry_lock = threading.Lock()


def register(platforms: DemoPlatforms | None) -> None:
    """Make ``platforms`` the ones this process's demo page shows (None: no page)."""
    with _registry_lock:
        _running[:] = [platforms] if platforms is not None else []


def running() -> DemoPlatforms | None:
    with _registry_lock:
        return _running[0] if _running else None
