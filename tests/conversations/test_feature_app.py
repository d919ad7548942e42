"""An automation written as its own app (tests/conversations/greeting_app.py) subscribes to a core
event and sends as itself through the core alone: on the second channel of the tests, with no
channel app imported, once per event however often the event is delivered."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.utils import timezone

from conversations.events import delivery as event_delivery
from conversations.models import EventDelivery, Inbox, Message, OutboxEvent
from conversations.services.inbound import InboundSpec, message_receive
from tenants.models import AuditLogEntry
from tests.conversations import greeting_app
from tests.conversations.channel_double import CHANNEL_TYPE, ChannelDouble, Sent, registered

pytestmark = pytest.mark.django_db


@pytest.fixture
def test_channel() -> Iterator[ChannelDouble]:
    with registered() as channel:
        yield channel


@pytest.fixture
def greeting() -> Iterator[None]:
    greeting_app.install()
    yield
    greeting_app.uninstall()


def _customer_writes(inbox: Inbox, external_id: str) -> Message:
    spec = InboundSpec(
        source_id="cliente-7", external_id=external_id, occurred_at=timezone.now(), type="text", text="Oi"
    )
    message, created = message_receive(inbox=inbox, spec=spec)
    assert created
    return message


def test_the_app_imports_the_core_only():
    tree = ast.parse(Path(greeting_app.__file__).read_text())
    modules = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    modules |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    assert {m.split(".")[0] for m in modules if m != "__future__"} == {"conversations"}


def test_a_new_conversation_is_greeted_once_by_the_automation_and_sent_through_the_core(
    tenant, test_channel, greeting, django_capture_on_commit_callbacks
):
    inbox = Inbox.objects.create(tenant=tenant, name="Test channel", channel_type=CHANNEL_TYPE)
    with django_capture_on_commit_callbacks(execute=True):
        inbound = _customer_writes(inbox, "in-1")
    conversation = inbound.conversation

    greeting = Message.objects.get(conversation=conversation, direction="out")
    assert (greeting.sender_type, greeting.sender_label, greeting.sender_automation_id, greeting.text) == (
        "bot",
        "Boas-vindas",
        greeting_app.AUTOMATION_ID,
        greeting_app.TEXT,
    )
    assert greeting.status == "sent"
    assert test_channel.sent == [Sent(greeting.pk, "cliente-7", greeting_app.TEXT)]
    entry = AuditLogEntry.objects.get(action="message.sent")
    assert (entry.actor_id, entry.actor_label, entry.target_label) == (
        None,
        "automation 'Boas-vindas' (#12)",
        f"#{conversation.display_id}",
    )
    sent_event = OutboxEvent.objects.get(event_type="message.sent")
    assert (sent_event.payload["actor_type"], sent_event.payload["actor_id"]) == ("automation", 12)
    assert list(EventDelivery.objects.filter(subscriber=greeting_app.SUBSCRIBER).values_list("state", flat=True)) == [
        "done"
    ]

    # A second message of the same conversation creates no conversation: no second greeting.
    with django_capture_on_commit_callbacks(execute=True):
        _customer_writes(inbox, "in-2")
    assert Message.objects.filter(conversation=conversation, sender_type="bot").count() == 1


def test_a_redelivered_event_greets_once(tenant, test_channel, greeting, django_capture_on_commit_callbacks):
    inbox = Inbox.objects.create(tenant=tenant, name="Test channel", channel_type=CHANNEL_TYPE)
    with django_capture_on_commit_callbacks(execute=True):
        conversation = _customer_writes(inbox, "in-1").conversation
    delivery = EventDelivery.objects.get(subscriber=greeting_app.SUBSCRIBER)

    # The broker hands the same job out again: the delivery is done, the subscriber is not called.
    with django_capture_on_commit_callbacks(execute=True):
        event_delivery.event_deliver(delivery_id=delivery.pk)
    # The "done" mark was lost and the event is handed to the subscriber again: the key sends once.
    event = event_delivery.event_load(OutboxEvent.objects.get(pk=delivery.event_id))
    with django_capture_on_commit_callbacks(execute=True):
        greeting_app.greet(event)

    assert Message.objects.filter(conversation=conversation, sender_type="bot").count() == 1
    assert len(test_channel.sent) == 1
    assert AuditLogEntry.objects.filter(action="message.sent").count() == 1
