"""Redis restarted between the commit of a fact and the delivery of its event: the subscriber's effect
happens exactly once after Redis is back.

Real processes: a redis-server this test starts itself on a free port (no persistence, so a restart
loses its queue), a Celery worker on it, PostgreSQL. The fact is committed by the real service in
this process; its delivery job goes to that Redis. First the job is lost by a restart; then Redis is
down at commit time; after Redis is back the beat sweeper's pass hands both over, and the broker
handing them out again does nothing.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from celery import Celery

from conversations import events
from conversations.events import outbox
from conversations.events.delivery import event_deliveries_sweep
from conversations.models import EventDelivery, Label
from conversations.services.inbound import InboundSpec, message_receive
from tests.conversations.factories import make_inbox
from tests.e2e.conftest import skip_or_fail
from tests.e2e.event_subscriber import SUBSCRIBER, label_the_message
from tests.e2e.harness import RedisServer, ServerProcess, celery_worker
from tests.factories import make_tenant
from whatsapp.fake import wait_for

pytestmark = pytest.mark.e2e


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        skip_or_fail("The Redis restart test starts its own redis-server (Debian package redis-server).")
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def broker(redis_server: RedisServer, monkeypatch) -> Iterator[Celery]:
    """This process's delivery jobs go to the test's Redis (the test settings would run them in-process)."""
    app = Celery(broker=redis_server.url, set_as_current=False)

    class ToTheTestsRedis:
        def delay(self, delivery_ids: list[int]) -> None:
            app.send_task("conversations.tasks.event_deliveries_deliver", args=[delivery_ids])

    monkeypatch.setattr(outbox, "deliver_many_task", ToTheTestsRedis)
    yield app
    app.close()


@pytest.fixture
def labeller() -> Iterator[None]:
    """The test's subscriber is the only one of any event (the product's own, such as the greeting on a
    message or auto-assignment on a new conversation, would add their deliveries to the queue this test
    counts)."""
    from conversations.events.registry import handler_for, subscriber_names
    from conversations.events.types import EVENT_TYPES

    others = {
        (event_type, other): handler_for(name, other)
        for name, event_type in EVENT_TYPES.items()
        for other in subscriber_names(name)
    }
    for event_type, other in others:
        events.unsubscribe(event_type, name=other)
    events.subscribe(events.MessageReceived, label_the_message, name=SUBSCRIBER)
    yield
    events.unsubscribe(events.MessageReceived, name=SUBSCRIBER)
    for (event_type, other), handler in others.items():
        if handler is not None:
            events.subscribe(event_type, handler, name=other)


def outcomes(worker: ServerProcess) -> list[str]:
    """What the worker's delivery jobs returned, in order (Celery logs each task's result)."""
    log = worker.log_path.read_text(errors="replace")
    return re.findall(r"conversations\.tasks\.event_deliveries_deliver\[[^\]]+\] succeeded in [\d.e-]+s: (.*)", log)


def test_redis_restarted_between_commit_and_delivery_leaves_each_effect_once(
    server_env, redis_server, broker, labeller, tmp_path, caplog
):
    from django.db import connection

    if connection.vendor != "postgresql":
        skip_or_fail("The Redis restart test needs PostgreSQL (DATABASE_URL).")
    tenant = make_tenant("Acme", slug="acme")
    inbox = make_inbox(tenant)

    def receive(wamid: str) -> int:
        spec = InboundSpec(
            source_id="5511911110001", external_id=wamid, occurred_at=datetime.now(UTC), type="text", text="Oi"
        )
        message, created = message_receive(inbox=inbox, spec=spec)  # commits (transactional_db), then enqueues
        assert created
        return message.pk

    # 1. Committed and handed to Redis; Redis restarts before any worker took the job: the job is gone.
    first = receive("wamid.1")
    assert redis_server.queued() == 1
    redis_server.stop()
    redis_server.start()
    assert redis_server.queued() == 0

    env = dict(server_env)
    env.update(
        {"REDIS_URL": redis_server.url, "CELERY_BROKER_URL": redis_server.url, "CELERY_TASK_ALWAYS_EAGER": "false"}
    )
    worker = celery_worker(
        "worker", app="tests.e2e.event_subscriber_app", options=["--pool=solo"], env=env, log_dir=tmp_path
    )
    worker.start()
    try:
        # 2. Redis is down at commit time: the service answers normally, the delivery waits.
        redis_server.stop()
        second = receive("wamid.2")
        assert "Event deliveries not enqueued (1 left for the sweeper)" in caplog.text
        assert not Label.objects.filter(tenant=tenant).exists()
        deliveries = list(EventDelivery.objects.filter(tenant=tenant).order_by("pk"))
        assert [d.state for d in deliveries] == ["pending", "pending"]
        ids = [d.pk for d in deliveries]

        # 3. Redis is back: the sweeper's pass (once the deliveries are overdue) hands both over once.
        redis_server.start()
        overdue = max(d.due_at for d in deliveries) + timedelta(minutes=6)
        assert event_deliveries_sweep(now=overdue) == 2
        states = EventDelivery.objects.filter(pk__in=ids).values_list("state", flat=True)
        wait_for(lambda: sorted(states.all()) == ["done", "done"], timeout=60)
        assert outcomes(worker) == [str(dict.fromkeys(ids, "done"))]
        # The broker handing the same job out again (acks late) finds both done.
        broker.send_task("conversations.tasks.event_deliveries_deliver", args=[ids])
        wait_for(lambda: len(outcomes(worker)) == 2, timeout=60)
        assert outcomes(worker)[1] == "{}"  # nothing left to deliver: skipped
        assert event_deliveries_sweep(now=overdue + timedelta(hours=1)) == 0
    finally:
        worker.stop()
    assert sorted(Label.objects.filter(tenant=tenant).values_list("name", flat=True)) == [
        f"effect {first}",
        f"effect {second}",
    ]
    finished = EventDelivery.objects.filter(tenant=tenant).order_by("pk")
    assert [(d.state, d.attempts, d.last_error) for d in finished] == [("done", 1, ""), ("done", 1, "")]
