"""Payment requests and order statuses on WhatsApp: the core's neutral content becomes Meta's order_details /
order_status request exactly (CONTRACT §7, the fixtures' shapes), the fake Cloud API accepts it, the 24-hour
window refuses it like any free-form message, and the customer's phone simulator shows it."""

from __future__ import annotations

import copy
import time
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pytest
from django.utils import timezone

from conversations.content import content_from_dict
from conversations.models import Message
from conversations.services.delivery import message_deliver
from conversations.services.inbound import InboundSpec, message_receive
from conversations.services.outbound import OutboundSpec, ReplyWindowClosed, message_send
from helpdesk.exceptions import ValidationFailed
from tests.factories import owner_of
from tests.whatsapp.conftest import load_fixture
from whatsapp import outbound_payloads as out
from whatsapp.fake import validation
from whatsapp.fake.errors import GraphError
from whatsapp.sender import order_status_payload, payment_request_payload

if TYPE_CHECKING:
    from tests.whatsapp.fake_fixtures import FakeSetup

pytest_plugins = ["tests.whatsapp.fake_fixtures"]

TO = "5511987654321"
PIX_CODE = (
    "00020101021226700014br.gov.bcb.pix2548pix.example.com/8b3da2f39a4140d1a91abd93113bd441"
    "5204000053039865802BR5913Fulano de Tal6008BRASILIA62070503***630464E4"
)
PIX = {"code": PIX_CODE, "merchant_name": "Acme Recargas", "key": "39580525000189", "key_type": "CNPJ"}


def payment_request(**changes: Any) -> dict[str, Any]:
    """A payment request as a caller gives it to ``message_send`` (no version marker, no kind)."""
    data: dict[str, Any] = {
        "reference": "pedido-42.1",
        "body": "Seu pedido 42: pague com Pix ou pelo link.",
        "footer": "Acme Recargas",
        "goods": "physical",
        "items": [
            {"sku": "CHIP-5G", "name": "Chip 5G", "quantity": 2, "unit_price": 1990},
            {"sku": "", "name": "Recarga", "quantity": 1, "unit_price": 3000},
        ],
        "subtotal": 6980,
        "tax": 120,
        "shipping": 1500,
        "discount": 600,
        "total": 8000,
        "expires_at": 1798761600,
        "expiry_description": "O Pix vence em 24 horas.",
        "pix": dict(PIX),
        "link": "https://pay.example.com/p/42",
    }
    data.update(changes)
    return data


def simple_request(**changes: Any) -> dict[str, Any]:
    """One line, no tax, shipping, discount or expiry: the smallest payment request."""
    data: dict[str, Any] = {
        "reference": "pedido-7",
        "body": "Pague seu pedido 7",
        "items": [{"sku": "RECARGA-20", "name": "Recarga R$ 20", "quantity": 1, "unit_price": 2000}],
        "subtotal": 2000,
        "total": 2000,
        "pix": dict(PIX),
    }
    data.update(changes)
    return data


def order_status(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "reference": "pedido-42.1",
        "body": "Pagamento recebido, obrigado!",
        "footer": "Acme Recargas",
        "status": "processing",
        "description": "Separando seu pedido",
        "payment_status": "captured",
        "payment_at": 1722445231,
    }
    data.update(changes)
    return data


def neutral(kind: str, data: dict[str, Any]) -> Any:
    return content_from_dict({"v": 1, "kind": kind, **data})


def money(value: int) -> dict[str, int]:
    return {"value": value, "offset": 100}


def shape(value: Any) -> Any:
    """The structure of a JSON value: dict keys (recursively) and list item shapes, without the data."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(item) for item in value[:1]]
    return type(value).__name__


def accepted_by_the_fake(payload: dict[str, Any]) -> validation.SendRequest:
    return validation.parse_send(copy.deepcopy(payload), media_exists=lambda _id: False)


# -- the request Meta receives -----------------------------------------------------------------------------


def test_a_payment_request_becomes_metas_order_details_exactly():
    payload = payment_request_payload(TO, neutral("payment_request", payment_request()), callback="hd:9")
    assert payload == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": TO,
        "type": "interactive",
        "biz_opaque_callback_data": "hd:9",
        "interactive": {
            "type": "order_details",
            "body": {"text": "Seu pedido 42: pague com Pix ou pelo link."},
            "footer": {"text": "Acme Recargas"},
            "action": {
                "name": "review_and_pay",
                "parameters": {
                    "reference_id": "pedido-42.1",
                    "type": "physical-goods",
                    "payment_type": "br",
                    "payment_settings": [
                        {"type": "pix_dynamic_code", "pix_dynamic_code": PIX},
                        {"type": "payment_link", "payment_link": {"uri": "https://pay.example.com/p/42"}},
                    ],
                    "currency": "BRL",
                    "total_amount": {"value": 8000, "offset": 100},
                    "order": {
                        "status": "pending",
                        "items": [
                            {"retailer_id": "CHIP-5G", "name": "Chip 5G", "amount": money(1990), "quantity": 2},
                            # A free amount has no product: a stable id of its place stands in for one.
                            {"retailer_id": "custom-2", "name": "Recarga", "amount": money(3000), "quantity": 1},
                        ],
                        "subtotal": money(6980),
                        "tax": money(120),
                        "shipping": money(1500),
                        "discount": money(600),
                        "expiration": {"timestamp": "1798761600", "description": "O Pix vence em 24 horas."},
                    },
                },
            },
        },
    }
    assert accepted_by_the_fake(payload).type == "interactive"


def test_a_simple_payment_request_sends_a_zero_tax_and_no_shipping_discount_expiry_or_footer():
    payload = payment_request_payload(TO, neutral("payment_request", simple_request()))
    assert payload["interactive"] == {
        "type": "order_details",
        "body": {"text": "Pague seu pedido 7"},
        "action": {
            "name": "review_and_pay",
            "parameters": {
                "reference_id": "pedido-7",
                "type": "digital-goods",
                "payment_type": "br",
                "payment_settings": [{"type": "pix_dynamic_code", "pix_dynamic_code": PIX}],
                "currency": "BRL",
                "total_amount": money(2000),
                "order": {
                    "status": "pending",
                    "items": [
                        {"retailer_id": "RECARGA-20", "name": "Recarga R$ 20", "amount": money(2000), "quantity": 1}
                    ],
                    "subtotal": money(2000),
                    "tax": money(0),
                },
            },
        },
    }
    assert "biz_opaque_callback_data" not in payload and "context" not in payload
    assert accepted_by_the_fake(payload).type == "interactive"


def test_an_order_status_becomes_metas_order_status_exactly():
    payload = order_status_payload(
        TO, neutral("order_status", order_status()), reply_to="wamid.order", callback="hd:10"
    )
    assert payload == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": TO,
        "type": "interactive",
        "context": {"message_id": "wamid.order"},
        "biz_opaque_callback_data": "hd:10",
        "interactive": {
            "type": "order_status",
            "body": {"text": "Pagamento recebido, obrigado!"},
            "footer": {"text": "Acme Recargas"},
            "action": {
                "name": "review_order",
                "parameters": {
                    "reference_id": "pedido-42.1",
                    "order": {"status": "processing", "description": "Separando seu pedido"},
                    "payment": {"status": "captured", "timestamp": 1722445231},
                },
            },
        },
    }
    assert accepted_by_the_fake(payload).type == "interactive"


def test_an_order_status_sends_only_the_parts_it_has():
    paid = order_status_payload(TO, neutral("order_status", order_status(status="", description="", payment_at=None)))
    assert paid["interactive"]["action"]["parameters"] == {
        "reference_id": "pedido-42.1",
        "payment": {"status": "captured"},
    }
    shipped = order_status_payload(
        TO, neutral("order_status", order_status(status="shipped", description="", payment_status="", payment_at=None))
    )
    assert shipped["interactive"]["action"]["parameters"] == {
        "reference_id": "pedido-42.1",
        "order": {"status": "shipped"},
    }
    for payload in (paid, shipped):
        assert accepted_by_the_fake(payload).type == "interactive"


# -- the same shapes as Meta's own examples (tests/fixtures/whatsapp) ---------------------------------------

# The fixtures' tax carries Meta's optional description, which we never send.
FIXTURE_ONLY = {"description"}


def _without_optional_tax_description(node: dict[str, Any]) -> dict[str, Any]:
    node = copy.deepcopy(node)
    tax = node["action"]["parameters"].get("order", {}).get("tax", {})
    for key in FIXTURE_ONLY:
        tax.pop(key, None)
    return node


@pytest.mark.parametrize(
    ("fixture", "content"),
    [
        ("order_details_pix_request.json", simple_request()),
        ("order_details_payment_link_request.json", simple_request(pix=None, link="https://pay.example.com/7")),
    ],
)
def test_an_order_details_request_has_the_shape_of_metas_example(fixture, content):
    example = load_fixture(fixture)
    payload = payment_request_payload(TO, neutral("payment_request", content))
    assert shape(payload["interactive"]) == shape(_without_optional_tax_description(example["interactive"]))
    # The Brazilian examples leave out messaging_product, which every request of ours carries.
    assert set(payload) == set(example) | {"messaging_product"}


@pytest.mark.parametrize(
    ("fixture", "content"),
    [
        ("order_status_br_request.json", order_status(description="", payment_at=1722445231)),
        ("order_status_br_simplified_request.json", order_status(status="", description="")),
        ("order_status_india_request.json", order_status(footer="", payment_status="", payment_at=None)),
    ],
)
def test_an_order_status_request_has_the_shape_of_metas_example(fixture, content):
    example = load_fixture(fixture)
    payload = order_status_payload(TO, neutral("order_status", content))
    assert shape(payload["interactive"]) == shape(example["interactive"])
    assert set(payload) == set(example) | {"messaging_product"}


# -- what the fake Cloud API accepts -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [
        payment_request(),
        payment_request(pix=None),
        payment_request(link=""),
        payment_request(expires_at=None, expiry_description="", footer=""),
        simple_request(items=[{"name": "Valor livre", "quantity": 1, "unit_price": 1234}], subtotal=1234, total=1234),
        simple_request(
            items=[{"name": f"Item {n}", "quantity": n, "unit_price": 100 * n} for n in range(1, 6)],
            subtotal=5500,
            tax=55,
            total=5555,
        ),
    ],
)
def test_every_payment_request_we_build_passes_the_fakes_validation(content):
    payload = payment_request_payload(TO, neutral("payment_request", content), callback="hd:1")
    assert accepted_by_the_fake(payload).node == payload["interactive"]


def test_the_fake_refuses_a_reference_with_a_trailing_newline():
    payload = payment_request_payload(TO, neutral("payment_request", simple_request()))
    payload["interactive"]["action"]["parameters"]["reference_id"] = "pedido-7\n"
    with pytest.raises(GraphError) as excinfo:
        accepted_by_the_fake(payload)
    assert (excinfo.value.code, excinfo.value.http_status) == (100, 400)
    assert "may only contain letters, digits, _ . and -" in str(excinfo.value.details)


# -- the builders refuse what Meta would refuse, naming the field -------------------------------------------


def _details(**changes: Any) -> dict[str, Any]:
    arguments: dict[str, Any] = {
        "reference_id": "pedido-7",
        "goods_type": "digital-goods",
        "currency": "BRL",
        "payment_settings": [out.payment_link("https://pay.example.com/7")],
        "items": [out.order_item("SKU", "Recarga", 2000, 1, position=1)],
        "subtotal": 2000,
        "tax": 0,
        "total": 2000,
    }
    arguments.update(changes)
    return arguments


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"reference_id": "pedido 7"}, "The order reference (reference_id) may only hold letters, digits, _ . and -"),
        ({"reference_id": "x" * 61}, "The order reference (reference_id) is 61 characters; WhatsApp allows 60."),
        ({"goods_type": "services"}, "The kind of goods must be one of digital-goods, physical-goods"),
        ({"currency": "USD"}, "The currency must be one of BRL, not 'USD'."),
        ({"payment_settings": []}, "A payment request needs a way to pay: a Pix code or a payment link."),
        ({"items": []}, "A payment request needs at least one item."),
        ({"subtotal": 1999, "total": 1999}, "The subtotal (1999) must equal the items' amounts times their quantities"),
        ({"total": 2100}, "The total (2100) must equal subtotal + tax + shipping - discount (2000)."),
        ({"tax": -1, "total": 1999}, "The tax must be a whole number of at least 0, got -1."),
        ({"expiration": (1798761600, "")}, "The expiry description is empty."),
        ({"expiration": (1798761600, "x" * 121)}, "The expiry description is 121 characters; WhatsApp allows 120."),
    ],
)
def test_an_order_details_builder_refuses_what_meta_would_refuse(changes, message):
    with pytest.raises(out.PayloadError) as excinfo:
        out.interactive_order_details(TO, "Pague", **_details(**changes))
    assert str(excinfo.value).startswith(message)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: out.order_item("SKU", "x" * 61, 100, 1, position=3),
            "Item 3 name is 61 characters; WhatsApp allows 60.",
        ),
        (
            lambda: out.order_item("SKU", "Chip", 100, 0, position=2),
            "Item 2 quantity must be a whole number of at least 1",
        ),
        (
            lambda: out.pix_dynamic_code(PIX_CODE, merchant_name="Acme", key="k", key_type="RANDOM"),
            "The Pix key type must be one of",
        ),
        (lambda: out.payment_link("ftp://pay.example.com"), "The payment link must be an http(s) URL"),
        (
            lambda: out.interactive_order_status(TO, "Oi", reference_id="p-1"),
            "An order status needs the order's status",
        ),
        (
            lambda: out.interactive_order_status(TO, "Oi", reference_id="p-1", order_status="paid"),
            "The order status must be one of pending, processing",
        ),
        (
            lambda: out.interactive_order_status(TO, "Oi", reference_id="p-1", payment_status="paid"),
            "The payment status must be one of pending, captured, failed",
        ),
    ],
)
def test_the_other_payment_builders_refuse_what_meta_would_refuse(call, message):
    with pytest.raises(out.PayloadError) as excinfo:
        call()
    assert str(excinfo.value).startswith(message)


# -- sending through the core: stored neutral, checked for WhatsApp, inside the 24-hour window only ---------


def _conversation(channel, *, minutes_ago: float):
    message, _created = message_receive(
        inbox=channel.inbox,
        spec=InboundSpec(
            source_id=TO,
            external_id="wamid.payment-window",
            occurred_at=timezone.now() - timedelta(minutes=minutes_ago),
            type="text",
            text="Quero pagar",
            profile_name="Cliente",
        ),
    )
    return message.conversation


def test_a_payment_request_is_stored_as_neutral_content_with_its_body_as_text(channel, tenant):
    conversation = _conversation(channel, minutes_ago=5)
    expires_at = int(time.time()) + 3600
    message, created = message_send(
        actor=owner_of(tenant),
        conversation=conversation,
        spec=OutboundSpec(type="payment_request", content=payment_request(expires_at=expires_at)),
    )
    message.refresh_from_db()
    assert (created, message.type, message.status, message.direction) == (True, "payment_request", "queued", "out")
    assert message.text == "Seu pedido 42: pague com Pix ou pelo link."
    assert message.content == {
        "v": 1,
        "kind": "payment_request",
        **payment_request(currency="BRL", expires_at=expires_at),
    }
    assert message.raw is None


def test_an_order_status_is_stored_as_neutral_content_with_its_body_as_text(channel, tenant):
    conversation = _conversation(channel, minutes_ago=5)
    message, _created = message_send(
        actor=owner_of(tenant),
        conversation=conversation,
        spec=OutboundSpec(type="order_status", content=order_status()),
    )
    message.refresh_from_db()
    assert (message.type, message.text) == ("order_status", "Pagamento recebido, obrigado!")
    assert message.content == {"v": 1, "kind": "order_status", **order_status()}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (OutboundSpec(type="payment_request", content=payment_request(expires_at=int(time.time()) + 60)),
         "expires_at must be at least 5 minutes from now: WhatsApp refuses an earlier expiry."),
        (OutboundSpec(type="payment_request", content=payment_request(expires_at=4102444800, expiry_description="")),
         "The expiry description is empty."),
        (OutboundSpec(type="payment_request", content=payment_request(total=1)),
         "total is 1; subtotal + tax + shipping - discount is 8000."),
        (OutboundSpec(type="payment_request", content={**payment_request(), "kind": "order_status"}),
         "kind must be payment_request, as the message's type."),
        (OutboundSpec(type="order_status", content={**order_status(), "kind": "payment_request"}),
         "kind must be order_status, as the message's type."),
        (OutboundSpec(type="order_status", content={**order_status(), "v": 2}), "The content must have version 1."),
    ],
)  # fmt: skip
def test_a_payment_message_whatsapp_would_refuse_is_refused_and_nothing_is_stored(channel, tenant, spec, message):
    conversation = _conversation(channel, minutes_ago=5)
    with pytest.raises(ValidationFailed) as excinfo:
        message_send(actor=owner_of(tenant), conversation=conversation, spec=spec)
    assert excinfo.value.message == message
    assert not Message.objects.filter(direction="out").exists()


@pytest.mark.parametrize(
    "spec",
    [
        OutboundSpec(type="payment_request", content=payment_request(expires_at=None, expiry_description="")),
        OutboundSpec(type="order_status", content=order_status()),
        OutboundSpec(type="interactive", content={"interactive_type": "button", "body": "Pagar?",
                                                  "buttons": [{"id": "sim", "title": "Sim"}]}),
    ],
)  # fmt: skip
def test_outside_the_24_hour_window_a_payment_message_is_refused_like_an_interactive_one(channel, tenant, spec):
    conversation = _conversation(channel, minutes_ago=24 * 60 + 1)
    with pytest.raises(ReplyWindowClosed) as excinfo:
        message_send(actor=owner_of(tenant), conversation=conversation, spec=spec)
    assert (excinfo.value.code, excinfo.value.status_code, excinfo.value.details["use"]) == (
        "reply_window_closed",
        409,
        "template",
    )
    assert not Message.objects.filter(direction="out").exists()


def test_inside_the_window_the_same_payment_request_is_queued(channel, tenant):
    conversation = _conversation(channel, minutes_ago=23 * 60 + 59)
    message, created = message_send(
        actor=owner_of(tenant),
        conversation=conversation,
        spec=OutboundSpec(type="payment_request", content=payment_request(expires_at=None, expiry_description="")),
    )
    assert (created, message.status) == (True, "queued")


def test_a_queued_payment_request_fails_at_send_time_once_the_window_closed(channel, tenant):
    conversation = _conversation(channel, minutes_ago=23 * 60 + 59)
    message, _created = message_send(
        actor=owner_of(tenant),
        conversation=conversation,
        spec=OutboundSpec(type="payment_request", content=simple_request()),
    )
    type(conversation).objects.filter(pk=conversation.pk).update(last_inbound_at=timezone.now() - timedelta(hours=25))
    assert message_deliver(message_id=message.pk) == "failed-window"
    message.refresh_from_db()
    assert (message.status, message.error_title, message.external_id) == ("failed", "Reply window closed", None)


# -- the customer's phone simulator ------------------------------------------------------------------------


def test_the_simulator_shows_the_order_its_ways_to_pay_and_the_status_the_business_sent_later(fake: FakeSetup):
    fake.open_window()
    details = payment_request_payload(fake.customer, neutral("payment_request", payment_request()))
    status = order_status_payload(fake.customer, neutral("order_status", order_status()))
    sent = [fake.send(details), fake.send(status)]
    assert [response.status_code for response in sent] == [200, 200], [response.text for response in sent]

    state = fake.http.get("/_fake/simulator/state", params={"pnid": fake.pnid, "customer": fake.customer}).json()

    order_view, status_view = (m["interactive"] for m in state["messages"] if m["direction"] == "out")
    assert order_view["order"] == {
        "reference_id": "pedido-42.1",
        "total": "BRL 80.00",
        "items": [
            {"name": "Chip 5G", "quantity": 2, "amount": "BRL 19.90"},
            {"name": "Recarga", "quantity": 1, "amount": "BRL 30.00"},
        ],
        "charges": [
            {"label": "Subtotal", "amount": "BRL 69.80"},
            {"label": "Tax", "amount": "BRL 1.20"},
            {"label": "Shipping", "amount": "BRL 15.00"},
            {"label": "Discount", "amount": "BRL 6.00"},
        ],
        "expiration": "O Pix vence em 24 horas.",
        # The order's bubble follows the later order status, as on a phone.
        "status": "processing",
        "payment_status": "captured",
        "payment_methods": ["pix_dynamic_code", "payment_link"],
        "pix_code": PIX_CODE,
        "payment_link": "https://pay.example.com/p/42",
    }
    assert status_view["order"] == {
        "reference_id": "pedido-42.1",
        "order_status": "processing",
        "description": "Separando seu pedido",
        "payment_status": "captured",
    }
    script = fake.http.get("/simulator/simulator.js").text
    for words in ('"Copy Pix code"', '"Pay"', 'captured: "Paid"', 'processing: "Processing"'):
        assert words in script
