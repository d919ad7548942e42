"""The core's jobs that work an inbox's send queue: how they are asked for and how they keep hold of it."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.utils import timezone

from conversations import tasks
from conversations.models import Message
from conversations.services import delivery as sender
from conversations.services import delivery_jobs
from fakes.serving import wait_for
from helpdesk import jobs
from helpdesk.jobs import redis_client
from tests.conversations.factories import make_conversation, make_inbox, make_queued_message
from tests.factories import make_tenant
from tests.prerequisites import require_redis

pytestmark = pytest.mark.django_db


def _stuck(conversation, text: str) -> Message:
    message = make_queued_message(conversation, text)
    Message.objects.filter(pk=message.pk).update(created_at=timezone.now() - timedelta(minutes=5))
    return message


@pytest.fixture
def two_inboxes():
    tenant = make_tenant("Acme", slug="acme")
    first, second = make_inbox(tenant), make_inbox(tenant)
    return make_conversation(first), make_conversation(second)


@pytest.fixture
def asked(monkeypatch):
    calls: list[tuple[int, int]] = []

    def ask(*, message_id: int, inbox_id: int) -> None:
        calls.append((message_id, inbox_id))

    monkeypatch.setattr(delivery_jobs, "send_request", ask)
    return calls


@pytest.fixture
def with_worker(settings):
    require_redis("without a worker every message is sent at once")
    settings.CELERY_TASK_ALWAYS_EAGER = False
    yield
    for key in redis_client().keys("helpdesk:send:*"):
        redis_client().delete(key)


def test_the_sweeper_asks_once_per_inbox_when_a_job_works_each_queue(two_inboxes, asked, with_worker):
    first, second = two_inboxes
    a1, _a2, _a3 = (_stuck(first, f"A{i}") for i in range(3))
    b1 = _stuck(second, "B")

    assert sender.messages_sweep(channel_type="whatsapp")["requeued"] == 4
    assert asked == [(a1.pk, first.inbox_id), (b1.pk, second.inbox_id)]


def test_without_a_worker_the_sweeper_asks_for_every_message(two_inboxes, asked, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    first, second = two_inboxes
    stuck = [_stuck(first, "A1"), _stuck(first, "A2"), _stuck(second, "B")]

    assert sender.messages_sweep(channel_type="whatsapp")["requeued"] == 3
    assert asked == [(m.pk, m.inbox_id) for m in stuck]


def test_parts_report_each_batch_they_send(two_inboxes, monkeypatch, settings):
    settings.DELIVERY_SEND_PARTS = 1
    first, _second = two_inboxes
    sizes = iter([2, 2, 1, 0])
    monkeypatch.setattr(sender, "messages_deliver_batch", lambda **kwargs: ["sent"] * next(sizes))
    batches: list[int] = []

    done = sender.messages_deliver_parts(inbox_id=first.inbox_id, seconds=30, on_batch=lambda: batches.append(1))

    assert (done, len(batches)) == (5, 3)


def test_a_send_job_holds_its_queue_while_it_runs_and_lets_go_when_it_is_empty(
    two_inboxes, monkeypatch, with_worker, settings
):
    """Paced waits inside a job must not let its key expire (a second job would start on the same queue and
    interleave a conversation's messages), yet a killed job's key must not outlive it by a minute."""
    settings.DELIVERY_SEND_PARTS = 1
    monkeypatch.setattr(jobs, "HOLD_TTL", 3)  # renewed every second
    first, _second = two_inboxes
    key = delivery_jobs.send_key(first.inbox_id)
    client = redis_client()
    client.set(key, "1", ex=jobs.DRAIN_KEY_TTL)  # as the request set it, for the job's wait in the broker
    ttls: list[int] = []

    def batch(**kwargs):
        if not ttls:
            client.expire(key, 2)  # the first batch's waits used up most of the key's life
            wait_for(lambda: client.pttl(key) > 2000, timeout=10)  # renewed by the job's own thread meanwhile
            ttls.append(client.pttl(key))
            return ["sent"]
        ttls.append(client.pttl(key))
        return []

    monkeypatch.setattr(sender, "messages_deliver_batch", batch)
    monkeypatch.setattr(sender, "queued", lambda **kwargs: Message.objects.none())

    assert tasks.messages_send_drain(first.inbox_id) == 1
    assert 2000 < ttls[0] <= 3000
    assert 0 < ttls[1] <= 3000  # held for HOLD_TTL at a time, not DRAIN_KEY_TTL
    assert client.exists(key) == 0  # let go once the queue was empty


def test_a_held_key_is_renewed_by_its_thread_and_expires_once_nothing_renews_it(with_worker):
    client = redis_client()
    key = "helpdesk:test:hold"
    client.set(key, "1", ex=60)
    with jobs.held(key, client=client, ttl=3):
        assert 0 < client.pttl(key) <= 3000
        client.expire(key, 2)
        wait_for(lambda: client.pttl(key) > 2000, timeout=10)  # renewed while the block runs
        holders = [t for t in threading.enumerate() if t.name == f"hold {key}"]
        assert len(holders) == 1
    holders[0].join(timeout=5)
    assert not holders[0].is_alive()
    # Nothing renews it now (as after the worker's death): it is gone within its time to live.
    wait_for(lambda: not client.exists(key), timeout=5)


@pytest.fixture
def enqueued(monkeypatch):
    jobs: list[tuple] = []
    monkeypatch.setattr(tasks.message_deliver_ahead, "delay", lambda *args: jobs.append(("ahead", *args)))
    monkeypatch.setattr(tasks.messages_send_drain, "delay", lambda *args: jobs.append(("queue", *args)))
    monkeypatch.setattr(tasks.message_deliver, "delay", lambda *args: jobs.append(("deliver", *args)))
    return jobs


def test_an_agents_reply_goes_ahead_of_the_inbox_queue_and_an_integrators_message_joins_it(
    two_inboxes, enqueued, with_worker
):
    first, _second = two_inboxes
    reply = make_queued_message(first, "Já verifiquei seu pedido", sender_type=Message.SenderType.AGENT)
    greeting = make_queued_message(first, "Olá! Já vamos atender", sender_type=Message.SenderType.BOT)
    broadcast = make_queued_message(first, "Promoção")

    for message in (reply, greeting, broadcast):
        assert delivery_jobs.delivery_enqueue(message) is True

    assert enqueued == [("ahead", reply.pk), ("ahead", greeting.pk), ("queue", first.inbox_id)]


def test_without_a_worker_a_reply_is_sent_at_once(two_inboxes, enqueued, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    first, _second = two_inboxes
    reply = make_queued_message(first, "Oi", sender_type=Message.SenderType.AGENT)
    delivery_jobs.delivery_enqueue(reply)
    assert enqueued == [("deliver", reply.pk)]


def test_a_reply_ahead_is_delivered_when_its_conversation_has_nothing_waiting(two_inboxes, monkeypatch):
    first, second = two_inboxes
    make_queued_message(second, "Promoção para outra pessoa")  # another conversation's wait
    sent = make_queued_message(first, "Antes", sender_type=Message.SenderType.AGENT)
    Message.objects.filter(pk=sent.pk).update(status=Message.Status.SENT)
    reply = make_queued_message(first, "Seu pedido saiu", sender_type=Message.SenderType.AGENT)
    delivered: list[int] = []
    monkeypatch.setattr(sender, "message_deliver", lambda *, message_id: delivered.append(message_id) or "sent")

    assert sender.message_deliver_ahead(message_id=reply.pk) == "sent"
    assert delivered == [reply.pk]


@pytest.mark.parametrize("earlier_status", [Message.Status.QUEUED, Message.Status.SENDING])
def test_a_reply_ahead_waits_behind_its_own_conversations_earlier_messages(
    two_inboxes, monkeypatch, asked, earlier_status
):
    first, _second = two_inboxes
    earlier = make_queued_message(first, "Promoção")
    Message.objects.filter(pk=earlier.pk).update(status=earlier_status)
    reply = make_queued_message(first, "Sobre a promoção…", sender_type=Message.SenderType.AGENT)
    delivered: list[int] = []
    monkeypatch.setattr(sender, "message_deliver", lambda *, message_id: delivered.append(message_id) or "sent")

    assert sender.message_deliver_ahead(message_id=reply.pk) == "behind-earlier"
    assert delivered == []
    assert asked == [(reply.pk, first.inbox_id)]  # the queue sends it, after the earlier one
    reply.refresh_from_db()
    assert (reply.status, reply.send_attempts) == ("queued", 0)


def test_replies_customers_wait_for_have_a_queue_every_worker_takes_along_with_the_default():
    from helpdesk.celery import app

    route = app.amqp.router.route({}, "conversations.tasks.message_deliver_ahead")
    assert route["queue"].name == "replies"
    assert app.amqp.router.route({}, "conversations.tasks.messages_send_drain")["queue"].name == "celery"
    # A worker started without -Q consumes every declared queue: both.
    assert sorted(queue.name for queue in app.conf.task_queues) == ["celery", "replies"]
