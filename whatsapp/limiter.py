"""Pacing of sends to Meta's limits: per-number throughput and per-recipient pair rate.

Both live in Redis when ``REDIS_URL`` is set, so every worker process shares them; the embedded
default (no Redis) keeps them in this process.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from functools import cache
from typing import Any

from django.conf import settings

# A sliding log: at most ``rate`` sends in any window of ``window`` ms (a second plus a small margin,
# so that network jitter cannot squeeze ``rate + 1`` requests into one second at Meta). Uses Redis'
# clock so all workers agree on time. Returns 0 when a slot was taken, else milliseconds to wait.
_THROUGHPUT_LUA = """
local key = KEYS[1]
local rate = tonumber(ARGV[1])
local member = ARGV[2]
local window = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
if redis.call('ZCARD', key) < rate then
  redis.call('ZADD', key, now, member)
  redis.call('PEXPIRE', key, window * 2)
  return 0
end
local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
local wait = tonumber(oldest[2]) + window - now
if wait < 1 then wait = 1 end
return wait
"""

# GCRA: a burst of ``burst`` messages, then one per ``interval`` ms. Returns 0 or ms to wait.
_PAIR_LUA = """
local key = KEYS[1]
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local tat = tonumber(redis.call('GET', key) or now)
if tat < now then tat = now end
local allowed_at = tat - (burst - 1) * interval
if allowed_at > now then
  return allowed_at - now
end
redis.call('SET', key, tat + interval, 'PX', math.floor((tat + interval - now) + 1000))
return 0
"""


@cache
def _redis() -> Any:
    import redis

    return redis.Redis.from_url(settings.REDIS_URL)


class _LocalState:
    lock = threading.Lock()
    windows: dict[str, deque[float]] = {}
    tats: dict[str, float] = {}


def throughput_try_acquire(*, key: str, rate: int) -> float:
    """Take a send slot for ``key`` if fewer than ``rate`` were taken in the last second.

    Returns 0.0 when taken, otherwise the seconds to wait before trying again.
    """
    window_ms = 1000 + settings.WHATSAPP_THROUGHPUT_MARGIN_MS
    if settings.REDIS_URL:
        member = f"{time.time_ns()}-{threading.get_ident()}"
        wait_ms = _redis().eval(_THROUGHPUT_LUA, 1, f"helpdesk:wa:tp:{key}", rate, member, window_ms)
        return float(wait_ms) / 1000.0
    now = time.monotonic()
    span = window_ms / 1000.0
    with _LocalState.lock:
        log = _LocalState.windows.setdefault(key, deque())
        while log and log[0] <= now - span:
            log.popleft()
        if len(log) < rate:
            log.append(now)
            return 0.0
        return max(log[0] + span - now, 0.001)


def throughput_acquire(*, key: str, rate: int, max_wait: float) -> bool:
    """Wait (up to ``max_wait`` seconds) for a send slot; False if none came in time."""
    deadline = time.monotonic() + max_wait
    while True:
        wait = throughput_try_acquire(key=key, rate=rate)
        if wait == 0.0:
            return True
        if time.monotonic() + wait > deadline:
            return False
        time.sleep(wait)


def pair_try_acquire(*, key: str, interval: float, burst: int) -> float:
    """Per-recipient pacing: returns 0.0 when a message may go now, else seconds to wait."""
    interval_ms = int(interval * 1000)
    if settings.REDIS_URL:
        wait_ms = _redis().eval(_PAIR_LUA, 1, f"helpdesk:wa:pair:{key}", interval_ms, burst)
        return float(wait_ms) / 1000.0
    now = time.monotonic() * 1000
    with _LocalState.lock:
        tat = max(_LocalState.tats.get(key, now), now)
        allowed_at = tat - (burst - 1) * interval_ms
        if allowed_at > now:
            return (allowed_at - now) / 1000.0
        _LocalState.tats[key] = tat + interval_ms
        return 0.0


def reset_local_state() -> None:
    with _LocalState.lock:
        _LocalState.windows.clear()
        _LocalState.tats.clear()
