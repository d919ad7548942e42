"""The orders' REST API: make an order for a conversation's customer, list and read the orders the caller
sees, move one on; money only as JSON integers of centavos; refusals (bad types, another workspace's
conversation, no permission) change nothing."""

from __future__ import annotations

import pytest
from django.test import Client

from conversations.models import Message
from conversations.services.actions import conversation_assign
from payments.models import Order, Product
from tenants.models import AuditLogEntry
from tenants.services import api_token_create, role_builtin
from tests.conversations.factories import make_role
from tests.factories import make_tenant, owner_of
from tests.whatsapp.conftest import PHONE_NUMBER_ID, WebhookPoster, load_fixture, make_channel, retarget

pytestmark = pytest.mark.django_db

API = "/api/v1/t/acme/orders/"


@pytest.fixture
def conversation(tenant, django_capture_on_commit_callbacks):
    channel = make_channel(tenant)
    poster = WebhookPoster(django_capture_on_commit_callbacks)
    poster.post(channel, retarget(load_fixture("inbound_text.json"), phone_number_id=PHONE_NUMBER_ID))
    return Message.objects.get(tenant=tenant).conversation


def _client(tenant, role) -> Client:
    _token, raw = api_token_create(actor=owner_of(tenant), name=f"t-{role}", role=role)
    return Client(HTTP_AUTHORIZATION=f"Bearer {raw}")


@pytest.fixture
def api(tenant) -> Client:
    return _client(tenant, role_builtin(tenant=tenant, key="admin"))


@pytest.fixture
def recarga(tenant) -> Product:
    return Product.objects.create(tenant=tenant, retailer_id="RECARGA-25", name="Recarga R$ 25", price=2500)


def test_an_integration_orders_products_and_reads_the_order_back(tenant, conversation, recarga, api):
    body = {"conversation_id": conversation.display_id, "lines": [{"retailer_id": "RECARGA-25", "quantity": 2}]}
    created = api.post(API, {**body, "shipping": 300, "discount": 100}, content_type="application/json")
    assert created.status_code == 201, created.json()
    data = created.json()
    assert {k: data[k] for k in ("number", "status", "source", "conversation_id", "subtotal", "total")} == {
        "number": 1,
        "status": "pending",
        "source": "api",
        "conversation_id": conversation.display_id,
        "subtotal": 5000,
        "total": 5200,
    }
    assert data["lines"] == [
        {
            "retailer_id": "RECARGA-25",
            "name": "Recarga R$ 25",
            "quantity": 2,
            "unit_price": 2500,
            "catalog_price": 2500,
            "subtotal": 5000,
        }
    ]
    assert api.get(f"{API}1/").json() == data
    assert [o["number"] for o in api.get(API).json()["results"]] == [1]
    assert api.get(API, {"status": "canceled"}).json()["results"] == []


def test_an_order_moves_on_and_is_recorded_paid_only_by_who_manages_payments(tenant, conversation, api):
    api.post(API, {"conversation_id": conversation.display_id, "amount": 990, "description": "Cartão"},
             content_type="application/json")  # fmt: skip
    agent_api = _client(tenant, role_builtin(tenant=tenant, key="agent"))

    refused = agent_api.put(f"{API}1/status/", {"status": "paid"}, content_type="application/json")
    assert refused.status_code == 403
    assert Order.objects.get(tenant=tenant).status == "pending"

    paid = api.put(f"{API}1/status/", {"status": "paid", "note": "Dinheiro"}, content_type="application/json")
    assert (paid.status_code, paid.json()["status"]) == (200, "paid")
    moved = agent_api.put(f"{API}1/status/", {"status": "completed"}, content_type="application/json")
    assert (moved.status_code, moved.json()["status"]) == (200, "completed")
    back = agent_api.put(f"{API}1/status/", {"status": "canceled"}, content_type="application/json")
    assert back.status_code == 400
    assert Order.objects.get(tenant=tenant).status == "completed"


@pytest.mark.parametrize(
    "body",
    [
        {"amount": "25.00", "description": "x"},  # money is an integer of centavos
        {"amount": 25.5, "description": "x"},
        {"amount": True, "description": "x"},
        {"lines": [{"retailer_id": "RECARGA-25", "quantity": "2"}]},
        {"lines": [{"retailer_id": "RECARGA-25", "quantity": 0}]},
        {"lines": [{"retailer_id": "NOPE", "quantity": 1}]},
        {"lines": []},
        {"amount": 100},  # no description
        {"conversation_id": "1", "amount": 100, "description": "x"},
    ],
)
def test_an_order_the_api_cannot_make_is_a_400_and_nothing_is_kept(tenant, conversation, recarga, api, body):
    body = {"conversation_id": conversation.display_id, **body}
    response = api.post(API, body, content_type="application/json")
    assert response.status_code == 400, response.json()
    assert response.json()["error"]["code"] == "validation_failed"
    assert not Order.objects.exists()
    assert not AuditLogEntry.objects.filter(action="order.created").exists()


def test_a_form_body_is_refused_with_415(tenant, conversation, api):
    response = api.post(API, {"conversation_id": conversation.display_id, "amount": 100, "description": "x"})
    assert response.status_code == 415
    assert not Order.objects.exists()


def test_another_workspaces_conversation_and_order_are_404(tenant, conversation, api):
    other = make_tenant("Other", slug="other")
    other_api = _client(other, role_builtin(tenant=other, key="admin"))
    api.post(API, {"conversation_id": conversation.display_id, "amount": 100, "description": "x"},
             content_type="application/json")  # fmt: skip
    body = {"conversation_id": conversation.display_id, "amount": 100, "description": "x"}
    assert other_api.post("/api/v1/t/other/orders/", body, content_type="application/json").status_code == 404
    assert other_api.get("/api/v1/t/other/orders/1/").status_code == 404
    assert other_api.put("/api/v1/t/other/orders/1/status/", {"status": "canceled"},
                         content_type="application/json").status_code == 404  # fmt: skip
    assert other_api.get("/api/v1/t/acme/orders/").status_code in (403, 404)
    assert Order.objects.get(tenant=tenant).status == "pending"
    assert not Order.objects.filter(tenant=other).exists()


def test_a_token_that_cannot_reply_or_see_the_conversation_makes_no_order(tenant, conversation, api):
    reader = _client(tenant, make_role(tenant, ["conversations.view_all"]))
    body = {"conversation_id": conversation.display_id, "amount": 100, "description": "x"}
    assert reader.post(API, body, content_type="application/json").status_code == 403
    conversation_assign(actor=owner_of(tenant), conversation=conversation, assignee=owner_of(tenant).user)
    unassigned_only = _client(tenant, make_role(tenant, ["conversations.view_unassigned", "conversations.reply"]))
    assert unassigned_only.post(API, body, content_type="application/json").status_code == 404
    assert not Order.objects.exists()


@pytest.mark.parametrize(
    "params",
    [{"q": "a\x00b"}, {"q": "x" * 101}, {"status": "bogus"}, {"since": "2026-13-01"}, {"until": ""}, {"status": ""}],
)
def test_a_list_filter_that_cannot_be_read_is_a_400(tenant, api, params):
    response = api.get(API, params)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_failed"
