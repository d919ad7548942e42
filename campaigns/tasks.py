"""Celery tasks of campaigns: thin wrappers that call one service."""

from __future__ import annotations

from celery import shared_task

from campaigns import otp, scheduling, sending
from campaigns.imports import contact_import_run as import_run
from campaigns.imports import contact_imports_sweep as import_sweep


@shared_task
def scheduled_messages_send_due() -> dict[str, int]:
    return scheduling.scheduled_messages_send_due()


@shared_task(acks_late=True)
def broadcast_plan(broadcast_id: int) -> int:
    return sending.broadcast_plan(broadcast_id=broadcast_id)


@shared_task(acks_late=True)
def broadcast_feed(broadcast_id: int, after: str = "") -> str:
    return sending.broadcast_feed(broadcast_id=broadcast_id, after=after)


@shared_task
def broadcasts_sweep() -> dict[str, int]:
    return sending.broadcasts_sweep()


@shared_task
def otp_messages_mask() -> int:
    return otp.otp_messages_mask()


@shared_task(acks_late=True)
def contact_import_run(import_id: int) -> int:
    # A job out of time hands over to the next, which goes on from the rows already committed.
    job, more = import_run(import_id)
    if more:
        contact_import_run.delay(import_id)
    return job.processed_rows if job is not None else 0


@shared_task
def contact_imports_sweep() -> int:
    return import_sweep()
