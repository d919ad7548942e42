"""Celery tasks of the WhatsApp channel: thin wrappers that load by id and call one service.

Services enqueue these by name through ``whatsapp.coordination``, which also holds the Redis keys
that keep one drain per slot. Sending queued messages is the core's job (``conversations/tasks.py``).
"""

from __future__ import annotations

import logging

from celery import shared_task

from whatsapp import messaging_limits, processing, services
from whatsapp.errors import CloudApiError
from whatsapp.models import WhatsAppChannel

logger = logging.getLogger(__name__)


@shared_task(acks_late=True)
def webhook_event_process(event_id: int) -> str:
    return processing.webhook_event_process(event_id=event_id).status


@shared_task(acks_late=True)
def webhook_events_drain(channel_id: int, slot: int) -> int:
    return processing.webhook_events_drain(channel_id=channel_id, slot=slot)


@shared_task(acks_late=True)
def message_mark_read(message_id: int, attempt: int = 1) -> str:
    return services.message_mark_read(message_id=message_id, attempt=attempt)


@shared_task(acks_late=True, autoretry_for=(), max_retries=0)
def attachment_download(attachment_id: int) -> str:
    return services.attachment_download(attachment_id=attachment_id)


@shared_task
def templates_sync(channel_id: int) -> int:
    try:
        return services.templates_sync(channel=WhatsAppChannel.objects.get(pk=channel_id))
    except CloudApiError as exc:
        # The next periodic sync tries again; the channel page shows the last successful sync.
        logger.warning("Template sync of channel %s failed: %s", channel_id, exc)
        return -1


@shared_task
def templates_sync_all() -> int:
    ids = list(WhatsAppChannel.objects.filter(tenant__active=True).values_list("pk", flat=True))
    for pk in ids:
        templates_sync.delay(pk)
    return len(ids)


@shared_task
def webhook_events_sweep() -> dict[str, int]:
    return services.webhook_events_sweep()


@shared_task
def attachments_download_sweep() -> int:
    return services.attachments_download_sweep()


@shared_task
def channel_limits_refresh(channel_id: int) -> bool:
    channel = WhatsAppChannel.objects.filter(pk=channel_id).first()
    return channel is not None and messaging_limits.channel_limits_refresh(channel=channel)


@shared_task
def channel_limits_refresh_all() -> int:
    ids = list(WhatsAppChannel.objects.filter(tenant__active=True).values_list("pk", flat=True))
    for pk in ids:
        channel_limits_refresh.delay(pk)
    return len(ids)
