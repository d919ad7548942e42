"""Webhook events processed as a batch: the outcome of applying them one by one, in a fixed number of queries."""

from __future__ import annotations

import hashlib
import threading
from datetime import UTC, datetime
from typing import Any

import pytest
from django.conf import settings
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext

from conversations.models import Attachment, Contact, Conversation, Message, PendingStatus, Reaction
from conversations.selectors import audience_cache_clear
from tests.prerequisites import require_postgresql, require_redis
from tests.whatsapp.conftest import wa_id_of
from whatsapp import processing
from whatsapp.models import UserPreferenceEvent, WebhookEvent
from whatsapp.processing import webhook_event_process, webhook_events_process_batch
from whatsapp.signature import encode_like_meta

pytestmark = pytest.mark.django_db

T0 = 1_750_000_000


def envelope(channel, *, messages=(), statuses=(), preferences=(), names: dict[str, str] | None = None) -> dict:
    value: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "5511900000001", "phone_number_id": channel.phone_number_id},
    }
    if messages:
        senders = dict.fromkeys(m["from"] for m in messages)
        value["contacts"] = [
            {"profile": {"name": (names or {}).get(s, f"Cliente {s[-4:]}")}, "wa_id": s} for s in senders
        ]
        value["messages"] = list(messages)
    if statuses:
        value["statuses"] = list(statuses)
    if preferences:
        value["user_preferences"] = list(preferences)
    field = "user_preferences" if preferences else "messages"
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": channel.waba_id, "changes": [{"field": field, "value": value}]}],
    }


def text(sender: str, wamid: str, at: int, body: str, **extra) -> dict:
    return {"from": sender, "id": wamid, "timestamp": str(at), "type": "text", "text": {"body": body}, **extra}


def status(wamid: str, name: str, at: int) -> dict:
    return {"id": wamid, "status": name, "timestamp": str(at), "recipient_id": A}


def store(channel, payloads: list[dict | bytes]) -> list[WebhookEvent]:
    events = []
    for payload in payloads:
        body = payload if isinstance(payload, bytes) else encode_like_meta(payload)
        events.append(
            WebhookEvent.objects.create(
                tenant=channel.tenant, channel=channel, body=body, body_sha256=hashlib.sha256(body).hexdigest()
            )
        )
    return events


A, B, B_NEW, C = "5511911110001", "5511922220002", "5511933330003", "5511944440004"


def mixed_stream(channel) -> list[dict | bytes]:
    """A morning of webhooks: several customers, a reply, a reaction, a number change, media, a
    status that beats its message, a preference, a duplicate under another envelope, a bad body."""
    return [
        envelope(channel, messages=[text(A, "wamid.a1", T0 + 10, "Oi, quero recarregar")]),
        envelope(channel, messages=[text(B, "wamid.b1", T0 + 12, "Bom dia")], names={B: "Bruna"}),
        envelope(
            channel,
            messages=[
                text(A, "wamid.a2", T0 + 5, "Cartão 1234"),  # stamped before a1: arrives late
                text(C, "wamid.c1", T0 + 20, "Olá"),
            ],
        ),
        envelope(channel, messages=[text(A, "wamid.a3", T0 + 30, "Esse aqui", context={"from": A, "id": "wamid.a2"})]),
        envelope(
            channel,
            messages=[
                {
                    "from": C,
                    "id": "wamid.c2",
                    "timestamp": str(T0 + 31),
                    "type": "reaction",
                    "reaction": {"message_id": "wamid.c1", "emoji": "👍"},
                }
            ],
        ),
        envelope(channel, messages=[text(B, "wamid.b2", T0 + 40, "Mudei de número")], names={B: "Bruna S."}),
        envelope(
            channel,
            messages=[
                {
                    "from": B,
                    "id": "wamid.b3",
                    "timestamp": str(T0 + 41),
                    "type": "system",
                    "system": {
                        "body": f"User changed from {B} to {B_NEW}",
                        "wa_id": B_NEW,
                        "type": "user_changed_number",
                    },
                }
            ],
        ),
        envelope(channel, messages=[text(B_NEW, "wamid.b4", T0 + 42, "Agora por aqui")], names={B_NEW: "Bruna S."}),
        envelope(
            channel,
            messages=[
                {
                    "from": C,
                    "id": "wamid.c3",
                    "timestamp": str(T0 + 50),
                    "type": "image",
                    "image": {"caption": "O cartão", "mime_type": "image/jpeg", "sha256": "abc=", "id": "media-1"},
                }
            ],
        ),
        envelope(
            channel,
            statuses=[{"id": "wamid.out1", "status": "delivered", "timestamp": str(T0 + 60), "recipient_id": A}],
        ),
        envelope(
            channel,
            preferences=[
                {"wa_id": A, "detail": "stop", "category": "marketing_messages", "value": "stop", "timestamp": T0 + 70}
            ],
        ),
        # The same message again inside a different envelope (Meta retries are not always byte-equal):
        # nothing changes, not even the name it carries.
        envelope(channel, messages=[text(A, "wamid.a1", T0 + 10, "Oi, quero recarregar")], names={A: "Ana"}),
        b'{"object": "whatsapp_business_account", "entry": [{"changes": "nope"}]}',
    ]


def snapshot(channel) -> dict[str, Any]:
    """Everything processing wrote, without database ids or clock times."""

    def ts(value: datetime | None) -> int | None:
        return int(value.timestamp()) if value else None

    return {
        "contacts": sorted(
            Contact.objects.filter(tenant=channel.tenant).values_list(
                "identities__address", "profile_name", "phone_e164", "marketing_consent"
            )
        ),
        "conversations": sorted(
            (
                wa_id_of(c.contact),
                c.status,
                c.unread_count,
                ts(c.waiting_since),
                ts(c.last_inbound_at),
                c.last_message.external_id if c.last_message else None,
            )
            for c in Conversation.objects.filter(tenant=channel.tenant).select_related("contact", "last_message")
        ),
        "messages": [
            (
                m.external_id,
                m.type,
                m.text,
                wa_id_of(m.conversation.contact),
                m.reply_to.external_id if m.reply_to else None,
            )
            for m in Message.objects.filter(inbox=channel.inbox)
            .select_related("conversation__contact", "reply_to")
            .order_by("external_timestamp", "external_id")
        ],
        "reactions": sorted(
            Reaction.objects.values_list("message__external_id", "contact__identities__address", "emoji")
        ),
        "attachments": sorted(Attachment.objects.values_list("message__external_id", "kind", "external_media_id")),
        "pending": sorted(PendingStatus.objects.values_list("external_id", "status")),
        "preferences": sorted(UserPreferenceEvent.objects.values_list("wa_id", "value")),
        "events": [
            (e.status, e.summary, e.error.split(":")[0], e.attempts) for e in WebhookEvent.objects.order_by("id")
        ],
    }


def forget_everything(channel) -> None:
    for model in (WebhookEvent, Conversation, Contact, PendingStatus, UserPreferenceEvent):
        model.objects.filter(tenant=channel.tenant).delete()


def test_a_batch_writes_what_the_events_write_one_by_one(channel, django_capture_on_commit_callbacks):
    store(channel, mixed_stream(channel))
    with django_capture_on_commit_callbacks(execute=True):
        assert webhook_events_process_batch(channel_id=channel.pk, limit=50) == 13
    batched = snapshot(channel)

    forget_everything(channel)
    for event in store(channel, mixed_stream(channel)):
        with django_capture_on_commit_callbacks(execute=True):
            webhook_event_process(event_id=event.pk)
    assert snapshot(channel) == batched

    # And the outcome itself, field by field.
    assert batched["contacts"] == [
        (A, "Cliente 0001", f"+{A}", "opted_out"),
        (B_NEW, "Bruna S.", f"+{B_NEW}", "unknown"),
        (C, "Cliente 0004", f"+{C}", "unknown"),
    ]
    assert batched["conversations"] == [
        (A, "open", 3, T0 + 5, T0 + 30, "wamid.a3"),
        (B_NEW, "open", 4, T0 + 12, T0 + 42, "wamid.b4"),
        (C, "open", 2, T0 + 20, T0 + 50, "wamid.c3"),
    ]
    assert batched["messages"] == [
        ("wamid.a2", "text", "Cartão 1234", A, None),
        ("wamid.a1", "text", "Oi, quero recarregar", A, None),
        ("wamid.b1", "text", "Bom dia", B_NEW, None),
        ("wamid.c1", "text", "Olá", C, None),
        ("wamid.a3", "text", "Esse aqui", A, "wamid.a2"),
        ("wamid.b2", "text", "Mudei de número", B_NEW, None),
        ("wamid.b3", "system", f"User changed from {B} to {B_NEW}", B_NEW, None),
        ("wamid.b4", "text", "Agora por aqui", B_NEW, None),
        ("wamid.c3", "image", "O cartão", C, None),
    ]
    assert batched["reactions"] == [("wamid.c1", C, "👍")]
    assert batched["attachments"] == [("wamid.c3", "image", "media-1")]
    assert batched["pending"] == [("wamid.out1", "delivered")]
    assert batched["preferences"] == [(A, "stop")]
    assert [status for status, *_rest in batched["events"]] == ["processed"] * 12 + ["failed"]
    assert batched["events"][-1] == ("failed", "", "Cannot parse", 1)


@pytest.fixture
def no_subscribers():
    """No feature subscribes to the core's events: the batch's own statements only (each subscriber adds a
    delivery row per event, one insert for the batch, which SQLite splits every 999 parameters)."""
    from conversations import events
    from conversations.events.registry import handler_for, subscriber_names
    from conversations.events.types import EVENT_TYPES

    others = {
        (event_type, name): handler_for(event_name, name)
        for event_name, event_type in EVENT_TYPES.items()
        for name in subscriber_names(event_name)
    }
    for event_type, name in others:
        events.unsubscribe(event_type, name=name)
    yield
    for (event_type, name), handler in others.items():
        if handler is not None:
            events.subscribe(event_type, handler, name=name)


def test_the_number_of_queries_does_not_grow_with_the_batch(channel, no_subscribers):
    def queries_for(count: int, offset: int) -> int:
        store(
            channel,
            [
                envelope(channel, messages=[text(f"55119{offset + i:08d}", f"wamid.q{offset + i}", T0 + i, "Oi")])
                for i in range(count)
            ],
        )
        audience_cache_clear()
        with CaptureQueriesContext(connection) as captured:
            assert webhook_events_process_batch(channel_id=channel.pk, limit=50) == count
        return len(captured.captured_queries)

    queries_for(1, 900)  # the tenant's first conversation sets up its numbering
    few, many = queries_for(2, 0), queries_for(40, 100)
    # SQLite takes at most 999 parameters a statement: the inserts of 40 messages and of 40 conversations
    # each go in two.
    assert many - few == (0 if connection.vendor == "postgresql" else 2)
    assert Message.objects.count() == 43
    assert Conversation.objects.count() == 43


def test_a_batch_reopens_a_snoozed_conversation_and_keeps_the_oldest_wait(channel):
    store(channel, [envelope(channel, messages=[text(A, "wamid.s1", T0, "Oi")])])
    webhook_events_process_batch(channel_id=channel.pk)
    conversation = Conversation.objects.get()
    Conversation.objects.filter(pk=conversation.pk).update(
        status="snoozed", snoozed_until=datetime(2030, 1, 1, tzinfo=UTC), unread_count=0, waiting_since=None
    )
    store(
        channel,
        [
            envelope(channel, messages=[text(A, "wamid.s3", T0 + 300, "Alô?")]),
            envelope(channel, messages=[text(A, "wamid.s2", T0 + 200, "Ainda aí?")]),
        ],
    )
    assert webhook_events_process_batch(channel_id=channel.pk) == 2
    conversation.refresh_from_db()
    assert (conversation.status, conversation.snoozed_until, conversation.unread_count) == ("open", None, 2)
    assert conversation.waiting_since == datetime.fromtimestamp(T0 + 200, tz=UTC)
    assert conversation.last_inbound_at == datetime.fromtimestamp(T0 + 300, tz=UTC)
    assert conversation.last_message.external_id == "wamid.s3"  # the customer's latest, though stored first


def test_an_event_that_cannot_be_applied_fails_alone(channel, monkeypatch):
    real = processing._apply_statuses

    def failing(target, statuses):
        if any(status.wamid == "wamid.boom" for status in statuses):
            raise ValueError("unexpected status")
        real(target, statuses)

    monkeypatch.setattr(processing, "_apply_statuses", failing)
    store(
        channel,
        [
            envelope(channel, messages=[text(A, "wamid.f1", T0, "Um")]),
            envelope(
                channel, statuses=[{"id": "wamid.boom", "status": "sent", "timestamp": str(T0), "recipient_id": A}]
            ),
            envelope(channel, messages=[text(A, "wamid.f2", T0 + 1, "Dois")]),
        ],
    )
    assert webhook_events_process_batch(channel_id=channel.pk) == 3
    assert list(WebhookEvent.objects.order_by("id").values_list("status", "error")) == [
        ("processed", ""),
        ("failed", "ValueError: unexpected status"),
        ("processed", ""),
    ]
    assert sorted(Message.objects.values_list("external_id", flat=True)) == ["wamid.f1", "wamid.f2"]
    assert Conversation.objects.get().unread_count == 2


@pytest.mark.django_db(transaction=True)
def test_two_drainers_writing_the_same_new_customer_store_one_contact(channel):
    require_postgresql("SQLite serialises writers: there is no race to lose")
    for i in range(2):
        store(channel, [envelope(channel, messages=[text(A, f"wamid.r{i}", T0 + i, f"Mensagem {i}")])])
    ids = list(WebhookEvent.objects.order_by("id").values_list("pk", flat=True))
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def drain(event_id: int) -> None:
        try:
            barrier.wait(timeout=10)
            webhook_event_process(event_id=event_id)
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=drain, args=(pk,)) for pk in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert list(WebhookEvent.objects.values_list("status", flat=True)) == ["processed", "processed"]
    # One contact, with its one identity: the loser's contact row went back with its savepoint.
    assert list(Contact.objects.values_list("identities__channel_type", "identities__address")) == [("whatsapp", A)]
    conversation = Conversation.objects.get()
    assert sorted(conversation.messages.values_list("external_id", flat=True)) == ["wamid.r0", "wamid.r1"]
    assert conversation.unread_count == 2


def test_a_single_event_that_cannot_be_applied_is_failed_with_its_error(channel, monkeypatch):
    def failing(target, statuses):
        raise ValueError("unexpected status")

    monkeypatch.setattr(processing, "_apply_statuses", failing)
    [event] = store(channel, [envelope(channel, statuses=[status("wamid.boom", "sent", T0)])])
    assert webhook_event_process(event_id=event.pk).status == "failed"
    event.refresh_from_db()
    assert (event.status, event.error, event.attempts, event.summary) == (
        "failed",
        "ValueError: unexpected status",
        1,
        "1 status",
    )
    assert not PendingStatus.objects.exists()


def test_a_drain_that_found_a_trickle_waits_for_more_and_takes_them_as_one_batch(channel, monkeypatch):
    require_redis("drain jobs need it")
    from whatsapp import coordination, tasks

    store(channel, [envelope(channel, messages=[text(A, "wamid.t0", T0, "Oi")])])
    claimed: list[int] = []
    batch = processing.webhook_events_process_batch

    def counting_batch(**kwargs) -> int:
        claimed.append(batch(**kwargs))
        return claimed[-1]

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) == 1:  # three more arrive while the drain lingers
            store(channel, [envelope(channel, messages=[text(B, f"wamid.t{i}", T0 + i, "Oi")]) for i in (1, 2, 3)])

    sleeps: list[float] = []
    monkeypatch.setattr("whatsapp.processing.webhook_events_process_batch", counting_batch)
    monkeypatch.setattr(processing.time, "sleep", sleep)
    assert tasks.webhook_events_drain(channel.pk, 0) == 4
    assert claimed == [1, 3, 0]
    assert sleeps == [settings.WHATSAPP_DRAIN_LINGER_SECONDS, settings.WHATSAPP_DRAIN_LINGER_SECONDS]
    assert Message.objects.filter(inbox=channel.inbox).count() == 4
    assert coordination.redis_client().get(coordination.drain_key(channel.pk, 0)) is None  # the slot is free again
