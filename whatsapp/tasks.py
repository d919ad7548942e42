"""Celery tasks of the WhatsApp channel: thin wrappers that load by id and call one service."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from celery import shared_task
from django.conf import settings

logger = logging.getLogger(__name__)

# Delayed calls held back when HELPDESK_EAGER_DELAYED_TASKS is "defer" (tests run them explicitly).
DEFERRED: list[tuple[Any, Any, float]] = []


def run_later(task: Any, arg: Any, delay: float) -> None:
    """Run ``task(arg)`` after ``delay`` seconds: on a worker, or in-process on the embedded default."""
    if settings.CELERY_TASK_ALWAYS_EAGER:
        if delay <= 0:
            task.apply(args=(arg,))
        elif settings.HELPDESK_EAGER_DELAYED_TASKS == "defer":
            DEFERRED.append((task, arg, delay))
        else:
            timer = threading.Timer(delay, task.apply, kwargs={"args": (arg,)})
            timer.daemon = True
            timer.start()
        return
    task.apply_async(args=(arg,), countdown=max(delay, 0))


@shared_task(acks_late=True)
def webhook_event_process(event_id: int) -> str:
    from whatsapp.processing import webhook_event_process as process

    return process(event_id=event_id).status


@shared_task(acks_late=True)
def webhook_events_drain(channel_id: int, slot: int) -> int:
    """Process a channel's pending events in batches while there are any (see ``drain_request``)."""
    from whatsapp.processing import webhook_events_process_batch

    deadline = time.monotonic() + settings.WHATSAPP_DRAIN_SECONDS
    key = _drain_key(channel_id, slot)
    client = _redis()
    done = 0
    while True:
        client.expire(key, _DRAIN_KEY_TTL)
        count = webhook_events_process_batch(channel_id=channel_id, limit=settings.WHATSAPP_DRAIN_BATCH)
        done += count
        if count:
            if time.monotonic() > deadline:
                # Long backlog: hand over to a fresh job so no job runs into the task time limit.
                webhook_events_drain.delay(channel_id, slot)
                return done
            continue
        client.delete(key)
        # An event stored after the last batch found the slot taken and enqueued nothing: look again.
        from whatsapp.models import WebhookEvent

        pending = WebhookEvent.objects.filter(channel_id=channel_id, status=WebhookEvent.Status.PENDING).exists()
        if not pending or not client.set(key, "1", nx=True, ex=_DRAIN_KEY_TTL):
            return done


_DRAIN_KEY_TTL = 60


def _drain_key(channel_id: int, slot: int) -> str:
    return f"helpdesk:wa:drain:{channel_id}:{slot}"


def _redis() -> Any:
    from whatsapp.limiter import _redis as shared_redis

    return shared_redis()


# Takes the first free drainer slot of a channel (SET NX with expiry); returns its number, or -1.
_SLOT_LUA = """
for slot = 1, #KEYS do
  if redis.call('SET', KEYS[slot], '1', 'NX', 'EX', ARGV[1]) then
    return slot - 1
  end
end
return -1
"""


def drain_request(event_id: int, channel_id: int) -> None:
    """Have a stored event processed.

    With a worker, events are drained in batches: a job is enqueued only when fewer than
    ``WHATSAPP_DRAIN_SLOTS`` drainers are running for the channel (one Redis round trip looks for
    a free slot), so a burst of webhooks costs one job, not one per webhook. Without one, the
    event is processed now.
    """
    if settings.CELERY_TASK_ALWAYS_EAGER or not settings.REDIS_URL:
        webhook_event_process.delay(event_id)
        return
    keys = [_drain_key(channel_id, slot) for slot in range(settings.WHATSAPP_DRAIN_SLOTS)]
    slot = int(_redis().eval(_SLOT_LUA, len(keys), *keys, _DRAIN_KEY_TTL))
    if slot >= 0:
        webhook_events_drain.delay(channel_id, slot)


@shared_task(acks_late=True)
def message_deliver(message_id: int) -> str:
    from whatsapp.sender import message_deliver as deliver

    return deliver(message_id=message_id)


@shared_task(acks_late=True, autoretry_for=(), max_retries=0)
def attachment_download(attachment_id: int) -> str:
    from whatsapp.services import attachment_download as download

    return download(attachment_id=attachment_id)


@shared_task
def templates_sync(channel_id: int) -> int:
    from whatsapp.errors import CloudApiError
    from whatsapp.models import WhatsAppChannel
    from whatsapp.services import templates_sync as sync

    try:
        return sync(channel=WhatsAppChannel.objects.get(pk=channel_id))
    except CloudApiError as exc:
        # The next periodic sync tries again; the channel page shows the last successful sync.
        logger.warning("Template sync of channel %s failed: %s", channel_id, exc)
        return -1


@shared_task
def templates_sync_all() -> int:
    from whatsapp.models import WhatsAppChannel

    ids = list(WhatsAppChannel.objects.filter(tenant__active=True).values_list("pk", flat=True))
    for pk in ids:
        templates_sync.delay(pk)
    return len(ids)


@shared_task
def webhook_events_sweep() -> int:
    from whatsapp.services import webhook_events_sweep as sweep

    return sweep()


@shared_task
def messages_sweep() -> dict[str, int]:
    from whatsapp.sender import messages_sweep as sweep

    return sweep()
