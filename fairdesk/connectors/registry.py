"""Which connector serves which channel kind, loaded on first use.

Each platform lives in its own folder with a ``connector.py`` that defines
``CONNECTOR``. A kind whose module is absent has no live connector: its replies are
recorded (imported history, the demo's recorded channels) and nothing is polled.
"""

import importlib
from functools import cache

from fairdesk.connectors.base import Account, Connector
from fairdesk.connectors.models import Channel

MODULES: dict[str, str] = {
    "x": "fairdesk.connectors.x.connector",
    "facebook": "fairdesk.connectors.meta.connector",
    "instagram": "fairdesk.connectors.meta.connector",
    "mastodon": "fairdesk.connectors.mastodon.connector",
    "bluesky": "fairdesk.connectors.bluesky.connector",
    "email": "fairdesk.connectors.email.connector",
}


@cache
def connector(kind: str) -> Connector | None:
    name = MODULES.get(kind)
    if name is None:
        return None
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name == name:
            return None
        raise
    found: Connector = module.CONNECTOR
    return found


def account(channel: Channel) -> Account:
    """``channel`` with its configuration parsed and its credentials decrypted."""
    from fairdesk.connectors import secrets
    from fairdesk.connectors.config import config_model

    config = config_model(channel.kind).model_validate(channel.config)
    return Account(channel=channel, config=config, credentials=secrets.credentials(channel))
