"""Settings of the processes a benchmark starts: production-like, plus the baseline view's URL."""

import os

os.environ.setdefault("DJANGO_SECRET_KEY", "bench-secret-key-not-for-production-use-0123456789")

from helpdesk.settings.base import *  # noqa: F403
from helpdesk.settings.base import LOGGING, STORAGES

DEBUG = False
ROOT_URLCONF = "bench.urls"
STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
LOGGING["root"]["level"] = "WARNING"
