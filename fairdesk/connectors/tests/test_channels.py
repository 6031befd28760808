import json
from typing import Any

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured
from django.db import connection

from fairdesk.connectors import secrets
from fairdesk.connectors.config import ConfigError
from fairdesk.connectors.models import Channel
from fairdesk.connectors.services import create_channel
from fairdesk.workspaces.models import Workspace

SECRET = "s3cr3t-consumer-value-that-must-never-hit-the-disk"


def raw_column(channel: Channel) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT credentials_encrypted, config FROM {Channel._meta.db_table} WHERE id = %s",
            [channel.pk],
        )
        row = cursor.fetchone()
    return " ".join(str(value) for value in row)


def make(workspace: Workspace, **credentials: str) -> Channel:
    return create_channel(
        workspace=workspace,
        kind="x",
        name="@AcmeSupport",
        config={"brand_user_id": "1000000001"},
        credentials=credentials,
    )


def test_credentials_are_encrypted_at_rest(workspace: Workspace) -> None:
    channel = make(workspace, consumer_secret=SECRET)

    stored = raw_column(channel)
    assert SECRET not in stored
    assert "consumer_secret" not in stored
    assert secrets.credentials(Channel.objects.get(pk=channel.pk)) == {"consumer_secret": SECRET}


def test_set_credentials_replaces_them(workspace: Workspace) -> None:
    channel = make(workspace, consumer_secret="old")

    secrets.set_credentials(channel, {"consumer_secret": SECRET, "access_token": "at-1"})

    fresh = Channel.objects.get(pk=channel.pk)
    assert secrets.credentials(fresh) == {"consumer_secret": SECRET, "access_token": "at-1"}
    assert SECRET not in raw_column(fresh)


def test_key_from_environment_is_used(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = Fernet.generate_key()
    monkeypatch.setenv(secrets.KEY_ENV, key.decode())
    channel = make(workspace, consumer_secret=SECRET)

    plain = Fernet(key).decrypt(channel.credentials_encrypted.encode())
    assert json.loads(plain) == {"consumer_secret": SECRET}

    monkeypatch.delenv(secrets.KEY_ENV)
    with pytest.raises(secrets.CredentialsError):
        secrets.credentials(channel)


def test_key_derived_from_secret_key_at_call_time(workspace: Workspace, settings: Any) -> None:
    channel = make(workspace, consumer_secret=SECRET)

    settings.SECRET_KEY = "another-secret-key-of-at-least-32-characters!!"
    with pytest.raises(secrets.CredentialsError):
        secrets.credentials(channel)


def test_bad_environment_key_fails_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(secrets.KEY_ENV, "not-a-fernet-key")

    with pytest.raises(ImproperlyConfigured):
        secrets.encrypt({"a": 1})


@pytest.mark.parametrize(
    "config",
    [{}, {"brand_user_id": "@acme"}, {"brand_user_id": "1", "api_secret": "leak"}],
)
def test_x_config_is_validated(workspace: Workspace, config: dict) -> None:
    with pytest.raises(ConfigError):
        create_channel(workspace=workspace, kind="x", name="bad", config=config)
    assert Channel.objects.count() == 0


def test_unknown_kind_is_refused(workspace: Workspace) -> None:
    with pytest.raises(ValueError, match="unknown channel kind"):
        create_channel(workspace=workspace, kind="myspace", name="bad", config={})
