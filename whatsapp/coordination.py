"""How the channel's jobs are enqueued, and the Redis keys that coordinate them.

Services and the webhook receiver ask for work here (process a stored event, send a queued
message); the jobs themselves live in ``tasks.py`` and call one service each. Jobs are found by
name in Celery's registry, so nothing here imports ``tasks.py`` and ``tasks.py`` can import the
services without a cycle (the app's ``ready()`` imports ``tasks.py``, which registers them).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from celery import current_app
from django.conf import settings

from whatsapp.limiter import _redis as shared_redis

# Delayed calls held back when HELPDESK_EAGER_DELAYED_TASKS is "defer" (tests run them explicitly).
DEFERRED: list[tuple[Any, Any, float, dict[str, Any]]] = []

DRAIN_KEY_TTL = 60

# Takes the first free drainer slot of a channel (SET NX with expiry); returns its number, or -1.
_SLOT_LUA = """
for slot = 1, #KEYS do
  if redis.call('SET', KEYS[slot], '1', 'NX', 'EX', ARGV[1]) then
    return slot - 1
  end
end
return -1
"""


def task(name: str) -> Any:
    """The channel's Celery task ``name`` (a function of ``whatsapp/tasks.py``)."""
    return current_app.tasks[f"whatsapp.tasks.{name}"]


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


def redis_client() -> Any:
    return shared_redis()


def inline() -> bool:
    """Jobs run in this process (the embedded default): no worker drains queues, and no Redis holds their keys."""
    return bool(settings.CELERY_TASK_ALWAYS_EAGER or not settings.REDIS_URL)


def drain(key: str, *, step: Callable[[], int], pending: Callable[[], bool], hand_over: Callable[[], Any]) -> int:
    """Run ``step`` (which works one batch and returns its size) while it finds work, holding ``key``.

    On a long backlog it hands over to a fresh job (``hand_over``) so no job runs into the task time
    limit. When the work runs out it lets go of ``key``, then looks once more: work stored after the
    last batch found the key taken and enqueued nothing.
    """
    deadline = time.monotonic() + settings.WHATSAPP_DRAIN_SECONDS
    client = redis_client()
    done = 0
    while True:
        client.expire(key, DRAIN_KEY_TTL)
        count = step()
        done += count
        if count:
            if time.monotonic() > deadline:
                hand_over()
                return done
            continue
        client.delete(key)
        if not pending() or not client.set(key, "1", nx=True, ex=DRAIN_KEY_TTL):
            return done


def drain_key(channel_id: int, slot: int) -> str:
    return f"helpdesk:wa:drain:{channel_id}:{slot}"


def send_key(inbox_id: int) -> str:
    return f"helpdesk:wa:send:{inbox_id}"


def drain_request(event_id: int, channel_id: int) -> None:
    """Have a stored event processed.

    With a worker, events are drained in batches: a job is enqueued only when fewer than
    ``WHATSAPP_DRAIN_SLOTS`` drainers are running for the channel (one Redis round trip looks for
    a free slot), so a burst of webhooks costs one job, not one per webhook. Without one, the
    event is processed now.
    """
    if inline():
        task("webhook_event_process").delay(event_id)
        return
    keys = [drain_key(channel_id, slot) for slot in range(settings.WHATSAPP_DRAIN_SLOTS)]
    slot = int(redis_client().eval(_SLOT_LUA, len(keys), *keys, DRAIN_KEY_TTL))
    if slot >= 0:
        task("webhook_events_drain").delay(channel_id, slot)


def send_ahead_request(*, message_id: int) -> None:
    """Have a queued message sent now, ahead of its inbox's send queue (see ``message_deliver_ahead``)."""
    if inline():
        task("message_deliver").delay(message_id)
        return
    task("message_deliver_ahead").delay(message_id)


def send_request(*, message_id: int, inbox_id: int) -> None:
    """Have a queued message sent now.

    With a worker, one job at a time works an inbox's send queue (see ``messages_deliver_parts``).
    It is enqueued only when none is running (one Redis call), so a broadcast of thousands costs
    one job, not one per message. Without a worker, the message is sent now.
    """
    if inline():
        task("message_deliver").delay(message_id)
        return
    if redis_client().set(send_key(inbox_id), "1", nx=True, ex=DRAIN_KEY_TTL):
        task("messages_send_drain").delay(inbox_id)


def send_requests(messages: list[tuple[int, int]]) -> None:
    """``send_request`` for many ``(message_id, inbox_id)`` pairs: with a worker, one request per inbox."""
    asked: set[int] = set()
    for message_id, inbox_id in messages:
        if not inline() and inbox_id in asked:
            continue
        asked.add(inbox_id)
        send_request(message_id=message_id, inbox_id=inbox_id)
