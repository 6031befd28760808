"""A throwaway database of the configured kind that worker subprocesses can reach.

Migrating takes a subprocess several seconds, so each test process migrates one template
the first time it needs a scratch database and copies it after that: the SQLite file, or
PostgreSQL's ``CREATE DATABASE … TEMPLATE``. Every scratch database is still fresh.
"""

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
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
        template = _template(env, db)
        with psycopg.connect(_admin_conninfo(db), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        env["DATABASE_URL"] = _postgres_url(db, name)
    else:
        path = tmp_path / "scratch.sqlite3"
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(_template(env, db), path)
        env["DATABASE_URL"] = f"sqlite:///{path}"
    try:
        yield env
    finally:
        if name is not None:
            _drop(db, name)


_templates: dict[str, str] = {}


def _template(env: dict[str, str], db: dict) -> str:
    """This process's migrated template: a database name, or an SQLite file's path."""
    if db["ENGINE"] in _templates:
        return _templates[db["ENGINE"]]
    env = dict(env)
    if db["ENGINE"] == "django.db.backends.postgresql":
        template = f"fairdesk_template_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(_admin_conninfo(db), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{template}"')
        atexit.register(_drop, db, template)
        env["DATABASE_URL"] = _postgres_url(db, template)
    else:
        folder = tempfile.mkdtemp(prefix="fairdesk-template-")
        atexit.register(shutil.rmtree, folder, True)
        template = os.path.join(folder, "template.sqlite3")
        env["DATABASE_URL"] = f"sqlite:///{template}"
    fairdesk(env, "migrate", "--verbosity", "0")
    _templates[db["ENGINE"]] = template
    return template


def _postgres_url(db: dict, name: str) -> str:
    user = db.get("USER") or ""
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{user}{password}@{host}:{port}/{name}"


def _drop(db: dict, name: str) -> None:
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
