"""Sending and listing a conversation's messages through the REST API, as an integration does with its token."""

from __future__ import annotations

import pytest
from django.test import Client
from django.utils import timezone

from conversations import channels
from conversations.models import Conversation, Message
from conversations.services.inbound import InboundSpec, message_receive
from conversations.services.outbound import OutboundSpec, message_send
from tenants.permissions import Perm
from tenants.services import api_token_create
from tests.conversations.factories import make_role
from tests.factories import owner_of
from tests.whatsapp.conftest import make_channel

pytestmark = pytest.mark.django_db

API = "/api/v1/t/acme"


@pytest.fixture
def channel(tenant):
    return make_channel(tenant)


@pytest.fixture
def api(tenant) -> Client:
    """An integration's token that sees every conversation and may reply and send templates."""
    role = make_role(tenant, [Perm.VIEW_ALL_CONVERSATIONS, Perm.REPLY, Perm.SEND_TEMPLATES])
    _token, raw = api_token_create(actor=owner_of(tenant), name="CRM", role=role)
    return Client(HTTP_AUTHORIZATION=f"Bearer {raw}")


@pytest.fixture
def deliveries(channel, monkeypatch) -> list[int]:
    """Ids of the messages handed to the channel for delivery (after commit)."""
    handed: list[int] = []
    monkeypatch.setattr(channels.backend_for(channel.inbox), "enqueue_delivery", lambda m: handed.append(m.pk))
    return handed


def _customer_writes(channel, *, wa_id: str = "5511912345678", text: str = "Olá") -> Message:
    message, _created = message_receive(
        inbox=channel.inbox,
        spec=InboundSpec(
            source_id=wa_id,
            external_id=f"wamid.{wa_id}.{Message.objects.count()}",
            occurred_at=timezone.now(),
            type="text",
            text=text,
            profile_name="Maria",
        ),
    )
    return message


def _messages_url(conversation: Conversation) -> str:
    return f"{API}/conversations/{conversation.display_id}/messages/"


def _send(client: Client, conversation: Conversation, body: dict, *, key: str | None = None):
    headers = {"Idempotency-Key": key} if key else {}
    return client.post(_messages_url(conversation), body, content_type="application/json", headers=headers)


# --- Idempotency-Key ---------------------------------------------------------------------------------


def test_a_replayed_send_returns_the_first_message_and_delivers_it_once(
    api, channel, deliveries, django_capture_on_commit_callbacks
):
    conversation = _customer_writes(channel).conversation
    with django_capture_on_commit_callbacks(execute=True):
        first = _send(api, conversation, {"type": "text", "text": "Olá, Maria!"}, key="crm-42")
    with django_capture_on_commit_callbacks(execute=True):
        again = _send(api, conversation, {"type": "text", "text": "Olá, Maria!"}, key="crm-42")

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    [message] = Message.objects.filter(direction="out")
    assert (message.pk, message.conversation_id, message.text, message.idempotency_key) == (
        first.json()["id"],
        conversation.pk,
        "Olá, Maria!",
        "crm-42",
    )
    assert deliveries == [message.pk]


def test_a_key_reused_on_another_conversation_is_refused_and_sends_nothing(
    api, channel, deliveries, django_capture_on_commit_callbacks
):
    conversation = _customer_writes(channel, wa_id="5511911111111").conversation
    other = _customer_writes(channel, wa_id="5511922222222").conversation
    with django_capture_on_commit_callbacks(execute=True):
        first = _send(api, conversation, {"type": "text", "text": "Seu pedido saiu"}, key="crm-42")
    with django_capture_on_commit_callbacks(execute=True):
        reused = _send(api, other, {"type": "text", "text": "Seu pedido saiu"}, key="crm-42")

    assert reused.status_code == 422
    assert reused.json() == {
        "error": {
            "code": "idempotency_key_reused",
            "message": "This idempotency key was already used for a message in another conversation. Use a new key.",
            "details": {"idempotency_key": "crm-42"},
        }
    }
    assert list(Message.objects.filter(direction="out").values_list("pk", "conversation_id")) == [
        (first.json()["id"], conversation.pk)
    ]
    assert deliveries == [first.json()["id"]]


def test_the_same_key_in_another_workspace_does_not_collide(api, channel, other_tenant):
    globex_channel = make_channel(other_tenant, phone_number_id="106540352249999", waba_id="102290129349999")
    theirs = _customer_writes(globex_channel).conversation
    their_message, _created = message_send(
        principal=owner_of(other_tenant),
        conversation=theirs,
        spec=OutboundSpec(type="text", text="Globex"),
        idempotency_key="crm-42",
    )
    ours = _customer_writes(channel).conversation

    response = _send(api, ours, {"type": "text", "text": "Acme"}, key="crm-42")

    assert response.status_code == 201
    assert response.json()["id"] != their_message.pk
    assert sorted(
        Message.objects.filter(idempotency_key="crm-42").values_list("tenant_id", "conversation_id", "text")
    ) == sorted([(other_tenant.pk, theirs.pk, "Globex"), (ours.tenant_id, ours.pk, "Acme")])
