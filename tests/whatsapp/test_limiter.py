"""The throughput and pair limiters, on Redis when REDIS_URL is set, in-process otherwise."""

from __future__ import annotations

import itertools
import time
import uuid

import pytest
from django.conf import settings

from tests.prerequisites import require_redis
from whatsapp import limiter


@pytest.fixture(autouse=True)
def _fresh_state():
    limiter.reset_local_state()
    yield
    limiter.reset_local_state()


WINDOW = 1 + settings.WHATSAPP_THROUGHPUT_MARGIN_MS / 1000  # a second plus the margin


def _slot_now(key: str, rate: int) -> bool:
    return bool(limiter.throughput_reserve(key=key, rate=rate, max_wait=0.0).slot)


def _pair_takes(pair: limiter.PairLimit) -> limiter.Reservation:
    """A send slot of an unlimited number, with one message of ``pair``'s budget."""
    return limiter.throughput_reserve(key=f"tp-{uuid.uuid4().hex}", rate=1000, max_wait=5.0, pair=pair)


def _schedule(key: str, rate: int, count: int) -> list[float]:
    """Reserve ``count`` slots back to back; their times, relative to the first call."""
    start = time.monotonic()
    times = []
    for _ in range(count):
        reserved = limiter.throughput_reserve(key=key, rate=rate, max_wait=60.0)
        assert reserved.slot
        times.append(time.monotonic() - start + reserved.wait)
    return times


def test_reserved_slots_are_evenly_spaced():
    times = _schedule(f"tp-{uuid.uuid4().hex}", rate=5, count=12)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    # window / rate apart, never in a burst. Each time is read on this machine's clock after a round
    # trip to Redis, whose clock set the slot: some jitter either way, tens of ms on a loaded machine
    # (a burst would be gaps of about 0).
    assert all(WINDOW / 5 - 0.04 <= gap <= WINDOW / 5 + 0.05 for gap in gaps), gaps


def test_no_window_of_a_second_holds_more_than_rate_slots():
    times = _schedule(f"tp-{uuid.uuid4().hex}", rate=5, count=16)
    busiest = max(sum(1 for t in times if start <= t < start + 1.0) for start in times)
    assert busiest == 5


def test_a_slot_too_far_away_is_not_reserved():
    key = f"tp-{uuid.uuid4().hex}"
    assert _slot_now(key, rate=2) is True
    assert _slot_now(key, rate=2) is False  # the next slot is half a window away
    refused = limiter.throughput_reserve(key=key, rate=2, max_wait=0.1)
    assert (refused.slot, refused.paced_by) == ("", "throughput")
    assert 0.4 < refused.wait <= WINDOW / 2 + 1e-6
    # Refusals took nothing: the next slot is still the second one.
    reserved = limiter.throughput_reserve(key=key, rate=2, max_wait=5.0)
    assert reserved.slot and 0.4 < reserved.wait <= WINDOW / 2 + 1e-6


def test_pair_limit_allows_a_burst_then_spaces_messages():
    pair = limiter.PairLimit(key=f"pair-{uuid.uuid4().hex}", interval=6.0, burst=3)
    assert [bool(_pair_takes(pair).slot) for _ in range(3)] == [True, True, True]
    paced = _pair_takes(pair)
    assert (paced.slot, paced.paced_by) == ("", "pair")
    assert 5.9 < paced.wait <= 6.0


def test_a_send_slot_takes_the_recipients_pair_budget_in_the_same_call():
    number, customer = f"tp-{uuid.uuid4().hex}", f"pair-{uuid.uuid4().hex}"
    pair = limiter.PairLimit(key=customer, interval=6.0, burst=2)
    taken = [limiter.throughput_reserve(key=number, rate=10, max_wait=5.0, pair=pair) for _ in range(2)]
    assert all(r.slot for r in taken)
    paced = limiter.throughput_reserve(key=number, rate=10, max_wait=5.0, pair=pair)
    assert (paced.slot, paced.paced_by) == ("", "pair")
    assert 5.9 < paced.wait <= 6.0
    # The refusal took no send slot: the number's next slot is the third (2 x 0.1025 s after the
    # first), not the fourth.
    after = limiter.throughput_reserve(key=number, rate=10, max_wait=5.0)
    assert after.slot and 2 * WINDOW / 10 - 0.05 < after.wait <= 2 * WINDOW / 10 + 1e-6


def test_a_refused_send_slot_takes_nothing_of_the_pair_budget():
    number, customer = f"tp-{uuid.uuid4().hex}", f"pair-{uuid.uuid4().hex}"
    pair = limiter.PairLimit(key=customer, interval=6.0, burst=1)
    assert _slot_now(number, rate=1) is True
    refused = limiter.throughput_reserve(key=number, rate=1, max_wait=0.5, pair=pair)
    assert (refused.slot, refused.paced_by) == ("", "throughput")
    # The customer's one message of the burst is still there.
    assert _pair_takes(pair).slot


def test_a_sender_records_its_last_send_while_it_waits_for_the_next_slot():
    number = f"tp-{uuid.uuid4().hex}"
    pair = limiter.PairLimit(key=f"pair-{uuid.uuid4().hex}", interval=6.0, burst=10)
    ran: list[float] = []
    assert limiter.send_slot_acquire(key=number, rate=4, max_wait=5.0, pair=pair).wait == 0.0
    start = time.monotonic()
    second = limiter.send_slot_acquire(
        key=number, rate=4, max_wait=5.0, pair=pair, while_waiting=lambda: ran.append(time.monotonic() - start)
    )
    waited = time.monotonic() - start
    assert second.slot and len(ran) == 1
    assert ran[0] < 0.1  # at once, not after the wait
    assert waited >= WINDOW / 4 - 0.01  # the wait still ends at the slot


def test_keys_are_independent():
    a, b = f"a-{uuid.uuid4().hex}", f"b-{uuid.uuid4().hex}"
    assert _slot_now(a, rate=1) is True
    assert _slot_now(b, rate=1) is True
    assert _slot_now(a, rate=1) is False


def test_redis_limits_are_shared_between_processes():
    """Slots taken by one worker process are gone for another (pair pacing: 3 per minute here)."""
    require_redis("the limiter is in-process")
    import subprocess
    import sys

    key = f"shared-{uuid.uuid4().hex}"
    code = (
        "import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'helpdesk.settings.test'); django.setup();"
        "from whatsapp import limiter;"
        f"pair = limiter.PairLimit(key='{key}', interval=60.0, burst=3);"
        f"taken = [limiter.throughput_reserve(key='n-{key}', rate=1000, max_wait=5.0, pair=pair) for _ in range(5)];"
        "print(sum(1 for r in taken if r.slot))"
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
    assert first.slot
    _move_slot_back(key, first.slot, 0.3)
    # Without the stamp, the next slot would come 0.3 s sooner than half a window from now.
    limiter.throughput_stamp(key=key, slot=first.slot)
    second = limiter.throughput_reserve(key=key, rate=2, max_wait=5.0)
    assert second.slot
    assert WINDOW / 2 - 0.05 < second.wait <= WINDOW / 2 + 1e-6


def test_an_answered_send_moves_its_slot_to_when_the_answer_came():
    """A send that reached Meta late (a busy machine) must not let the slot ``rate`` places after
    it into the same second: its slot moves to when the answer came, before the next reservation."""
    key = f"tp-{uuid.uuid4().hex}"
    first = limiter.throughput_reserve(key=key, rate=2, max_wait=0.0)
    assert first.slot
    _move_slot_back(key, first.slot, 0.3)
    answered = limiter.Answered(slot=first.slot, at=time.monotonic())
    second = limiter.throughput_reserve(key=key, rate=2, max_wait=5.0, answered=answered)
    assert second.slot
    assert WINDOW / 2 - 0.05 < second.wait <= WINDOW / 2 + 1e-6  # half a window after the answer, not 0.3 s sooner


def test_an_answer_is_placed_when_it_came_not_when_the_next_reservation_is_made():
    """A sender that recorded sends or claimed a batch between the answer and its next reservation
    must not push the slots after it back by that time."""
    key = f"tp-{uuid.uuid4().hex}"
    first = limiter.throughput_reserve(key=key, rate=2, max_wait=0.0)
    assert first.slot
    _move_slot_back(key, first.slot, 0.5)
    answered = limiter.Answered(slot=first.slot, at=time.monotonic() - 0.2)  # answered 0.2 s ago
    second = limiter.throughput_reserve(key=key, rate=2, max_wait=5.0, answered=answered)
    assert second.slot
    # Half a window after the answer: 0.2 s sooner than half a window from now.
    assert WINDOW / 2 - 0.2 - 0.05 < second.wait <= WINDOW / 2 - 0.2 + 1e-6


def test_a_stamp_with_the_answer_time_moves_the_slot_there():
    key = f"tp-{uuid.uuid4().hex}"
    first = limiter.throughput_reserve(key=key, rate=2, max_wait=0.0)
    assert first.slot
    _move_slot_back(key, first.slot, 0.5)
    limiter.throughput_stamp(key=key, slot=first.slot, at=time.monotonic() - 0.2)
    second = limiter.throughput_reserve(key=key, rate=2, max_wait=5.0)
    assert second.slot
    assert WINDOW / 2 - 0.2 - 0.05 < second.wait <= WINDOW / 2 - 0.2 + 1e-6


def test_a_send_on_time_keeps_its_slot():
    key = f"tp-{uuid.uuid4().hex}"
    first = limiter.throughput_reserve(key=key, rate=2, max_wait=0.0)
    second = limiter.throughput_reserve(key=key, rate=2, max_wait=5.0)
    assert first.slot and second.slot
    limiter.throughput_stamp(key=key, slot=second.slot)  # its slot is still ahead: nothing moves
    third = limiter.throughput_reserve(key=key, rate=2, max_wait=5.0)
    assert third.slot
    assert WINDOW - 0.05 < third.wait <= WINDOW + 1e-6
