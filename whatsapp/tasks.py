"""Celery tasks of the WhatsApp channel: thin wrappers that load by id and call one service."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from celery import shared_task
from django.conf import settings

logger = logging.getLogger(__name__)

# Delayed calls held back when HELPDESK_EAGER_DELAYED_TASKS is "defer" (tests run them explicitly).
DEFERRED: list[tuple[Any, Any, float, dict[str, Any]]] = []


def run_later(task: Any, arg: Any, delay: float, **kwargs: Any) -> None:
    """Run ``task(arg, **kwargs)`` after ``delay`` seconds: on a worker, or in-process on the embedded default."""
    if settings.CELERY_TASK_ALWAYS_EAGER:
        if delay <= 0:
            task.apply(args=(arg,), kwargs=kwargs)
        elif settings.HELPDESK_EAGER_DELAYED_TASKS == "defer":
            DEFERRED.append((task, arg, delay, kwargs))
        else:
            timer = threading.Timer(delay, task.apply, kwargs={"args": (arg,), "kwargs": kwargs})
            timer.daemon = True
            timer.start()
        return
    task.apply_async(args=(arg,), kwargs=kwargs, countdown=max(delay, 0))


@shared_task(acks_late=True)
def webhook_event_process(event_id: int) -> str:
    from whatsapp.processing import webhook_event_process as process

    return process(event_id=event_id).status


@shared_task(acks_late=True)
def webhook_events_drain(channel_id: int, slot: int) -> int:
    """Process a channel's pending events in batches while there are any (see ``drain_request``)."""
    from whatsapp.models import WebhookEvent
    from whatsapp.processing import webhook_events_process_batch

    def step() -> int:
        count = webhook_events_process_batch(channel_id=channel_id, limit=settings.WHATSAPP_DRAIN_BATCH)
        if 0 < count < settings.WHATSAPP_DRAIN_BATCH // 2:
            # A trickle (status webhooks while a broadcast goes out): let a few more arrive, so that
            # the next claim takes them as one batch rather than one by one.
            time.sleep(settings.WHATSAPP_DRAIN_LINGER_SECONDS)
        return count

    return _drain(
        _drain_key(channel_id, slot),
        step=step,
        pending=lambda: WebhookEvent.objects.filter(channel_id=channel_id, status=WebhookEvent.Status.PENDING).exists(),
        hand_over=lambda: webhook_events_drain.delay(channel_id, slot),
    )


def _drain(key: str, *, step: Callable[[], int], pending: Callable[[], bool], hand_over: Callable[[], Any]) -> int:
    """Run ``step`` (which works one batch and returns its size) while it finds work, holding ``key``.

    On a long backlog it hands over to a fresh job (``hand_over``) so no job runs into the task time
    limit. When the work runs out it lets go of ``key``, then looks once more: work stored after the
    last batch found the key taken and enqueued nothing.
    """
    deadline = time.monotonic() + settings.WHATSAPP_DRAIN_SECONDS
    client = _redis()
    done = 0
    while True:
        client.expire(key, _DRAIN_KEY_TTL)
        count = step()
        done += count
        if count:
            if time.monotonic() > deadline:
                hand_over()
                return done
            continue
        client.delete(key)
        if not pending() or not client.set(key, "1", nx=True, ex=_DRAIN_KEY_TTL):
            return done


_DRAIN_KEY_TTL = 60


def _drain_key(channel_id: int, slot: int) -> str:
    return f"helpdesk:wa:drain:{channel_id}:{slot}"


def _inline() -> bool:
    """Jobs run in this process (the embedded default): no worker drains queues, and no Redis holds their keys."""
    return bool(settings.CELERY_TASK_ALWAYS_EAGER or not settings.REDIS_URL)


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
    if _inline():
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


@shared_task(acks_late=True)
def message_deliver_ahead(message_id: int) -> str:
    from whatsapp.sender import message_deliver_ahead as deliver

    return deliver(message_id=message_id)


def send_ahead_request(*, message_id: int) -> None:
    """Have a queued message sent now, ahead of its inbox's send queue (see ``message_deliver_ahead``)."""
    if _inline():
        message_deliver.delay(message_id)
        return
    message_deliver_ahead.delay(message_id)


def _send_key(inbox_id: int) -> str:
    return f"helpdesk:wa:send:{inbox_id}"


@shared_task(acks_late=True)
def messages_send_drain(inbox_id: int) -> int:
    """Send an inbox's due messages, its queue's parts side by side, while there are any."""
    from whatsapp.sender import messages_deliver_parts, queued

    key = _send_key(inbox_id)
    client = _redis()
    return _drain(
        key,
        # Each batch renews the job's key: paced waits must not let it expire while the job still
        # works the queue (a second job would interleave a conversation's messages).
        step=lambda: messages_deliver_parts(
            inbox_id=inbox_id,
            seconds=settings.WHATSAPP_DRAIN_SECONDS,
            on_batch=lambda: client.expire(key, _DRAIN_KEY_TTL),
        ),
        pending=lambda: queued(inbox_id=inbox_id).exists(),
        hand_over=lambda: messages_send_drain.delay(inbox_id),
    )


def send_request(*, message_id: int, inbox_id: int) -> None:
    """Have a queued message sent now.

    With a worker, one job at a time works an inbox's send queue (see ``messages_deliver_parts``).
    It is enqueued only when none is running (one Redis call), so a broadcast of thousands costs
    one job, not one per message. Without a worker, the message is sent now.
    """
    if _inline():
        message_deliver.delay(message_id)
        return
    if _redis().set(_send_key(inbox_id), "1", nx=True, ex=_DRAIN_KEY_TTL):
        messages_send_drain.delay(inbox_id)


def send_requests(messages: list[tuple[int, int]]) -> None:
    """``send_request`` for many ``(message_id, inbox_id)`` pairs: with a worker, one request per inbox."""
    asked: set[int] = set()
    for message_id, inbox_id in messages:
        if not _inline() and inbox_id in asked:
            continue
        asked.add(inbox_id)
        send_request(message_id=message_id, inbox_id=inbox_id)


@shared_task(acks_late=True)
def message_mark_read(message_id: int, attempt: int = 1) -> str:
    from whatsapp.services import message_mark_read as mark_read

    return mark_read(message_id=message_id, attempt=attempt)


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
def webhook_events_sweep() -> dict[str, int]:
    from whatsapp.services import webhook_events_sweep as sweep

    return sweep()


@shared_task
def messages_sweep() -> dict[str, int]:
    from whatsapp.sender import messages_sweep as sweep

    return sweep()
