"""Pacing of sends to Meta's limits: per-number throughput and per-recipient pair rate.

Both live in Redis when ``REDIS_URL`` is set, so every worker process shares them; the embedded
default (no Redis) keeps them in this process.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections import deque
from functools import cache
from typing import Any

from django.conf import settings

# Reserves the next send slot: at most ``rate`` sends in any window of ``window`` ms (a second plus
# a small margin, so that network jitter cannot squeeze ``rate + 1`` requests into one second at
# Meta), evenly spaced ``window / rate`` ms apart. The slot may lie in the future: the caller waits
# for it, so every sender makes one call per message, and no sends bunch up. Nothing is reserved
# when the slot is more than ``max_wait`` ms away. Uses Redis' clock so all workers agree on time.
# Returns {1 if reserved else 0, ms until the slot}.
_THROUGHPUT_LUA = """
local key = KEYS[1]
local rate = tonumber(ARGV[1])
local member = ARGV[2]
local window = tonumber(ARGV[3])
local max_wait = tonumber(ARGV[4])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
local at = now
local newest = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
if newest[2] then
  at = math.max(at, tonumber(newest[2]) + window / rate)
end
local count = redis.call('ZCARD', key)
if count >= rate then
  local bound = redis.call('ZRANGE', key, count - rate, count - rate, 'WITHSCORES')
  at = math.max(at, tonumber(bound[2]) + window)
end
local wait = at - now
if wait > max_wait then
  return {0, tostring(wait)}
end
redis.call('ZADD', key, at, member)
redis.call('PEXPIRE', key, math.ceil(window * 2 + wait))
return {1, tostring(wait)}
"""

# The send of a reserved slot is starting now: if that is later than the slot (the sender was
# delayed), move its entry to now, so that the slots given out after it keep their distance from
# when the send really happened.
_THROUGHPUT_STAMP_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if score and now > tonumber(score) then
  redis.call('ZADD', KEYS[1], 'XX', now, ARGV[1])
end
return 0
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
    windows: dict[str, deque[tuple[float, str]]] = {}
    tats: dict[str, float] = {}


def throughput_reserve(*, key: str, rate: int, max_wait: float) -> tuple[float, str] | None:
    """Reserve the next send slot of ``key`` (see ``_THROUGHPUT_LUA``) if it comes within ``max_wait``
    seconds; returns the seconds until it and the slot's name, or None (nothing reserved) when it is
    further away."""
    window_ms = 1000 + settings.WHATSAPP_THROUGHPUT_MARGIN_MS
    member = f"{time.time_ns()}-{threading.get_ident()}"
    if settings.REDIS_URL:
        reserved, wait_ms = _redis().eval(
            _THROUGHPUT_LUA, 1, f"helpdesk:wa:tp:{key}", rate, member, window_ms, max_wait * 1000
        )
        return (float(wait_ms) / 1000.0, member) if int(reserved) else None
    now = time.monotonic()
    span = window_ms / 1000.0
    with _LocalState.lock:
        log = _LocalState.windows.setdefault(key, deque())
        while log and log[0][0] <= now - span:
            log.popleft()
        at = now
        if log:
            at = max(at, log[-1][0] + span / rate)
        if len(log) >= rate:
            at = max(at, log[len(log) - rate][0] + span)
        if at - now > max_wait:
            return None
        log.append((at, member))
        return at - now, member


def throughput_stamp(*, key: str, slot: str) -> None:
    """The send of ``slot`` starts now (see ``_THROUGHPUT_STAMP_LUA``)."""
    if settings.REDIS_URL:
        _redis().eval(_THROUGHPUT_STAMP_LUA, 1, f"helpdesk:wa:tp:{key}", slot)
        return
    now = time.monotonic()
    with _LocalState.lock:
        log = _LocalState.windows.get(key)
        entry = next((e for e in log or () if e[1] == slot), None)
        if log is not None and entry is not None and now > entry[0]:
            log.remove(entry)
            bisect.insort(log, (now, slot))


def throughput_try_acquire(*, key: str, rate: int) -> bool:
    """Take a send slot of ``key`` now, if one is free."""
    return throughput_reserve(key=key, rate=rate, max_wait=0.0) is not None


def throughput_acquire(*, key: str, rate: int, max_wait: float) -> bool:
    """Wait (up to ``max_wait`` seconds) for a send slot; False, with nothing taken, if none comes in time.

    Call it right before the send: the slot is stamped with the moment the wait ends.
    """
    reserved = throughput_reserve(key=key, rate=rate, max_wait=max_wait)
    if reserved is None:
        return False
    wait, slot = reserved
    if wait > 0:
        time.sleep(wait)
    throughput_stamp(key=key, slot=slot)
    return True


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
