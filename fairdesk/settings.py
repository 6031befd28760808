"""All configuration comes from environment variables, read here and only here.

SQLite (WAL) in the data directory unless ``DATABASE_URL`` names another database.
Bad values fail loudly at start-up rather than half-working.
"""

import os
import secrets
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in {"1", "true", "yes", "on"}:
        return True
    if raw.lower() in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {raw!r}")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, not {raw!r}") from None


DATA_DIR = Path(os.environ.get("FAIRDESK_DATA_DIR") or Path.cwd() / "var").resolve()
DEBUG = env_bool("FAIRDESK_DEBUG", False)


def load_secret_key() -> str:
    """FAIRDESK_SECRET_KEY, else a random key kept (0600) in the data directory."""
    key = os.environ.get("FAIRDESK_SECRET_KEY", "")
    if key:
        if len(key) < 32:
            raise ImproperlyConfigured("FAIRDESK_SECRET_KEY must be at least 32 characters")
        return key
    path = DATA_DIR / "secret_key"
    if not path.exists():
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(50))
    return path.read_text().strip()


SECRET_KEY = load_secret_key()
ALLOWED_HOSTS = [
    h
    for h in os.environ.get("FAIRDESK_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver").split(",")
    if h
]
CSRF_TRUSTED_ORIGINS = [
    o for o in os.environ.get("FAIRDESK_CSRF_TRUSTED_ORIGINS", "").split(",") if o
]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "fairdesk.workspaces",
    "fairdesk.contacts",
    "fairdesk.cases",
    "fairdesk.routing",
    "fairdesk.inbound",
    "fairdesk.connectors",
    "fairdesk.replies",
    "fairdesk.followthrough",
    "fairdesk.portal",
    "fairdesk.insights",
    "fairdesk.knowledge",
    "fairdesk.demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "fairdesk.security.ContentSecurityPolicyMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "fairdesk.urls"
WSGI_APPLICATION = "fairdesk.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

SQLITE_OPTIONS = {
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    "transaction_mode": "IMMEDIATE",
    "timeout": 30,
}
_database_url = os.environ.get("DATABASE_URL", "")
if _database_url:
    DATABASES = {"default": dj_database_url.parse(_database_url, conn_max_age=60)}
    ENGINE = DATABASES["default"]["ENGINE"]
    if ENGINE not in {"django.db.backends.postgresql", "django.db.backends.sqlite3"}:
        raise ImproperlyConfigured("DATABASE_URL must name a postgres:// or sqlite:// database")
    if ENGINE == "django.db.backends.sqlite3":
        DATABASES["default"]["OPTIONS"] = dict(SQLITE_OPTIONS)

else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(DATA_DIR / "fairdesk.sqlite3"),
            "OPTIONS": dict(SQLITE_OPTIONS),
            # Keep each thread's connection: reopening SQLite and re-running the PRAGMAs
            # cost more than the whole of a small request.
            "CONN_MAX_AGE": 60,
            "CONN_HEALTH_CHECKS": True,
        }
    }
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # An index's non-key (INCLUDE) columns serve PostgreSQL's index-only scans; SQLite
    # builds the same index without them, which is all this warning says.
    SILENCED_SYSTEM_CHECKS = ["models.W040"]
if os.environ.get("FAIRDESK_TEST_DB"):
    # The test database's file (tests use a file anyway, one per test process: conftest).
    DATABASES["default"]["TEST"] = {"NAME": os.environ["FAIRDESK_TEST_DB"]}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
DEFAULT_FROM_EMAIL = os.environ.get("FAIRDESK_FROM_EMAIL", "fairdesk@localhost")
EMAIL_BACKEND = os.environ.get(
    "FAIRDESK_EMAIL_BACKEND", "django.core.mail.backends.filebased.EmailBackend"
)
EMAIL_FILE_PATH = DATA_DIR / "mail"
EMAIL_HOST = os.environ.get("FAIRDESK_SMTP_HOST", "localhost")
EMAIL_PORT = env_int("FAIRDESK_SMTP_PORT", 25)
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "queue"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
WHITENOISE_USE_FINDERS = True
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# Behind HTTPS (directly or through a reverse proxy that sets X-Forwarded-Proto):
# redirect plain HTTP, send HSTS and mark cookies Secure. `check --deploy` is clean then.
HTTPS = env_bool("FAIRDESK_HTTPS", False)
SECURE_SSL_REDIRECT = HTTPS
SECURE_HSTS_SECONDS = env_int("FAIRDESK_HSTS_SECONDS", 31_536_000 if HTTPS else 0)
# Both can break sibling sites of the domain, so they are the operator's explicit choice.
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("FAIRDESK_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("FAIRDESK_HSTS_PRELOAD", False)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if HTTPS else None
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env_bool("FAIRDESK_SECURE_COOKIES", HTTPS)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("FAIRDESK_LOG_LEVEL", "WARNING")},
}

# Pipeline tuning.
FAIRDESK_WORKER_BATCH = env_int("FAIRDESK_WORKER_BATCH", 500)
# After a partial batch the worker waits this long before claiming again (see run_forever).
FAIRDESK_WORKER_GATHER_MS = env_int("FAIRDESK_WORKER_GATHER_MS", 200)
FAIRDESK_WORKER_LEASE_SECONDS = env_int("FAIRDESK_WORKER_LEASE_SECONDS", 120)
FAIRDESK_MAX_ATTEMPTS = env_int("FAIRDESK_MAX_ATTEMPTS", 5)
FAIRDESK_MAX_TEXT_CHARS = env_int("FAIRDESK_MAX_TEXT_CHARS", 20_000)

# Follow-through: resolved cases close after this many quiet days; customers get at most
# one expectations update per case per this many minutes.
FAIRDESK_QUIET_CLOSE_DAYS = env_int("FAIRDESK_QUIET_CLOSE_DAYS", 7)
FAIRDESK_UPDATE_INTERVAL_MINUTES = env_int("FAIRDESK_UPDATE_INTERVAL_MINUTES", 30)
if FAIRDESK_QUIET_CLOSE_DAYS < 1 or FAIRDESK_UPDATE_INTERVAL_MINUTES < 1:
    raise ImproperlyConfigured(
        "FAIRDESK_QUIET_CLOSE_DAYS and FAIRDESK_UPDATE_INTERVAL_MINUTES must be at least 1"
    )

# A score (1-5) the customer sends on their channel this many days after closure is
# taken as their satisfaction answer.
FAIRDESK_CSAT_REPLY_DAYS = env_int("FAIRDESK_CSAT_REPLY_DAYS", 7)
if not 1 <= FAIRDESK_CSAT_REPLY_DAYS <= 90:
    raise ImproperlyConfigured("FAIRDESK_CSAT_REPLY_DAYS must be between 1 and 90")

# Absolute links in e-mails the workers send to agents (pile-on alerts): the address the
# agents open Fairdesk at, e.g. https://care.example.com. Empty: links are paths only.
FAIRDESK_BASE_URL = os.environ.get("FAIRDESK_BASE_URL", "").strip().rstrip("/")
if FAIRDESK_BASE_URL and not FAIRDESK_BASE_URL.startswith(("https://", "http://")):
    raise ImproperlyConfigured("FAIRDESK_BASE_URL must start with https:// or http://")

# Live updates (cases/live.py): how long a long-poll waits, how many wait at once per
# process (raise it with `fairdesk serve --threads`), and the Retry-After past that cap.
FAIRDESK_LIVE_WAIT_SECONDS = env_int("FAIRDESK_LIVE_WAIT_SECONDS", 25)
FAIRDESK_LIVE_MAX_WAITERS = env_int("FAIRDESK_LIVE_MAX_WAITERS", 2)
FAIRDESK_LIVE_RETRY_SECONDS = env_int("FAIRDESK_LIVE_RETRY_SECONDS", 15)
if not 1 <= FAIRDESK_LIVE_WAIT_SECONDS <= 120 or FAIRDESK_LIVE_MAX_WAITERS < 0:
    raise ImproperlyConfigured(
        "FAIRDESK_LIVE_WAIT_SECONDS must be 1-120 and FAIRDESK_LIVE_MAX_WAITERS at least 0"
    )

# Customer portal: how long a link sent to a customer works.
FAIRDESK_PORTAL_LINK_DAYS = env_int("FAIRDESK_PORTAL_LINK_DAYS", 7)
if not 1 <= FAIRDESK_PORTAL_LINK_DAYS <= 90:
    raise ImproperlyConfigured("FAIRDESK_PORTAL_LINK_DAYS must be between 1 and 90")
# Files a customer attaches to a portal reply: at most this many bytes each, this many files.
FAIRDESK_PORTAL_UPLOAD_MAX_BYTES = env_int("FAIRDESK_PORTAL_UPLOAD_MAX_BYTES", 10 * 1024 * 1024)
FAIRDESK_PORTAL_UPLOAD_MAX_FILES = env_int("FAIRDESK_PORTAL_UPLOAD_MAX_FILES", 5)
if not 1024 <= FAIRDESK_PORTAL_UPLOAD_MAX_BYTES <= 100 * 1024 * 1024:
    raise ImproperlyConfigured("FAIRDESK_PORTAL_UPLOAD_MAX_BYTES must be 1 KiB to 100 MiB")
if not 1 <= FAIRDESK_PORTAL_UPLOAD_MAX_FILES <= 20:
    raise ImproperlyConfigured("FAIRDESK_PORTAL_UPLOAD_MAX_FILES must be between 1 and 20")
