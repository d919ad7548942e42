"""Celery tasks of the core: thin wrappers that call one service."""

from __future__ import annotations

from celery import shared_task


@shared_task
def conversations_unsnooze_due() -> int:
    from conversations.services.actions import conversations_unsnooze_due as unsnooze

    return unsnooze()


@shared_task(acks_late=True)
def event_deliver(delivery_id: int) -> str:
    from conversations.events.delivery import event_deliver as deliver

    return deliver(delivery_id=delivery_id)


@shared_task
def event_deliveries_sweep() -> int:
    from conversations.events.delivery import event_deliveries_sweep as sweep

    return sweep()


@shared_task
def reply_window_events_record() -> dict[str, int]:
    from conversations.events.delivery import reply_window_events_record as record

    return record()
