"""Test settings: SQLite with nothing configured, PostgreSQL and Redis when their URLs are set."""

import os
import tempfile
from urllib.parse import urlsplit, urlunsplit

os.environ.setdefault("DJANGO_SECRET_KEY", "test-secret-key-not-for-production")


def redis_database_of_test_process(database: int) -> int:
    """The Redis database a test process uses for ``database``: under pytest-xdist the second process
    uses the one eight below, so two processes (CI runs two) share none of them."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    index = int(worker[2:]) if worker.startswith("gw") and worker[2:].isdigit() else 0
    return (database - 8 * (index % 2)) % 16


def _redis_database_per_test_process() -> None:
    """Each test process has a Redis database of its own, as it has a SQL database of its own. Server
    processes that tests start inherit the URL already moved (and the mark that says so) and keep it."""
    worker, url = os.environ.get("PYTEST_XDIST_WORKER", ""), os.environ.get("REDIS_URL", "")
    if not (url and worker) or os.environ.get("HELPDESK_TEST_REDIS_FOR") == worker:
        return
    parts = urlsplit(url)
    database = redis_database_of_test_process(int(parts.path.strip("/") or 0))
    os.environ["REDIS_URL"] = urlunsplit(parts._replace(path=f"/{database}"))
    os.environ["HELPDESK_TEST_REDIS_FOR"] = worker


_redis_database_per_test_process()

from .base import *  # noqa: E402, F403
from .base import BASE_DIR, DATABASES, STORAGES, env  # noqa: E402

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = env("EMAIL_BACKEND", default="django.core.mail.backends.locmem.EmailBackend")
EMAIL_FILE_PATH = env("EMAIL_FILE_PATH", default="")
# In-process jobs, unless a test starts real worker processes (they get CELERY_TASK_ALWAYS_EAGER=false).
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=True)
HELPDESK_EAGER_DELAYED_TASKS = env("HELPDESK_EAGER_DELAYED_TASKS", default="defer")
STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
# Browser tests run the server in another process, so the SQLite test database must be a file.
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["TEST"] = {"NAME": env("TEST_SQLITE_PATH", default=str(BASE_DIR / ".test-db.sqlite3"))}
# Tests use a per-process cache so rate limits and TOTP replay checks start clean.
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
MFA_WEBAUTHN_ALLOW_INSECURE_ORIGIN = True
# Files tests store (attachments, quick-reply files) stay out of the project tree; server processes
# started by browser tests inherit the same directory through MEDIA_ROOT.
MEDIA_ROOT = env("MEDIA_ROOT", default=os.path.join(tempfile.gettempdir(), "helpdesk-test-media"))
# As in production with Redis: sessions read from the cache (here per process), written through to
# the database; query counts pinned by tests are the same with and without REDIS_URL.
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
SESSION_CACHE_ALIAS = "default"
# Tests reach the Cloud API through a transport they install, or a fake whose address they set here.
WHATSAPP_API_BASE_URL = env("WHATSAPP_API_BASE_URL", default="http://fake-cloud-api.invalid")
