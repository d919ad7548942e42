"""A worker killed with SIGKILL mid-delivery of a domain event (a delivery's job, or a subscriber's
drain job): the subscriber's effect happens once.

Real processes: a Celery worker on Redis and PostgreSQL. The delivery's first run writes its effect
and hangs; the worker is killed there, a new one started, the delivery handed out again (as the
sweeper does) and the broker's own redelivery of the killed job arrives too.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
import redis
from celery import Celery
from django.utils import timezone

from conversations.events import MessageReceived
from conversations.events.outbox import drain_key
from conversations.models import EventDelivery, Label, OutboxEvent
from tests.e2e.conftest import skip_or_fail
from tests.e2e.event_subscriber import SUBSCRIBER
from tests.e2e.harness import ServerProcess, celery_worker
from tests.factories import make_tenant
from whatsapp.fake import wait_for

pytestmark = pytest.mark.e2e


@pytest.fixture
def worker_env(server_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    from django.db import connection

    url = os.environ.get("REDIS_URL")
    if connection.vendor != "postgresql" or not url:
        skip_or_fail("The event crash test needs PostgreSQL (DATABASE_URL) and Redis (REDIS_URL).")
    redis.Redis.from_url(url).flushdb()
    env = dict(server_env)
    env.update(
        {
            "REDIS_URL": url,
            "CELERY_BROKER_URL": url,
            "CELERY_TASK_ALWAYS_EAGER": "false",
            "CELERY_VISIBILITY_TIMEOUT": "5",
            "EVENTS_CRASH_MARKER": str(tmp_path / "first-delivery-started"),
        }
    )
    return env


@pytest.fixture
def workers():
    started: list[ServerProcess] = []
    yield started
    for worker in started:
        worker.stop()


def _worker(workers: list[ServerProcess], env: dict[str, str], name: str, log_dir: Path) -> ServerProcess:
    worker = celery_worker(
        name, app="tests.e2e.event_subscriber_app", options=["--pool=solo"], env=env, log_dir=log_dir
    )
    workers.append(worker)
    return worker.start()


def _others_in_transaction() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND state LIKE 'idle in transaction%' AND pid <> pg_backend_pid()"
        )
        return int(cursor.fetchone()[0])


def test_a_worker_killed_mid_delivery_leaves_the_effect_once(worker_env, workers, tmp_path):
    log_dir = tmp_path / "logs"
    log_dir.mkdir()
    tenant = make_tenant("Acme", slug="acme")
    event = MessageReceived(
        tenant_id=tenant.pk, message_id=41, conversation_id=1, inbox_id=1, contact_id=1, message_type="text"
    )
    row = OutboxEvent.objects.create(
        id=event.event_id, tenant=tenant, event_type=event.name, payload=event.to_payload(), occurred_at=timezone.now()
    )
    delivery = EventDelivery.objects.create(tenant=tenant, event=row, subscriber=SUBSCRIBER)
    broker = Celery(broker=worker_env["CELERY_BROKER_URL"], set_as_current=False)

    first = _worker(workers, worker_env, "worker-1", log_dir)
    broker.send_task("conversations.tasks.event_deliver", args=[delivery.pk])
    marker = Path(worker_env["EVENTS_CRASH_MARKER"])
    wait_for(marker.exists, timeout=60)
    os.kill(int(marker.read_text()), signal.SIGKILL)  # mid-delivery: the effect written, not committed
    wait_for(lambda: not first.running, timeout=30)
    assert not Label.objects.filter(tenant=tenant).exists()
    assert EventDelivery.objects.get(pk=delivery.pk).state == "pending"

    # PostgreSQL rolls back the dead worker's transaction once it sees the connection closed.
    wait_for(lambda: not _others_in_transaction(), timeout=30)
    _worker(workers, worker_env, "worker-2", log_dir)
    broker.send_task("conversations.tasks.event_deliver", args=[delivery.pk])  # as the sweeper does
    wait_for(lambda: EventDelivery.objects.get(pk=delivery.pk).state == "done", timeout=60)
    # The broker hands the killed job out again after its visibility timeout: it finds the delivery done.
    broker.send_task("conversations.tasks.event_deliver", args=[delivery.pk])
    log = log_dir / "worker-2.log"
    wait_for(lambda: log.read_text(errors="replace").count("'skipped'") >= 1, timeout=60)
    assert list(Label.objects.filter(tenant=tenant).values_list("name", flat=True)) == ["effect 41"]
    finished = EventDelivery.objects.get(pk=delivery.pk)
    assert (finished.state, finished.attempts, finished.last_error) == ("done", 1, "")
    broker.close()


def test_a_worker_killed_mid_drain_leaves_each_effect_once_when_the_broker_hands_the_drain_out_again(
    worker_env, workers, tmp_path
):
    log_dir = tmp_path / "logs"
    log_dir.mkdir()
    tenant = make_tenant("Acme", slug="acme")
    ids = []
    for message_id in (51, 52, 53):
        event = MessageReceived(
            tenant_id=tenant.pk, message_id=message_id, conversation_id=1, inbox_id=1, contact_id=1, message_type="text"
        )
        row = OutboxEvent.objects.create(
            id=event.event_id,
            tenant=tenant,
            event_type=event.name,
            payload=event.to_payload(),
            occurred_at=timezone.now(),
        )
        ids.append(EventDelivery.objects.create(tenant=tenant, event=row, subscriber=SUBSCRIBER).pk)
    deliveries = EventDelivery.objects.filter(pk__in=ids).order_by("pk")
    broker = Celery(broker=worker_env["CELERY_BROKER_URL"], set_as_current=False)

    first = _worker(workers, worker_env, "worker-1", log_dir)
    # As a commit does: the subscriber's key taken, one drain job for all its due deliveries.
    client = redis.Redis.from_url(worker_env["REDIS_URL"])
    assert client.set(drain_key(SUBSCRIBER), "1", nx=True, ex=60)
    broker.send_task("conversations.tasks.event_subscriber_drain", args=[SUBSCRIBER])
    marker = Path(worker_env["EVENTS_CRASH_MARKER"])
    wait_for(marker.exists, timeout=60)
    os.kill(int(marker.read_text()), signal.SIGKILL)  # mid-batch: the first effect written, not committed
    wait_for(lambda: not first.running, timeout=30)
    assert not Label.objects.filter(tenant=tenant).exists()
    assert list(deliveries.values_list("state", flat=True)) == ["pending"] * 3
    assert client.get(drain_key(SUBSCRIBER)) == b"1"  # still held: no other job is asked for meanwhile

    wait_for(lambda: not _others_in_transaction(), timeout=30)
    _worker(workers, worker_env, "worker-2", log_dir)
    # The killed drain handed out again (the broker's redelivery, acks late), holding the same key.
    broker.send_task("conversations.tasks.event_subscriber_drain", args=[SUBSCRIBER])
    wait_for(lambda: list(deliveries.values_list("state", flat=True)) == ["done"] * 3, timeout=60)
    wait_for(lambda: client.get(drain_key(SUBSCRIBER)) is None, timeout=30)  # let go once the work ran out
    assert sorted(Label.objects.filter(tenant=tenant).values_list("name", flat=True)) == [
        "effect 51",
        "effect 52",
        "effect 53",
    ]
    assert [(d.state, d.attempts, d.last_error) for d in deliveries] == [("done", 1, "")] * 3
    broker.close()
