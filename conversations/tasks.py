"""Celery tasks of the core: thin wrappers that call one service."""

from __future__ import annotations

from celery import shared_task

from conversations import channels
from conversations.events import delivery, retention
from conversations.services import actions
from conversations.services import delivery as send_queue


@shared_task
def conversations_unsnooze_due() -> int:
    return actions.conversations_unsnooze_due()


@shared_task(acks_late=True)
def event_deliver(delivery_id: int) -> str:
    return delivery.event_deliver(delivery_id=delivery_id)


@shared_task(acks_late=True)
def event_deliveries_deliver(delivery_ids: list[int]) -> dict[int, str]:
    return delivery.event_deliveries_deliver(delivery_ids=delivery_ids)


@shared_task(acks_late=True)
def event_subscriber_drain(subscriber: str) -> int:
    return delivery.event_subscriber_drain(subscriber=subscriber)


@shared_task
def event_deliveries_sweep() -> int:
    return delivery.event_deliveries_sweep()


@shared_task
def reply_window_events_record() -> dict[str, int]:
    return delivery.reply_window_events_record()


@shared_task(acks_late=True)
def message_deliver(message_id: int) -> str:
    return send_queue.message_deliver(message_id=message_id)


@shared_task(acks_late=True)
def message_deliver_ahead(message_id: int) -> str:
    return send_queue.message_deliver_ahead(message_id=message_id)


@shared_task(acks_late=True)
def messages_send_drain(inbox_id: int) -> int:
    return send_queue.messages_send_drain(inbox_id=inbox_id)


@shared_task
def messages_sweep() -> dict[str, dict[str, int]]:
    """Each channel type's sweep, on its own inboxes' messages only."""
    return {name: send_queue.messages_sweep(channel_type=name) for name in channels.channel_types()}


@shared_task
def events_purge() -> dict[str, int]:
    return retention.events_purge()
