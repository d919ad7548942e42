"""Product messages through the REST API: a product, a product list and the catalog are sent as an integration
asks, and bad input is a 400 that names the field, with nothing stored or delivered."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from conversations import channels
from conversations.models import Conversation, Message
from conversations.services import delivery_jobs
from conversations.services.inbound import InboundSpec, message_receive
from tenants.permissions import Perm
from tenants.services import api_token_create
from tests.conversations.factories import make_role
from tests.factories import make_tenant, owner_of
from tests.whatsapp.conftest import make_channel
from whatsapp.models import WhatsAppChannel

pytestmark = pytest.mark.django_db

API = "/api/v1/t/acme"
CATALOG = "194836987003835"


@pytest.fixture
def channel(tenant):
    channel = make_channel(tenant)
    WhatsAppChannel.objects.filter(pk=channel.pk).update(catalog_id=CATALOG)
    channel.refresh_from_db()
    return channel


@pytest.fixture
def api(tenant) -> Client:
    role = make_role(tenant, [Perm.VIEW_ALL_CONVERSATIONS, Perm.REPLY])
    _token, raw = api_token_create(actor=owner_of(tenant), name="CRM", role=role)
    return Client(HTTP_AUTHORIZATION=f"Bearer {raw}")


@pytest.fixture
def deliveries(channel, monkeypatch) -> list[int]:
    handed: list[int] = []
    backend = channels.backend_for(channel.inbox)
    monkeypatch.setattr(delivery_jobs, "delivery_enqueue", lambda m: handed.append(m.pk))
    monkeypatch.setattr(backend, "enqueue_read_receipt", lambda m: None)
    return handed


@pytest.fixture
def conversation(channel) -> Conversation:
    message, _created = message_receive(
        inbox=channel.inbox,
        spec=InboundSpec(
            source_id="5511912345678",
            external_id="wamid.api-products",
            occurred_at=timezone.now(),
            type="text",
            text="Tem pizza?",
            profile_name="Maria",
        ),
    )
    return message.conversation


def _send(client: Client, conversation: Conversation, body: dict):
    url = f"{API}/conversations/{conversation.display_id}/messages/"
    return client.post(url, body, content_type="application/json")


LIST = {
    "header": "Cardápio de hoje",
    "body": "Escolha seus itens",
    "sections": [{"title": "Pizzas", "skus": ["PIZZA-MARG-G"]}, {"title": "Bebidas", "skus": ["REFRI-LATA"]}],
}


@pytest.mark.parametrize(
    ("body", "stored", "text"),
    [
        ({"type": "product", "content": {"sku": "PIZZA-MARG-G", "body": "A mais pedida"}},
         {"v": 1, "kind": "product", "sku": "PIZZA-MARG-G", "body": "A mais pedida"}, "A mais pedida"),
        ({"type": "product_list", "content": LIST}, {"v": 1, "kind": "product_list", **LIST}, "Escolha seus itens"),
        ({"type": "catalog", "content": {"body": "Nosso cardápio", "thumbnail_sku": "PIZZA-MARG-G"}},
         {"v": 1, "kind": "catalog", "body": "Nosso cardápio", "thumbnail_sku": "PIZZA-MARG-G"}, "Nosso cardápio"),
    ],
)  # fmt: skip
def test_each_product_message_is_sent_and_answered_with_its_content(
    api, conversation, deliveries, django_capture_on_commit_callbacks, body, stored, text
):
    with django_capture_on_commit_callbacks(execute=True):
        response = _send(api, conversation, body)
    assert response.status_code == 201, response.content
    data = response.json()
    message = Message.objects.get(pk=data["id"])
    assert (data["type"], data["text"], data["content"]) == (body["type"], text, stored)
    assert (message.type, message.status, message.content) == (body["type"], "queued", stored)
    assert deliveries == [message.pk]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"type": "product", "content": {}}, "sku is required."),
        ({"type": "product", "content": {"sku": "A", "header": "Oferta"}},
         "header is not allowed in a product message."),
        ({"type": "product_list", "content": {**LIST, "header": ""}}, "header is required."),
        ({"type": "product_list", "content": {**LIST, "sections": [{"title": "T" * 25, "skus": ["A"]}]}},
         "sections[0].title is 25 characters; at most 24 are allowed."),
        ({"type": "product_list", "content": {**LIST, "sections": [{"title": f"S{i}", "skus": ["A"]}
                                                                   for i in range(11)]}},
         "sections has 11 sections; at most 10 are allowed."),
        ({"type": "product_list", "content": {**LIST, "sections": [{"skus": [f"A{i}" for i in range(31)]}]}},
         "sections hold 31 products in all; at most 30 are allowed."),
        ({"type": "catalog", "content": {"body": ""}}, "body is required."),
        ({"type": "catalog", "content": {"body": "Veja", "header": "Catálogo"}},
         "header is not allowed in a catalog message."),
    ],
)  # fmt: skip
def test_bad_input_is_a_400_naming_the_field_and_nothing_is_stored(api, conversation, deliveries, body, message):
    response = _send(api, conversation, body)
    assert response.status_code == 400, response.content
    assert response.json()["error"]["message"] == message
    assert not Message.objects.filter(direction="out").exists()
    assert deliveries == []


def test_a_channel_without_a_catalog_is_a_400_and_nothing_is_stored(api, conversation, channel, deliveries):
    WhatsAppChannel.objects.filter(pk=channel.pk).update(catalog_id="")
    response = _send(api, conversation, {"type": "product", "content": {"sku": "A"}})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "catalog_missing"
    assert not Message.objects.filter(direction="out").exists()


def test_outside_the_reply_window_it_is_a_409_and_nothing_is_stored(api, conversation, deliveries):
    Conversation.objects.filter(pk=conversation.pk).update(last_inbound_at=timezone.now() - timedelta(hours=25))
    response = _send(api, conversation, {"type": "product", "content": {"sku": "A"}})
    assert (response.status_code, response.json()["error"]["code"]) == (409, "reply_window_closed")
    assert not Message.objects.filter(direction="out").exists()


def test_another_workspaces_conversation_is_a_404_and_nothing_is_stored(conversation, deliveries):
    other = make_tenant("other")
    role = make_role(other, [Perm.VIEW_ALL_CONVERSATIONS, Perm.REPLY])
    _token, raw = api_token_create(actor=owner_of(other), name="CRM", role=role)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    url = f"/api/v1/t/other/conversations/{conversation.display_id}/messages/"
    response = client.post(url, {"type": "product", "content": {"sku": "A"}}, content_type="application/json")
    assert response.status_code == 404
    assert not Message.objects.filter(direction="out").exists()
