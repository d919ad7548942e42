"""Celery tasks of campaigns: thin wrappers that call one service."""

from __future__ import annotations

from celery import shared_task

from campaigns import otp, scheduling, sending


@shared_task
def scheduled_messages_send_due() -> dict[str, int]:
    return scheduling.scheduled_messages_send_due()


@shared_task(acks_late=True)
def broadcast_plan(broadcast_id: int) -> int:
    return sending.broadcast_plan(broadcast_id=broadcast_id)


@shared_task(acks_late=True)
def broadcast_feed(broadcast_id: int) -> str:
    return sending.broadcast_feed(broadcast_id=broadcast_id)


@shared_task
def broadcasts_sweep() -> dict[str, int]:
    return sending.broadcasts_sweep()


@shared_task
def otp_messages_mask() -> int:
    return otp.otp_messages_mask()
