"""The core's send queue works for any channel: a second channel defined in the tests sends through it,
each channel type's sweep takes only its own inboxes' messages, a send's outcome is recorded with its
event, and a broker outage never reaches the person or integration that sent."""

from __future__ import annotations

import ast
import logging
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from django.test import Client
from django.utils import timezone
from kombu.exceptions import OperationalError

from conversations import tasks
from conversations.channels import Accepted, Paced, PermanentFailure, TransientFailure
from conversations.models import Conversation, Inbox, Message, OutboxEvent
from conversations.services import delivery, delivery_jobs
from helpdesk.jobs import redis_client
from tenants.permissions import Perm
from tenants.services import api_token_create
from tests.conversations.channel_double import CHANNEL_TYPE, ChannelDouble, registered
from tests.conversations.factories import make_conversation, make_inbox, make_queued_message, make_role
from tests.factories import owner_of
from tests.prerequisites import require_redis

pytestmark = pytest.mark.django_db

API = "/api/v1/t/acme"


@pytest.fixture
def test_channel() -> Iterator[ChannelDouble]:
    with registered() as channel:
        yield channel


@pytest.fixture
def conversation(tenant, test_channel) -> Conversation:
    inbox = Inbox.objects.create(tenant=tenant, name="Test channel", channel_type=CHANNEL_TYPE)
    return make_conversation(inbox)


@pytest.fixture
def api(tenant) -> Client:
    role = make_role(tenant, [Perm.VIEW_ALL_CONVERSATIONS, Perm.REPLY])
    _token, raw = api_token_create(actor=owner_of(tenant), name="CRM", role=role)
    return Client(HTTP_AUTHORIZATION=f"Bearer {raw}")


def _send(api: Client, conversation: Conversation, text: str):
    return api.post(
        f"{API}/conversations/{conversation.display_id}/messages/",
        {"type": "text", "text": text},
        content_type="application/json",
    )


def _status_events(message: Message) -> list[tuple[str, str, int | None]]:
    rows = OutboxEvent.objects.filter(event_type="message.status_changed").order_by("occurred_at")
    return [
        (row.payload["previous_status"], row.payload["status"], row.payload["error_code"])
        for row in rows
        if row.payload["message_id"] == message.pk
    ]


def _stuck(conversation: Conversation, text: str) -> Message:
    message = make_queued_message(conversation, text)
    Message.objects.filter(pk=message.pk).update(created_at=timezone.now() - timedelta(minutes=5))
    return message


def test_the_channel_double_imports_no_channel_app():
    tree = ast.parse((Path(__file__).parent / "channel_double.py").read_text())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert not [name for name in imported if name.split(".")[0] == "whatsapp"]


def test_a_message_sent_through_the_api_is_sent_by_the_core_queue_and_recorded_with_its_event(
    api, conversation, test_channel, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = _send(api, conversation, "Olá pelo canal de teste")

    assert response.status_code == 201
    message = Message.objects.get(pk=response.json()["id"])
    assert [(s.message_id, s.to, s.text) for s in test_channel.sent] == [
        (message.pk, conversation.contact_inbox.source_id, "Olá pelo canal de teste")
    ]
    assert (message.status, message.external_id, message.send_attempts, message.error_title) == (
        "sent",
        "test-1",
        1,
        "",
    )
    assert message.sent_at is not None
    assert _status_events(message) == [("sending", "sent", None)]
    assert test_channel.sessions_closed == 1


def test_a_permanent_failure_is_recorded_once_with_its_failed_event(conversation, test_channel):
    test_channel.answers.append(PermanentFailure(code=470, title="Rejected by the channel", details="bad address"))
    message = make_queued_message(conversation, "Não vai")

    assert delivery.message_deliver(message_id=message.pk) == "failed"
    assert delivery.message_deliver(message_id=message.pk) == "not-claimed"

    message.refresh_from_db()
    assert (message.status, message.error_code, message.error_title, message.error_details) == (
        "failed",
        470,
        "Rejected by the channel",
        "bad address",
    )
    assert message.failed_at is not None
    assert len(test_channel.sent) == 1
    assert _status_events(message) == [("sending", "failed", 470)]


def test_a_transient_failure_is_requeued_with_backoff_and_records_no_event(conversation, test_channel):
    test_channel.answers.append(TransientFailure(code=503, title="Channel busy", retry_after=30.0))
    message = make_queued_message(conversation, "Tenta de novo")
    before = timezone.now()

    assert delivery.message_deliver(message_id=message.pk) == "retry"

    message.refresh_from_db()
    assert (message.status, message.send_attempts, message.error_title) == ("queued", 1, "Channel busy")
    assert message.next_attempt_at >= before + timedelta(seconds=30)
    assert _status_events(message) == []
    # Not due yet: nothing claims it before its time.
    assert delivery.message_deliver(message_id=message.pk) == "not-claimed"
    assert len(test_channel.sent) == 1


def test_the_last_transient_failure_fails_the_message_for_good(conversation, test_channel, settings):
    settings.DELIVERY_MAX_SEND_ATTEMPTS = 1
    test_channel.answers.append(TransientFailure(code=503, title="Channel busy"))
    message = make_queued_message(conversation, "Última tentativa")

    assert delivery.message_deliver(message_id=message.pk) == "failed-transient"

    message.refresh_from_db()
    assert (message.status, message.error_code, message.send_attempts) == ("failed", 503, 1)
    assert _status_events(message) == [("sending", "failed", 503)]


def test_a_paced_send_is_requeued_without_spending_an_attempt_on_failure(conversation, test_channel):
    test_channel.answers.append(Paced(after=7.0, reason="pair", note="Paced: many messages to this customer"))
    message = make_queued_message(conversation, "Devagar")

    assert delivery.message_deliver(message_id=message.pk) == "paced-pair"

    message.refresh_from_db()
    assert (message.status, message.error_title) == ("queued", "Paced: many messages to this customer")
    assert _status_events(message) == []


def test_a_batch_of_the_test_channel_is_sent_in_order_by_one_session(conversation, test_channel):
    queued = [make_queued_message(conversation, f"Lote {i}") for i in range(3)]

    outcomes = delivery.messages_deliver_batch(inbox_id=conversation.inbox_id, part=0, parts=1, limit=10)

    assert outcomes == ["sent", "sent", "sent"]
    assert [s.text for s in test_channel.sent] == ["Lote 0", "Lote 1", "Lote 2"]
    assert test_channel.sessions_closed == 1
    for message, external_id in zip(queued, ["test-1", "test-2", "test-3"], strict=True):
        message.refresh_from_db()
        assert (message.status, message.external_id) == ("sent", external_id)
        assert _status_events(message) == [("sending", "sent", None)]


# --- the sweep, per channel type ----------------------------------------------------------------------


@pytest.fixture
def asked(monkeypatch) -> list[tuple[int, int]]:
    calls: list[tuple[int, int]] = []
    monkeypatch.setattr(
        delivery_jobs, "send_request", lambda *, message_id, inbox_id: calls.append((message_id, inbox_id))
    )
    return calls


@pytest.fixture
def whatsapp_conversation(tenant) -> Conversation:
    return make_conversation(make_inbox(tenant))  # the factories' inboxes are WhatsApp's


def test_each_channel_types_sweep_hands_over_only_its_own_stuck_messages(conversation, whatsapp_conversation, asked):
    mine = _stuck(conversation, "Do canal de teste")
    theirs = _stuck(whatsapp_conversation, "Do WhatsApp")

    assert delivery.messages_sweep(channel_type="whatsapp") == {"requeued": 1, "confirmed": 0, "retried": 0}
    assert asked == [(theirs.pk, whatsapp_conversation.inbox_id)]

    asked.clear()
    assert delivery.messages_sweep(channel_type=CHANNEL_TYPE) == {"requeued": 1, "confirmed": 0, "retried": 0}
    assert asked == [(mine.pk, conversation.inbox_id)]


def test_each_channel_types_sweep_settles_only_its_own_expired_sends(conversation, whatsapp_conversation, asked):
    mine = make_queued_message(conversation, "Do canal de teste")
    theirs = make_queued_message(whatsapp_conversation, "Do WhatsApp")
    expired = {"status": Message.Status.SENDING, "next_attempt_at": timezone.now() - timedelta(seconds=1)}
    Message.objects.filter(pk__in=[mine.pk, theirs.pk]).update(**expired)

    assert delivery.messages_sweep(channel_type="whatsapp") == {"requeued": 0, "confirmed": 0, "retried": 1}

    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert (theirs.status, mine.status) == ("queued", "sending")  # the test channel's send is left alone
    assert asked == [(theirs.pk, whatsapp_conversation.inbox_id)]


def test_the_beat_task_sweeps_every_registered_channel_type_on_its_own(conversation, whatsapp_conversation, asked):
    _stuck(conversation, "Do canal de teste")

    result = tasks.messages_sweep()

    assert result[CHANNEL_TYPE] == {"requeued": 1, "confirmed": 0, "retried": 0}
    assert result["whatsapp"] == {"requeued": 0, "confirmed": 0, "retried": 0}


# --- a broker outage --------------------------------------------------------------------------------


def _broker_down(*args, **kwargs):
    raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")


def test_a_reply_sent_while_the_broker_is_down_is_answered_201_and_sent_once_by_the_sweeper(
    api, conversation, test_channel, monkeypatch, settings, caplog, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(tasks.message_deliver, "delay", _broker_down)
    with caplog.at_level(logging.WARNING), django_capture_on_commit_callbacks(execute=True):
        response = _send(api, conversation, "Enviada sem broker")

    assert response.status_code == 201
    message = Message.objects.get(pk=response.json()["id"])
    assert (message.status, message.send_attempts, message.next_attempt_at) == ("queued", 0, None)
    assert test_channel.sent == []
    assert f"Delivery of message {message.pk} not enqueued, left for the sweeper: OperationalError" in caplog.text

    monkeypatch.undo()  # the broker is back
    settings.DELIVERY_QUEUED_SWEEP_AFTER_SECONDS = 0
    delivery.messages_sweep(channel_type=CHANNEL_TYPE)
    delivery.messages_sweep(channel_type=CHANNEL_TYPE)

    message.refresh_from_db()
    assert (message.status, message.external_id) == ("sent", "test-1")
    assert [s.message_id for s in test_channel.sent] == [message.pk]


def test_when_redis_is_unreachable_the_reply_is_answered_201_and_stays_queued_and_due(
    api, conversation, test_channel, settings, caplog, django_capture_on_commit_callbacks
):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    redis_client.cache_clear()
    try:
        with caplog.at_level(logging.WARNING), django_capture_on_commit_callbacks(execute=True):
            response = _send(api, conversation, "Redis fora do ar")
    finally:
        redis_client.cache_clear()

    assert response.status_code == 201
    message = Message.objects.get(pk=response.json()["id"])
    assert (message.status, message.send_attempts) == ("queued", 0)
    assert message.pk in delivery.queued(inbox_id=conversation.inbox_id).values_list("pk", flat=True)
    assert test_channel.sent == []
    assert "left for the sweeper: ConnectionError" in caplog.text
    assert "redis://" not in caplog.text


def test_a_job_request_the_broker_refused_does_not_hold_the_inbox_for_a_minute(conversation, monkeypatch, settings):
    require_redis("the inbox's send key lives in Redis")
    settings.CELERY_TASK_ALWAYS_EAGER = False
    key = delivery_jobs.send_key(conversation.inbox_id)
    redis_client().delete(key)
    message = make_queued_message(conversation, "Campanha")
    monkeypatch.setattr(tasks.messages_send_drain, "delay", _broker_down)

    assert delivery_jobs.delivery_enqueue(message) is False
    assert redis_client().exists(key) == 0  # the next request (or the sweeper) may start the job

    requested: list[int] = []
    monkeypatch.setattr(tasks.messages_send_drain, "delay", lambda inbox_id: requested.append(inbox_id))
    try:
        assert delivery_jobs.delivery_enqueue(message) is True
        assert requested == [conversation.inbox_id]
    finally:
        redis_client().delete(key)


def _claimed_batch(conversation, texts: list[str]) -> list[Message]:
    """Messages one sender claimed in a batch (as ``messages_deliver_batch`` does), not sent yet."""
    for text in texts:
        make_queued_message(conversation, text)
    ids = delivery._claim_batch(inbox_id=conversation.inbox_id, part=0, parts=1, limit=len(texts))
    return delivery._load(ids)


def test_a_claim_the_sweeper_handed_to_another_sender_is_not_sent_by_the_first(conversation, test_channel, settings):
    """A sender held up past its batch's lease (a starved or paused process): the sweeper gave the message to
    another sender, so the first one must not send it too."""
    settings.DELIVERY_SEND_LEASE_SECONDS = 60
    (late,) = _claimed_batch(conversation, ["Promoção"])
    # The lease ran out while this sender waited; the sweeper took the message back and another sender sent it.
    Message.objects.filter(pk=late.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    late.next_attempt_at = Message.objects.get(pk=late.pk).next_attempt_at
    # Without a worker the sweeper's request sends it at once: that is the other sender.
    assert delivery.messages_sweep(channel_type=CHANNEL_TYPE)["retried"] == 1
    assert [s.message_id for s in test_channel.sent] == [late.pk]

    assert delivery._deliver_claimed(late) == "lease-lost"
    assert len(test_channel.sent) == 1  # the first sender sent nothing
    late.refresh_from_db()
    assert (late.status, late.send_attempts) == ("sent", 2)


def test_a_claim_past_half_its_lease_is_renewed_and_the_sweeper_leaves_it(conversation, test_channel, settings):
    settings.DELIVERY_SEND_LEASE_SECONDS = 60
    (slow,) = _claimed_batch(conversation, ["Oi"])
    almost = timezone.now() + timedelta(seconds=10)  # under half of the 60 s left
    Message.objects.filter(pk=slow.pk).update(next_attempt_at=almost)
    slow.next_attempt_at = Message.objects.get(pk=slow.pk).next_attempt_at
    sent: list[int] = []

    def sweep_then_send(message, *, while_waiting):
        # The sweeper looks while this sender is on its way: the renewed lease keeps the message with it.
        assert delivery.messages_sweep(channel_type=CHANNEL_TYPE) == {"requeued": 0, "confirmed": 0, "retried": 0}
        sent.append(message.pk)
        return Accepted(external_id="test-renewed")

    session = test_channel.send_session()
    session.send = sweep_then_send
    sender = delivery._Sender(session)
    assert delivery._deliver_claimed(slow, sender=sender) == "sent"
    sender.finish()
    slow.refresh_from_db()
    assert sent == [slow.pk]
    assert (slow.status, slow.external_id, slow.send_attempts) == ("sent", "test-renewed", 1)


def test_a_claim_well_inside_its_lease_costs_no_statement_before_its_send(conversation, test_channel, settings):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    settings.DELIVERY_SEND_LEASE_SECONDS = 60
    (fresh,) = _claimed_batch(conversation, ["Oi"])
    with CaptureQueriesContext(connection) as queries:
        assert delivery._still_ours(fresh) is True
    assert len(queries) == 0
