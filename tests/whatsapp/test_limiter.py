"""The throughput and pair limiters, on Redis when REDIS_URL is set, in-process otherwise."""

from __future__ import annotations

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


def test_no_more_than_rate_slots_in_one_second():
    key = f"tp-{uuid.uuid4().hex}"
    taken = [limiter.throughput_try_acquire(key=key, rate=5) for _ in range(8)]
    assert taken[:5] == [0.0] * 5
    assert all(0 < wait <= 1.025 for wait in taken[5:])


def test_a_slot_frees_up_after_the_window():
    key = f"tp-{uuid.uuid4().hex}"
    for _ in range(3):
        assert limiter.throughput_try_acquire(key=key, rate=3) == 0.0
    wait = limiter.throughput_try_acquire(key=key, rate=3)
    assert wait > 0
    deadline = time.monotonic() + 2.0
    while limiter.throughput_try_acquire(key=key, rate=3) != 0.0:
        assert time.monotonic() < deadline, "no slot became free within the window"
        time.sleep(0.01)


def test_pair_limit_allows_a_burst_then_spaces_messages():
    key = f"pair-{uuid.uuid4().hex}"
    assert [limiter.pair_try_acquire(key=key, interval=6.0, burst=3) for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = limiter.pair_try_acquire(key=key, interval=6.0, burst=3)
    assert 5.9 < wait <= 6.0


def test_keys_are_independent():
    a, b = f"a-{uuid.uuid4().hex}", f"b-{uuid.uuid4().hex}"
    assert limiter.throughput_try_acquire(key=a, rate=1) == 0.0
    assert limiter.throughput_try_acquire(key=b, rate=1) == 0.0
    assert limiter.throughput_try_acquire(key=a, rate=1) > 0


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
