"""Test settings: SQLite with nothing configured, PostgreSQL and Redis when their URLs are set."""

import os
import tempfile

os.environ.setdefault("DJANGO_SECRET_KEY", "test-secret-key-not-for-production")

from .base import *  # noqa: F403
from .base import BASE_DIR, DATABASES, STORAGES, env

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
