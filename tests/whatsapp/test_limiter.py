"""The throughput and pair limiters, on Redis when REDIS_URL is set, in-process otherwise."""

from __future__ import annotations

import itertools
import time
import uuid

import pytest
from django.conf import settings

from whatsapp import limiter


@pytest.fixture(autouse=True)
def _fresh_state():
    limiter.reset_local_state()
    yield
    limiter.reset_local_state()


WINDOW = 1.025  # a second plus WHATSAPP_THROUGHPUT_MARGIN_MS


def _schedule(key: str, rate: int, count: int) -> list[float]:
    """Reserve ``count`` slots back to back; their times, relative to the first call."""
    start = time.monotonic()
    times = []
    for _ in range(count):
        reserved = limiter.throughput_reserve(key=key, rate=rate, max_wait=60.0)
        assert reserved is not None
        times.append(time.monotonic() - start + reserved[0])
    return times


def test_reserved_slots_are_evenly_spaced():
    times = _schedule(f"tp-{uuid.uuid4().hex}", rate=5, count=12)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    # window / rate apart (a little more for the time the calls themselves take), never in a burst
    assert all(WINDOW / 5 - 0.001 <= gap <= WINDOW / 5 + 0.05 for gap in gaps), gaps


def test_no_window_of_a_second_holds_more_than_rate_slots():
    times = _schedule(f"tp-{uuid.uuid4().hex}", rate=5, count=16)
    busiest = max(sum(1 for t in times if start <= t < start + 1.0) for start in times)
    assert busiest == 5


def test_a_slot_too_far_away_is_not_reserved():
    key = f"tp-{uuid.uuid4().hex}"
    assert limiter.throughput_try_acquire(key=key, rate=2) is True
    assert limiter.throughput_try_acquire(key=key, rate=2) is False  # the next slot is half a window away
    assert limiter.throughput_reserve(key=key, rate=2, max_wait=0.1) is None
    # Refusals took nothing: the next slot is still the second one.
    reserved = limiter.throughput_reserve(key=key, rate=2, max_wait=5.0)
    assert reserved is not None and 0.4 < reserved[0] <= WINDOW / 2


def test_pair_limit_allows_a_burst_then_spaces_messages():
    key = f"pair-{uuid.uuid4().hex}"
    assert [limiter.pair_try_acquire(key=key, interval=6.0, burst=3) for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = limiter.pair_try_acquire(key=key, interval=6.0, burst=3)
    assert 5.9 < wait <= 6.0


def test_keys_are_independent():
    a, b = f"a-{uuid.uuid4().hex}", f"b-{uuid.uuid4().hex}"
    assert limiter.throughput_try_acquire(key=a, rate=1) is True
    assert limiter.throughput_try_acquire(key=b, rate=1) is True
    assert limiter.throughput_try_acquire(key=a, rate=1) is False


@pytest.mark.skipif(not settings.REDIS_URL, reason="REDIS_URL is not set: the limiter is in-process")
def test_redis_limits_are_shared_between_processes():
    """Slots taken by one worker process are gone for another (pair pacing: 3 per minute here)."""
    import subprocess
    import sys

    key = f"shared-{uuid.uuid4().hex}"
    code = (
        "import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'helpdesk.settings.test'); django.setup();"
        "from whatsapp import limiter;"
        f"print(sum(1 for _ in range(5) if limiter.pair_try_acquire(key='{key}', interval=60.0, burst=3) == 0.0))"
    )
    taken = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True) for _ in range(2)]
    assert [int(p.stdout.strip().splitlines()[-1]) for p in taken] == [3, 0]


def _move_slot_back(key: str, slot: str, seconds: float) -> None:
    """Pretend the slot was handed out ``seconds`` earlier (its sender has been held up since)."""
    if settings.REDIS_URL:
        redis_key = f"helpdesk:wa:tp:{key}"
        score = limiter._redis().zscore(redis_key, slot)
        limiter._redis().zadd(redis_key, {slot: score - seconds * 1000}, xx=True)
        return
    with limiter._LocalState.lock:
        log = limiter._LocalState.windows[key]
        at, name = log.pop()
        log.append((at - seconds, name))


def test_a_late_send_pushes_the_slots_after_it():
    key = f"tp-{uuid.uuid4().hex}"
    first = limiter.throughput_reserve(key=key, rate=2, max_wait=0.0)
    assert first is not None
    _move_slot_back(key, first[1], 0.3)
    # Without the stamp, the next slot would come 0.3 s sooner than half a window from now.
    limiter.throughput_stamp(key=key, slot=first[1])
    second = limiter.throughput_reserve(key=key, rate=2, max_wait=5.0)
    assert second is not None
    assert WINDOW / 2 - 0.05 < second[0] <= WINDOW / 2


def test_a_send_on_time_keeps_its_slot():
    key = f"tp-{uuid.uuid4().hex}"
    first = limiter.throughput_reserve(key=key, rate=2, max_wait=0.0)
    second = limiter.throughput_reserve(key=key, rate=2, max_wait=5.0)
    assert first is not None and second is not None
    limiter.throughput_stamp(key=key, slot=second[1])  # its slot is still ahead: nothing moves
    third = limiter.throughput_reserve(key=key, rate=2, max_wait=5.0)
    assert third is not None
    assert WINDOW - 0.05 < third[0] <= WINDOW
