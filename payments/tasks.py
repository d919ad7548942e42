"""Celery tasks of payments: thin wrappers that call one service."""

from __future__ import annotations

from celery import shared_task

from payments import imports


@shared_task
def product_import_run(import_id: int) -> int:
    job = imports.import_run(import_id)
    return job.done_rows if job is not None else 0
