"""Plumbing of the apps' Celery jobs: delayed calls, the embedded default, coalescing Redis keys,
and what a broker outage looks like to the code that enqueues.

The apps find their tasks by name in Celery's registry and enqueue them through these helpers;
nothing here knows an app.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterator
from functools import cache
from typing import Any

import redis
from django.conf import settings
from django.db import connections
from kombu.exceptions import KombuError

# What enqueueing raises while the broker (or the Redis that holds the coordination keys) is down:
# kombu's OperationalError from ``delay()``, redis-py's errors, and the sockets' own.
BROKER_ERRORS: tuple[type[BaseException], ...] = (KombuError, redis.RedisError, OSError)

# Delayed calls held back when HELPDESK_EAGER_DELAYED_TASKS is "defer" (tests run them explicitly).
DEFERRED: list[tuple[Any, Any, float, dict[str, Any]]] = []

# A job's hold on its coalescing key lasts this long unless it renews it (each batch does): after a worker is
# killed, its queue waits this long for a new job. Read from the environment, as the processes start.
DRAIN_KEY_TTL = int(os.environ.get("HELPDESK_DRAIN_KEY_TTL", "60"))

# Once a job runs, its key is kept alive by a thread of its own process (``held``) and lasts only this long
# beyond it: a killed worker's queue is free again this many seconds later, not ``DRAIN_KEY_TTL``.
HOLD_TTL = int(os.environ.get("HELPDESK_HOLD_TTL", "10"))


@contextlib.contextmanager
def held(key: str, *, client: Any = None, ttl: int | None = None) -> Iterator[None]:
    """Hold ``key`` while the block runs: its time to live becomes ``ttl`` (``HOLD_TTL``) and a daemon thread
    renews it every third of that, however long one step of the job takes (a paced send, a slow query).
    When the process dies, nothing renews it: the key expires ``ttl`` seconds later and the next request
    or sweep starts a new job. A Redis error while renewing is left to the next renewal."""
    client = client or redis_client()
    ttl = ttl or HOLD_TTL
    stop = threading.Event()

    def renew() -> None:
        while not stop.wait(ttl / 3):
            with contextlib.suppress(*BROKER_ERRORS):
                client.expire(key, ttl)

    with contextlib.suppress(*BROKER_ERRORS):
        client.expire(key, ttl)
    thread = threading.Thread(target=renew, name=f"hold {key}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()


def run_later(task: Any, arg: Any, delay: float, **kwargs: Any) -> None:
    """Run ``task(arg, **kwargs)`` after ``delay`` seconds: on a worker, or in-process on the embedded default."""
    if settings.CELERY_TASK_ALWAYS_EAGER:
        if delay <= 0:
            task.apply(args=(arg,), kwargs=kwargs)
        elif settings.HELPDESK_EAGER_DELAYED_TASKS == "defer":
            DEFERRED.append((task, arg, delay, kwargs))
        else:
            timer = threading.Timer(delay, _apply_in_thread, args=(task, arg, kwargs))
            timer.daemon = True
            timer.start()
        return
    task.apply_async(args=(arg,), kwargs=kwargs, countdown=max(delay, 0))


def _apply_in_thread(task: Any, arg: Any, kwargs: dict[str, Any]) -> None:
    """Run a delayed job on its timer thread, then close the database connections the thread opened (a thread's
    connection is its own: left open, it outlives the thread)."""
    try:
        task.apply(args=(arg,), kwargs=kwargs)
    finally:
        connections.close_all()


@cache
def redis_client() -> Any:
    return redis.Redis.from_url(settings.REDIS_URL)


def inline() -> bool:
    """Jobs run in this process (the embedded default): no worker drains queues, and no Redis holds their keys."""
    return bool(settings.CELERY_TASK_ALWAYS_EAGER or not settings.REDIS_URL)


def drain(
    key: str,
    *,
    seconds: float,
    step: Callable[[], int],
    pending: Callable[[], bool],
    hand_over: Callable[[], Any],
    client: Any = None,
) -> int:
    """Run ``step`` (which works one batch and returns its size) while it finds work, holding ``key``.

    On a long backlog (more than ``seconds``) it hands over to a fresh job (``hand_over``) so no job
    runs into the task time limit. When the work runs out it lets go of ``key``, then looks once
    more: work stored after the last batch found the key taken and enqueued nothing.
    """
    deadline = time.monotonic() + seconds
    client = client or redis_client()
    done = 0
    with held(key, client=client):
        while True:
            count = step()
            done += count
            if count:
                if time.monotonic() > deadline:
                    hand_over()
                    return done
                continue
            client.delete(key)
            if not pending() or not client.set(key, "1", nx=True, ex=HOLD_TTL):
                return done
