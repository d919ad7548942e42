"""The 24-hour customer-service window, enforced when queuing and again at send time."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from conversations.models import Message
from conversations.services.inbound import InboundSpec, message_receive
from conversations.services.outbound import OutboundSpec, ReplyWindowClosed, message_send
from tests.factories import owner_of
from whatsapp.models import MessageTemplate

pytestmark = pytest.mark.django_db


def _conversation(channel, *, minutes_ago: float):
    message, _created = message_receive(
        inbox=channel.inbox,
        spec=InboundSpec(
            source_id="5511987654321",
            external_id="wamid.window-test",
            occurred_at=timezone.now() - timedelta(minutes=minutes_ago),
            type="text",
            text="Oi",
            profile_name="Cliente",
        ),
    )
    return message.conversation


def _approved_template(channel):
    return MessageTemplate.objects.create(
        tenant=channel.tenant,
        waba_id=channel.waba_id,
        meta_id="555",
        name="order_update",
        language="pt_BR",
        category="UTILITY",
        status="APPROVED",
        components=[{"type": "BODY", "text": "Olá {{1}}, seu pedido {{2}} foi enviado."}],
    )


def test_free_text_at_23h59_is_queued(channel, tenant):
    conversation = _conversation(channel, minutes_ago=23 * 60 + 59)
    message, created = message_send(
        actor=owner_of(tenant), conversation=conversation, spec=OutboundSpec(type="text", text="Ainda dá tempo")
    )
    assert (created, message.status, message.text, message.direction) == (True, "queued", "Ainda dá tempo", "out")


def test_free_text_at_24h01_is_refused_with_the_typed_error(channel, tenant):
    conversation = _conversation(channel, minutes_ago=24 * 60 + 1)
    with pytest.raises(ReplyWindowClosed) as excinfo:
        message_send(
            actor=owner_of(tenant), conversation=conversation, spec=OutboundSpec(type="text", text="Tarde demais")
        )
    assert excinfo.value.code == "reply_window_closed"
    assert excinfo.value.details["use"] == "template"
    assert not Message.objects.filter(direction="out").exists()


def test_a_template_is_allowed_after_the_window(channel, tenant):
    _approved_template(channel)
    conversation = _conversation(channel, minutes_ago=3 * 24 * 60)
    message, _created = message_send(
        actor=owner_of(tenant),
        conversation=conversation,
        spec=OutboundSpec(
            type="template", content={"name": "order_update", "language": "pt_BR", "params": {"body": ["Ana", "#42"]}}
        ),
    )
    assert message.status == "queued"
    assert message.text == "Olá Ana, seu pedido #42 foi enviado."
    assert message.raw["components"] == [
        {"type": "body", "parameters": [{"type": "text", "text": "Ana"}, {"type": "text", "text": "#42"}]}
    ]


def test_window_is_checked_again_at_send_time(channel, tenant):
    from conversations.services.delivery import message_deliver

    conversation = _conversation(channel, minutes_ago=23 * 60 + 59)
    message, _created = message_send(
        actor=owner_of(tenant), conversation=conversation, spec=OutboundSpec(type="text", text="Na fila")
    )
    # The job runs after the window closed (a backlog): the message fails instead of being sent late.
    type(conversation).objects.filter(pk=conversation.pk).update(last_inbound_at=timezone.now() - timedelta(hours=25))
    assert message_deliver(message_id=message.pk) == "failed-window"
    message.refresh_from_db()
    assert (message.status, message.error_title) == ("failed", "Reply window closed")


def test_api_refuses_free_text_after_the_window_with_409(client, channel, tenant):
    conversation = _conversation(channel, minutes_ago=24 * 60 + 5)
    client.force_login(owner_of(tenant).user)
    response = client.post(
        f"/api/v1/t/acme/conversations/{conversation.display_id}/messages/",
        {"type": "text", "text": "Olá?"},
        content_type="application/json",
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "reply_window_closed"
    assert not Message.objects.filter(direction="out").exists()
