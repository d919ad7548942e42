"""The Celery application; tasks are discovered in every installed app's ``tasks`` module."""

import os
from typing import Any

from celery import Celery
from celery.signals import task_postrun, task_prerun

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk.settings.local")

app = Celery("helpdesk")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@task_prerun.connect
@task_postrun.connect
def _connection_lifecycle(task: Any = None, **kwargs: Any) -> None:
    """Around a job on a worker, what Django does around a request: a connection that failed or
    outlived its age is closed (on PostgreSQL, handed back to the process's pool)."""
    if task is None or getattr(task.request, "is_eager", False):
        return  # in-process jobs share their caller's connection and transaction
    from django.db import close_old_connections

    close_old_connections()
