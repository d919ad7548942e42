"""Local development: the embedded default of ``make run`` (SQLite, eager jobs, in-memory layer)."""

import os

os.environ.setdefault("DJANGO_SECRET_KEY", "local-insecure-secret-key-change-me")
os.environ.setdefault("DJANGO_DEBUG", "true")

from .base import *  # noqa: F403
from .base import STORAGES

STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
