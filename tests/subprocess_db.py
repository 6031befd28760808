"""A throwaway database of the configured kind that worker subprocesses can reach."""

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from django.conf import settings


@contextmanager
def scratch_database(tmp_path: Path) -> Iterator[dict[str, str]]:
    """Yield the environment for ``fairdesk`` subprocesses on a fresh, migrated database."""
    env = {k: v for k, v in os.environ.items() if k != "FAIRDESK_TEST_DB"}
    env["FAIRDESK_DATA_DIR"] = str(tmp_path / "data")
    db = settings.DATABASES["default"]
    name = None
    if db["ENGINE"] == "django.db.backends.postgresql":
        name = f"fairdesk_scratch_{uuid.uuid4().hex[:10]}"
        admin = _admin_conninfo(db)
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        user = db.get("USER") or ""
        host = db.get("HOST") or "127.0.0.1"
        port = db.get("PORT") or 5432
        password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
        env["DATABASE_URL"] = f"postgres://{user}{password}@{host}:{port}/{name}"
    else:
        env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'scratch.sqlite3'}"
    try:
        fairdesk(env, "migrate", "--verbosity", "0")
        yield env
    finally:
        if name is not None:
            with psycopg.connect(_admin_conninfo(db), autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _admin_conninfo(db: dict) -> str:
    parts = {
        "dbname": "postgres",
        "user": db.get("USER") or "",
        "host": db.get("HOST") or "127.0.0.1",
        "port": str(db.get("PORT") or 5432),
        "password": db.get("PASSWORD") or "",
    }
    return " ".join(f"{k}={v}" for k, v in parts.items() if v)


def fairdesk(env: dict[str, str], *args: str, timeout: float = 120) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "fairdesk", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise AssertionError(f"fairdesk {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def spawn(env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "fairdesk", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def python(env: dict[str, str], code: str) -> str:
    """Run Django code against the scratch database and return what it prints."""
    prelude = (
        "import django, os\n"
        "os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'fairdesk.settings')\n"
        "django.setup()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", prelude + code],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise AssertionError(f"script failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout
