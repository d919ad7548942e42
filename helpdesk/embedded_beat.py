"""The embedded default's stand-in for Celery beat.

With jobs run in-process (``make run``: no worker, no beat), a daemon thread of the web server runs
the periodic jobs of ``CELERY_BEAT_SCHEDULE`` on their intervals, so snoozed conversations reopen and
sweepers run there too. With a real worker, beat does this and the thread is never started.
"""

from __future__ import annotations

import logging
import threading
import time

from django.conf import settings
from django.db import close_old_connections

logger = logging.getLogger(__name__)
_started = threading.Event()


def _run_forever() -> None:
    from helpdesk.celery import app

    app.loader.import_default_modules()
    schedule = {name: float(entry["schedule"]) for name, entry in settings.CELERY_BEAT_SCHEDULE.items()}
    tasks = {name: entry["task"] for name, entry in settings.CELERY_BEAT_SCHEDULE.items()}
    due = {name: time.monotonic() + interval for name, interval in schedule.items()}
    while True:
        now = time.monotonic()
        for name, at in due.items():
            if at > now:
                continue
            due[name] = now + schedule[name]
            try:
                app.tasks[tasks[name]].apply()
            except Exception:
                logger.exception("Periodic job %s failed", name)
            finally:
                close_old_connections()
        time.sleep(max(0.5, min(due.values()) - time.monotonic()))


def start() -> None:
    """Start the thread once per process, only when jobs run in-process."""
    if not settings.CELERY_TASK_ALWAYS_EAGER or _started.is_set():
        return
    _started.set()
    threading.Thread(target=_run_forever, name="embedded-beat", daemon=True).start()
