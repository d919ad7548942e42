"""How the channel's jobs are enqueued, and the Redis keys that coordinate them.

The webhook receiver asks for work here (process a stored event); the jobs themselves live in
``tasks.py`` and call one service each. Jobs are found by name in Celery's registry, so nothing
here imports ``tasks.py`` and ``tasks.py`` can import the services without a cycle (the app's
``ready()`` imports ``tasks.py``, which registers them). Sending queued messages is the core's
queue (``conversations/services/delivery.py``); this channel only paces and makes each send.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from celery import current_app
from django.conf import settings

from helpdesk import jobs
from helpdesk.jobs import DEFERRED, DRAIN_KEY_TTL, inline, run_later
from whatsapp.limiter import _redis as shared_redis

__all__ = ["DEFERRED", "DRAIN_KEY_TTL", "drain", "drain_key", "drain_request", "inline", "redis_client", "run_later"]

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


def redis_client() -> Any:
    return shared_redis()


def drain(key: str, *, step: Callable[[], int], pending: Callable[[], bool], hand_over: Callable[[], Any]) -> int:
    """``helpdesk.jobs.drain`` for the channel's webhook events, for up to ``WHATSAPP_DRAIN_SECONDS``."""
    return jobs.drain(
        key,
        seconds=settings.WHATSAPP_DRAIN_SECONDS,
        step=step,
        pending=pending,
        hand_over=hand_over,
        client=redis_client(),
    )


def drain_key(channel_id: int, slot: int) -> str:
    return f"helpdesk:wa:drain:{channel_id}:{slot}"


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
