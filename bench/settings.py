"""Settings of the processes a benchmark starts: production-like, plus the baseline view's URL."""

import os

os.environ.setdefault("DJANGO_SECRET_KEY", "bench-secret-key-not-for-production-use-0123456789")

from helpdesk.settings.base import *  # noqa: F403
from helpdesk.settings.base import LOGGING, STORAGES, env

DEBUG = False
ROOT_URLCONF = "bench.urls"
STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
LOGGING["root"]["level"] = "WARNING"
# A closed port unless a benchmark runs the fake Cloud API: benchmarks never reach Meta.
WHATSAPP_API_BASE_URL = env("WHATSAPP_API_BASE_URL", default="http://127.0.0.1:9")
# The channel layer tells of events it could not queue ("N of M channels over capacity") at INFO.
LOGGING["loggers"]["channels_redis"] = {"level": "INFO"}
# A benchmark that kills a worker on purpose may have the broker look for a dead worker's jobs every this many
# seconds (BENCH_CELERY_RESTORE_SECONDS) instead of about every 100 s (kombu's sweep, every 10th of its 10-s ticks).
if env("BENCH_CELERY_RESTORE_SECONDS", default=""):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        **CELERY_BROKER_TRANSPORT_OPTIONS,  # noqa: F405
        "unacked_restore_interval": env.int("BENCH_CELERY_RESTORE_SECONDS"),
        "unacked_restore_throttle": 1,
    }
