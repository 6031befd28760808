"""The demo's secrets, generated once and kept (mode 0600) in the data directory.

The database keeps only password hashes and token digests, so the clear values live in
``demo-credentials.json`` to be printed again on every start.
"""

import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

FILE_NAME = "demo-credentials.json"


@dataclass(slots=True)
class DemoCredentials:
    passwords: dict[str, str] = field(default_factory=dict)
    api_token: str = ""

    def password_for(self, username: str) -> str:
        return self.passwords[username]


def new_password() -> str:
    return secrets.token_urlsafe(12)


def credentials_path(data_dir: Path) -> Path:
    return data_dir / FILE_NAME


def load_credentials(path: Path) -> DemoCredentials:
    """What the file holds, or nothing when it does not exist yet."""
    if not path.exists():
        return DemoCredentials()
    data = json.loads(path.read_text())
    passwords = data.get("passwords", {})
    if not isinstance(passwords, dict):
        raise ValueError(f"{path}: 'passwords' must be an object")
    return DemoCredentials(
        passwords={str(k): str(v) for k, v in passwords.items()},
        api_token=str(data.get("api_token", "")),
    )


def save_credentials(path: Path, credentials: DemoCredentials) -> None:
    """Write atomically, readable by the owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    if temporary.exists():
        temporary.unlink()
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump({"passwords": credentials.passwords, "api_token": credentials.api_token}, handle)
    os.replace(temporary, path)
    os.chmod(path, 0o600)


def ensure_passwords(credentials: DemoCredentials, usernames: list[str]) -> bool:
    """Give every username a password; True when one was added."""
    missing = [name for name in usernames if not credentials.passwords.get(name)]
    for name in missing:
        credentials.passwords[name] = new_password()
    return bool(missing)
