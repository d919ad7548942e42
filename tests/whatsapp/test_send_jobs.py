"""The jobs that work an inbox's send queue: how they are asked for and how they keep hold of it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from conversations.models import Message
from tests.conversations.factories import make_conversation, make_inbox
from tests.factories import make_tenant
from whatsapp import sender, tasks

pytestmark = pytest.mark.django_db


def _stuck(conversation, text: str) -> Message:
    message = Message.objects.create(
        tenant_id=conversation.tenant_id,
        conversation=conversation,
        inbox_id=conversation.inbox_id,
        direction=Message.Direction.OUTBOUND,
        sender_type=Message.SenderType.API,
        text=text,
        status=Message.Status.QUEUED,
    )
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
    monkeypatch.setattr(tasks, "send_request", lambda *, message_id, inbox_id: calls.append((message_id, inbox_id)))
    return calls


@pytest.fixture
def with_worker(settings):
    if not django_settings.REDIS_URL:
        pytest.skip("REDIS_URL is not set: without a worker every message is sent at once")
    settings.CELERY_TASK_ALWAYS_EAGER = False
    yield
    for key in tasks._redis().keys("helpdesk:wa:send:*"):
        tasks._redis().delete(key)


def test_the_sweeper_asks_once_per_inbox_when_a_job_works_each_queue(two_inboxes, asked, with_worker):
    first, second = two_inboxes
    a1, _a2, _a3 = (_stuck(first, f"A{i}") for i in range(3))
    b1 = _stuck(second, "B")

    assert sender.messages_sweep()["requeued"] == 4
    assert asked == [(a1.pk, first.inbox_id), (b1.pk, second.inbox_id)]


def test_without_a_worker_the_sweeper_asks_for_every_message(two_inboxes, asked, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    first, second = two_inboxes
    stuck = [_stuck(first, "A1"), _stuck(first, "A2"), _stuck(second, "B")]

    assert sender.messages_sweep()["requeued"] == 3
    assert asked == [(m.pk, m.inbox_id) for m in stuck]


def test_parts_report_each_batch_they_send(two_inboxes, monkeypatch, settings):
    settings.WHATSAPP_SEND_PARTS = 1
    first, _second = two_inboxes
    sizes = iter([2, 2, 1, 0])
    monkeypatch.setattr(sender, "messages_deliver_batch", lambda **kwargs: ["sent"] * next(sizes))
    batches: list[int] = []

    done = sender.messages_deliver_parts(inbox_id=first.inbox_id, seconds=30, on_batch=lambda: batches.append(1))

    assert (done, len(batches)) == (5, 3)


def test_a_send_job_renews_its_hold_on_the_queue_after_each_batch(two_inboxes, monkeypatch, with_worker, settings):
    """Paced waits inside a job must not let its key expire: a second job would start on the same
    queue and interleave a conversation's messages."""
    settings.WHATSAPP_SEND_PARTS = 1
    first, _second = two_inboxes
    key = tasks._send_key(first.inbox_id)
    client = tasks._redis()
    client.set(key, "1", ex=60)
    ttls: list[int] = []

    def batch(**kwargs):
        if not ttls:
            client.expire(key, 2)  # the first batch's waits used up most of the key's life
            ttls.append(client.ttl(key))
            return ["sent"]
        ttls.append(client.ttl(key))
        return []

    monkeypatch.setattr(sender, "messages_deliver_batch", batch)
    monkeypatch.setattr(sender, "queued", lambda **kwargs: Message.objects.none())

    assert tasks.messages_send_drain(first.inbox_id) == 1
    assert ttls[0] == 2
    assert ttls[1] > 50  # renewed after the first batch, before the next claim
    assert client.exists(key) == 0  # let go once the queue was empty
