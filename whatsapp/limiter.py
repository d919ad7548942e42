"""Pacing of sends to Meta's limits: per-number throughput and per-recipient pair rate.

Both live in Redis when ``REDIS_URL`` is set, so every worker process shares them; the embedded
default (no Redis) keeps them in this process.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import redis
from django.conf import settings

# GCRA for the pair rate: a burst of ``burst`` messages to one recipient, then one per ``interval``
# ms. ``pair_wait`` returns 0 and takes a message from the budget, or the ms to wait (taking nothing).
_PAIR_FN = """
local function pair_wait(key, interval, burst, now)
  now = math.floor(now)
  local tat = tonumber(redis.call('GET', key) or now)
  if tat < now then tat = now end
  local allowed_at = tat - (burst - 1) * interval
  if allowed_at > now then
    return allowed_at - now
  end
  redis.call('SET', key, tat + interval, 'PX', math.floor((tat + interval - now) + 1000))
  return 0
end
local function redis_now()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
end
"""

# Reserves the next send slot of a number (KEYS[1]): at most ``rate`` sends in any window of
# ``window`` ms (a second plus a small margin, so that network jitter cannot squeeze ``rate + 1``
# requests into one second at Meta), evenly spaced ``window / rate`` ms apart. The slot may lie in
# the future: the caller waits for it, so every sender makes one call per message, and no sends
# bunch up. Nothing is reserved when the slot is more than ``max_wait`` ms away. With KEYS[2], the
# recipient's pair budget is taken in the same call, and nothing is reserved when it is spent.
# ARGV[5], when not empty, names the caller's previous slot, whose send was answered ARGV[6] ms ago:
# it is moved to that moment first (see ``throughput_reserve``).
# Uses Redis' clock so all workers agree on time. Returns {1, ms until the slot} when reserved,
# {0, ms until the slot} when it is too far, {2, ms until the recipient may get one} when paced.
_THROUGHPUT_LUA = (
    _PAIR_FN
    + """
local key = KEYS[1]
local rate = tonumber(ARGV[1])
local member = ARGV[2]
local window = tonumber(ARGV[3])
local max_wait = tonumber(ARGV[4])
local now = redis_now()
if ARGV[5] ~= '' then
  local answered_at = now - tonumber(ARGV[6])
  local score = redis.call('ZSCORE', key, ARGV[5])
  if score and answered_at > tonumber(score) then
    redis.call('ZADD', key, 'XX', answered_at, ARGV[5])
  end
end
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
if KEYS[2] then
  local paced = pair_wait(KEYS[2], tonumber(ARGV[7]), tonumber(ARGV[8]), now)
  if paced > 0 then
    return {2, tostring(paced)}
  end
end
redis.call('ZADD', key, at, member)
redis.call('PEXPIRE', key, math.ceil(window * 2 + wait))
return {1, tostring(wait)}
"""
)

# The send of a reserved slot started (or was answered) ARGV[2] ms ago: if that is later than the
# slot (the sender was delayed), move its entry there, so that the slots given out after it keep
# their distance from when the send really happened.
_THROUGHPUT_STAMP_LUA = """
local t = redis.call('TIME')
local at = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000 - tonumber(ARGV[2])
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if score and at > tonumber(score) then
  redis.call('ZADD', KEYS[1], 'XX', at, ARGV[1])
end
return 0
"""


@cache
def _redis() -> Any:
    return redis.Redis.from_url(settings.REDIS_URL)


class _LocalState:
    lock = threading.Lock()
    windows: dict[str, deque[tuple[float, str]]] = {}
    tats: dict[str, float] = {}


@dataclass(frozen=True)
class PairLimit:
    """The pace of messages to one recipient: ``burst`` at once, then one per ``interval`` seconds."""

    key: str
    interval: float
    burst: int


@dataclass(frozen=True)
class Answered:
    """A sender's previous slot, and when (``time.monotonic()``) Meta answered its send."""

    slot: str
    at: float


def _ms_ago(at: float | None) -> float:
    return 0.0 if at is None else max(0.0, (time.monotonic() - at) * 1000)


@dataclass(frozen=True)
class Reservation:
    """The answer of ``throughput_reserve``: ``slot`` is reserved (``wait`` seconds ahead) when it is
    not empty; otherwise ``paced_by`` ("throughput" or "pair") says what refused, and ``wait`` how
    long until it would not."""

    wait: float
    slot: str = ""
    paced_by: str = ""


def throughput_reserve(
    *, key: str, rate: int, max_wait: float, pair: PairLimit | None = None, answered: Answered | None = None
) -> Reservation:
    """Reserve the next send slot of ``key`` (see ``_THROUGHPUT_LUA``) if it comes within ``max_wait``
    seconds and, with ``pair``, the recipient may get a message; otherwise nothing is taken.

    ``answered`` is the caller's previous slot, whose send Meta has answered: its entry moves to
    when the answer came, a time its request certainly reached Meta before. The slot ``rate`` places
    after it then comes a window after that, so however late that request arrived (a busy machine,
    a slow network), the two cannot fall in one second at Meta. The moment of the answer is sent as
    a time ago, not the time between the answer and this call (the caller may have recorded sends
    or claimed a batch meanwhile), which would push every later slot back.
    """
    window_ms = 1000 + settings.WHATSAPP_THROUGHPUT_MARGIN_MS
    member = f"{time.time_ns()}-{threading.get_ident()}"
    if settings.REDIS_URL:
        keys = [f"helpdesk:wa:tp:{key}"]
        args: list[Any] = [rate, member, window_ms, max_wait * 1000]
        args += [answered.slot, _ms_ago(answered.at)] if answered else ["", 0]
        if pair is not None:
            keys.append(f"helpdesk:wa:pair:{pair.key}")
            args += [int(pair.interval * 1000), pair.burst]
        outcome, wait_ms = _redis().eval(_THROUGHPUT_LUA, len(keys), *keys, *args)
        return _reservation(int(outcome), float(wait_ms) / 1000.0, member)
    now = time.monotonic()
    span = window_ms / 1000.0
    with _LocalState.lock:
        log = _LocalState.windows.setdefault(key, deque())
        if answered:
            _local_move_to(log, answered.slot, answered.at)  # this process's clock: the answer's own moment
        while log and log[0][0] <= now - span:
            log.popleft()
        at = now
        if log:
            at = max(at, log[-1][0] + span / rate)
        if len(log) >= rate:
            at = max(at, log[len(log) - rate][0] + span)
        if at - now > max_wait:
            return _reservation(0, at - now, member)
        if pair is not None:
            paced = _local_pair_wait(pair.key, pair.interval * 1000, pair.burst, now * 1000)
            if paced > 0:
                return _reservation(2, paced / 1000.0, member)
        log.append((at, member))
        return _reservation(1, at - now, member)


def _reservation(outcome: int, wait: float, member: str) -> Reservation:
    if outcome == 1:
        return Reservation(wait=wait, slot=member)
    return Reservation(wait=wait, paced_by="pair" if outcome == 2 else "throughput")


def _local_pair_wait(key: str, interval_ms: float, burst: int, now_ms: float) -> float:
    # The in-process twin of ``pair_wait`` in ``_PAIR_FN``; the caller holds the lock.
    tat = max(_LocalState.tats.get(key, now_ms), now_ms)
    allowed_at = tat - (burst - 1) * interval_ms
    if allowed_at > now_ms:
        return allowed_at - now_ms
    _LocalState.tats[key] = tat + interval_ms
    return 0.0


def throughput_stamp(*, key: str, slot: str, at: float | None = None) -> None:
    """The send of ``slot`` starts now, or was answered at ``at`` (``time.monotonic()``); see
    ``_THROUGHPUT_STAMP_LUA``."""
    if settings.REDIS_URL:
        _redis().eval(_THROUGHPUT_STAMP_LUA, 1, f"helpdesk:wa:tp:{key}", slot, _ms_ago(at))
        return
    with _LocalState.lock:
        log = _LocalState.windows.get(key)
        if log is not None:
            _local_move_to(log, slot, time.monotonic() if at is None else at)


def _local_move_to(log: deque[tuple[float, str]], slot: str, now: float) -> None:
    # The in-process twin of the re-stamps in the scripts above; the caller holds the lock.
    entry = next((e for e in log if e[1] == slot), None)
    if entry is not None and now > entry[0]:
        log.remove(entry)
        bisect.insort(log, (now, slot))


def send_slot_acquire(
    *,
    key: str,
    rate: int,
    max_wait: float,
    pair: PairLimit,
    answered: Answered | None = None,
    while_waiting: Callable[[], None] | None = None,
) -> Reservation:
    """Wait for a send slot of number ``key`` (up to ``max_wait`` seconds), taking one message of the
    recipient's pair budget with it, in one call. When it returns a slot the send may start: the
    slot is stamped with the moment the wait ended. Otherwise nothing was taken.

    ``answered``: see ``throughput_reserve``. Once a slot is reserved, ``while_waiting`` runs before
    the rest of the wait is slept (a sender records its previous send there).
    """
    reserved = throughput_reserve(key=key, rate=rate, max_wait=max_wait, pair=pair, answered=answered)
    if not reserved.slot:
        return reserved
    due = time.monotonic() + reserved.wait
    if while_waiting is not None:
        while_waiting()
    if (left := due - time.monotonic()) > 0:
        time.sleep(left)
    throughput_stamp(key=key, slot=reserved.slot)
    return reserved


def reset_local_state() -> None:
    with _LocalState.lock:
        _LocalState.windows.clear()
        _LocalState.tats.clear()
