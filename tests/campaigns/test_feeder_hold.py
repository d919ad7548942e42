"""A broadcast's feeding job and its key (with a worker and Redis): one job at a time holds it, the job hands
over with the key let go, and the sweeper feeds again a broadcast that no job holds (its worker was killed, or
Redis restarted and lost the queued jobs) without waiting for the stall time."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns import sending
from campaigns.models import Broadcast
from helpdesk import jobs as jobs_module
from helpdesk.jobs import redis_client
from tests.campaigns.sending_fixtures import MetaRecorder, install, make_broadcast, make_contacts, make_number
from tests.campaigns.test_sending import _start
from tests.prerequisites import require_redis

pytestmark = pytest.mark.django_db

Status = Broadcast.Status


@pytest.fixture
def jobs(monkeypatch) -> list[tuple[str, int]]:
    asked: list[tuple[str, int]] = []
    monkeypatch.setattr(sending, "_enqueue", lambda name, pk: asked.append((name, pk)))
    return asked


@pytest.fixture
def with_worker(settings, monkeypatch):
    require_redis("the feeder's key lives in Redis")
    settings.CELERY_TASK_ALWAYS_EAGER = False
    monkeypatch.setattr(sending, "HOLD_TTL", 3)
    monkeypatch.setattr(jobs_module, "HOLD_TTL", 3)
    settings.CAMPAIGNS_STALL_SECONDS = 30
    yield
    for key in redis_client().keys("helpdesk:broadcast-feed:*"):
        redis_client().delete(key)


@pytest.fixture
def sending_broadcast(tenant, jobs, django_capture_on_commit_callbacks) -> Broadcast:
    install(MetaRecorder())
    make_contacts(tenant, 2)
    return _start(make_broadcast(tenant, make_number(tenant)), django_capture_on_commit_callbacks, jobs)


def _quiet_for(broadcast: Broadcast, seconds: float) -> None:
    Broadcast.objects.filter(pk=broadcast.pk).update(updated_at=timezone.now() - timedelta(seconds=seconds))


def test_a_broadcast_no_job_holds_is_fed_again_once_quiet_for_the_hold_time(with_worker, sending_broadcast, jobs):
    _quiet_for(sending_broadcast, 2)
    assert sending.broadcasts_sweep()["refed"] == 0  # quiet for less than the hold: its job may be starting
    _quiet_for(sending_broadcast, 4)
    assert sending.broadcasts_sweep()["refed"] == 1
    assert jobs == [("broadcast_feed", sending_broadcast.pk)]


def test_a_broadcast_whose_job_holds_its_key_is_left_alone_until_the_stall_time(with_worker, sending_broadcast, jobs):
    redis_client().set(sending._feed_key(sending_broadcast.pk), "1", ex=60)
    _quiet_for(sending_broadcast, 20)
    assert sending.broadcasts_sweep()["refed"] == 0
    assert jobs == []
    _quiet_for(sending_broadcast, 31)  # a job that holds its key but makes no progress: fed again all the same
    assert sending.broadcasts_sweep()["refed"] == 1


def test_a_second_job_finds_the_key_taken_and_the_first_lets_go_when_it_ends(
    with_worker, sending_broadcast, jobs, monkeypatch, django_capture_on_commit_callbacks
):
    key = sending._feed_key(sending_broadcast.pk)
    redis_client().set(key, "1", ex=60)
    assert sending.broadcast_feed(broadcast_id=sending_broadcast.pk) == "busy"
    redis_client().delete(key)
    seen: list[int] = []
    real = sending.broadcast_feed_batch

    def batch(**kwargs):
        seen.append(redis_client().pttl(key))  # held, with the hold's time to live
        return real(**kwargs)

    monkeypatch.setattr(sending, "broadcast_feed_batch", batch)
    with django_capture_on_commit_callbacks(execute=True):
        # Its messages wait in the send queue (delivered after the commit): the job ends on "draining".
        assert sending.broadcast_feed(broadcast_id=sending_broadcast.pk, seconds=30) == "draining"
    assert seen and all(0 < ttl <= 3000 for ttl in seen)
    assert redis_client().exists(key) == 0


def test_a_job_whose_time_is_up_asks_for_the_next_once_and_lets_go_of_its_key(
    with_worker, sending_broadcast, monkeypatch
):
    key = sending._feed_key(sending_broadcast.pk)
    asked: list[tuple[int, str, bool]] = []

    class Task:
        def delay(self, broadcast_id: int, after: str = "") -> None:
            asked.append((broadcast_id, after, bool(redis_client().exists(key))))

    monkeypatch.setattr(sending, "_task", lambda name: Task())
    assert sending.broadcast_feed(broadcast_id=sending_broadcast.pk, seconds=-1) == "handed-over"
    # Asked for, with a token of its own, while this one still fed; it takes the key when it runs.
    assert [(pk, len(token), holding) for pk, token, holding in asked] == [(sending_broadcast.pk, 32, True)]
    assert redis_client().exists(key) == 0


def test_the_next_job_says_it_runs_and_the_one_feeding_lets_go_to_it(with_worker, sending_broadcast, monkeypatch):
    key, ask = sending._feed_key(sending_broadcast.pk), sending._next_key(sending_broadcast.pk)
    asked: list[str] = []

    class Task:
        def delay(self, broadcast_id: int, after: str = "") -> None:
            asked.append(after)
            # The next job starts at once, while this one feeds: the key is held, and it says it waits for it.
            assert sending._key_wait(redis_client(), broadcast_id, after, timeout=0) is False
            redis_client().set(ask, after, ex=3)

    monkeypatch.setattr(sending, "_task", lambda name: Task())
    # The send queue stays full: the job would wait for it to drain, asking for the next one a third of its
    # time before the end (0.1 s in).
    monkeypatch.setattr(sending, "broadcast_feed_batch", lambda **kwargs: sending.Fed("full"))

    assert sending.broadcast_feed(broadcast_id=sending_broadcast.pk, seconds=0.3) == "succeeded"
    assert len(asked) == 1
    assert (redis_client().exists(key), redis_client().get(ask)) == (0, asked[0].encode())
    # The next job now takes the key at once, and no longer says it waits.
    assert sending._key_wait(redis_client(), sending_broadcast.pk, asked[0], timeout=0) is True
    assert (redis_client().exists(key), redis_client().exists(ask)) == (1, 0)


def test_a_job_lets_go_to_no_job_but_the_one_it_asked_for(with_worker, sending_broadcast, monkeypatch, settings):
    ask = sending._next_key(sending_broadcast.pk)
    asked: list[str] = []
    monkeypatch.setattr(
        sending, "_task", lambda name: type("Task", (), {"delay": lambda self, pk, after="": asked.append(after)})()
    )
    monkeypatch.setattr(sending, "broadcast_feed_batch", lambda **kwargs: sending.Fed("full"))
    settings.CAMPAIGNS_FEED_MAX_SECONDS = 0.45
    redis_client().set(ask, "an-earlier-token", ex=60)

    # It asks for the next job 0.2 s in and feeds until it has fed for the longest a job may (0.45 s), then
    # lets go: the job waiting is not the one it asked for.
    assert sending.broadcast_feed(broadcast_id=sending_broadcast.pk, seconds=0.3) == "handed-over"
    assert len(asked) == 1
    assert redis_client().get(ask) == b"an-earlier-token"


def test_a_next_job_long_in_coming_is_asked_for_again_and_either_is_let_in(
    with_worker, sending_broadcast, monkeypatch, settings
):
    ask = sending._next_key(sending_broadcast.pk)
    asked: list[str] = []

    def delay(self, pk: int, after: str = "") -> None:
        asked.append(after)
        if len(asked) == 2:  # the first was lost (a Redis restart); the second runs and waits
            redis_client().set(ask, after, ex=3)

    monkeypatch.setattr(sending, "_task", lambda name: type("Task", (), {"delay": delay})())
    monkeypatch.setattr(sending, "broadcast_feed_batch", lambda **kwargs: sending.Fed("full"))
    settings.CAMPAIGNS_FEED_MAX_SECONDS = 10

    # Asked for 0.2 s in, and again 0.3 s later.
    assert sending.broadcast_feed(broadcast_id=sending_broadcast.pk, seconds=0.3) == "succeeded"
    assert len(asked) == 2 and asked[0] != asked[1]


def test_a_next_job_that_waits_in_vain_gives_up_without_the_key(with_worker, sending_broadcast):
    key, ask = sending._feed_key(sending_broadcast.pk), sending._next_key(sending_broadcast.pk)
    redis_client().set(key, "1", ex=60)  # a job holds it and does not let go

    assert sending.broadcast_feed(broadcast_id=sending_broadcast.pk, seconds=0.2, after="a-token") == "busy"
    assert (redis_client().ttl(key) > 3, redis_client().exists(ask)) == (True, 0)
