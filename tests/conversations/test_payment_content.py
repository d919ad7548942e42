"""Payment requests and order statuses as the core's neutral content: what each holds, the arithmetic of
its totals, the order reference rule, and refusals that name the field at fault."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

from conversations.content import (
    ContentInvalid,
    OrderStatusContent,
    PaymentItem,
    PaymentRequestContent,
    PixSettings,
    brcode_checksum_ok,
    content_from_dict,
)
from conversations.models import Conversation, Inbox, Message
from conversations.services.outbound import OutboundSpec, message_send
from helpdesk.exceptions import ValidationFailed
from tests.conversations.channel_double import CHANNEL_TYPE, ChannelDouble, registered
from tests.conversations.factories import make_conversation
from tests.factories import owner_of

# BCB's dynamic BR Code example (CONTRACT §8), its CRC recomputed there.
PIX_CODE = (
    "00020101021226700014br.gov.bcb.pix2548pix.example.com/8b3da2f39a4140d1a91abd93113bd441"
    "5204000053039865802BR5913Fulano de Tal6008BRASILIA62070503***630464E4"
)
PIX = {"code": PIX_CODE, "merchant_name": "Acme Recargas", "key": "39580525000189", "key_type": "CNPJ"}


def payment_request(**changes: Any) -> dict[str, Any]:
    """A full payment request as stored: two lines (one a free amount), tax, shipping, a discount, both ways to pay."""
    data: dict[str, Any] = {
        "v": 1,
        "kind": "payment_request",
        "reference": "pedido-42.1",
        "body": "Seu pedido 42: pague com Pix ou pelo link.",
        "footer": "Acme Recargas",
        "goods": "physical",
        "currency": "BRL",
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


def order_status(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "v": 1,
        "kind": "order_status",
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


def refusal(data: dict[str, Any]) -> str:
    with pytest.raises(ContentInvalid) as excinfo:
        content_from_dict(data)
    # A ValidationFailed: the API answers 400 with this message, never 500.
    assert isinstance(excinfo.value, ValidationFailed)
    assert (excinfo.value.status_code, excinfo.value.code) == (400, "content_invalid")
    return excinfo.value.message


# -- payment requests --------------------------------------------------------------------------------------


def test_a_payment_request_reads_every_field_and_stores_exactly_what_it_read():
    content = content_from_dict(payment_request())
    assert content == PaymentRequestContent(
        reference="pedido-42.1",
        body="Seu pedido 42: pague com Pix ou pelo link.",
        footer="Acme Recargas",
        goods="physical",
        currency="BRL",
        items=(
            PaymentItem(sku="CHIP-5G", name="Chip 5G", quantity=2, unit_price=1990),
            PaymentItem(sku="", name="Recarga", quantity=1, unit_price=3000),
        ),
        subtotal=6980,
        tax=120,
        shipping=1500,
        discount=600,
        total=8000,
        expires_at=1798761600,
        expiry_description="O Pix vence em 24 horas.",
        pix=PixSettings(**PIX),
        link="https://pay.example.com/p/42",
    )
    assert content.to_dict() == payment_request()
    assert content_from_dict(content.to_dict()) == content


def test_a_minimal_payment_request_defaults_to_digital_goods_in_reais_and_keeps_its_zero_amounts():
    data = {
        "v": 1,
        "kind": "payment_request",
        "reference": "r1",
        "body": "Pague aqui",
        "items": [{"name": "Doação", "quantity": 1, "unit_price": 0}],
        "subtotal": 0,
        "total": 0,
        "link": "https://pay.example.com/r1",
    }
    content = content_from_dict(data)
    assert (content.goods, content.currency, content.tax, content.shipping, content.discount) == (
        "digital",
        "BRL",
        0,
        0,
        0,
    )
    assert content.to_dict() == {
        "v": 1,
        "kind": "payment_request",
        "reference": "r1",
        "body": "Pague aqui",
        "goods": "digital",
        "currency": "BRL",
        "items": [{"sku": "", "name": "Doação", "quantity": 1, "unit_price": 0}],
        "subtotal": 0,
        "tax": 0,
        "shipping": 0,
        "discount": 0,
        "total": 0,
        "link": "https://pay.example.com/r1",
    }


def test_pix_alone_or_a_link_alone_is_a_way_to_pay():
    assert content_from_dict(payment_request(link="")).pix == PixSettings(**PIX)
    assert content_from_dict(payment_request(pix=None)).link == "https://pay.example.com/p/42"


def test_without_pix_or_a_link_the_request_is_refused():
    assert refusal(payment_request(pix=None, link="")) == "pix or link is required: give the customer a way to pay."


def test_the_subtotal_must_be_the_sum_of_quantity_times_unit_price():
    message = refusal(payment_request(subtotal=6979, total=7999))
    assert message == "subtotal is 6979; the items' quantities times their unit prices add up to 6980."


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"total": 8600}, 8000),  # the discount forgotten
        ({"total": 6500}, 8000),  # tax and shipping forgotten
        ({"tax": 0, "total": 8000}, 7880),
        ({"shipping": 0, "discount": 0, "total": 8000}, 7100),
    ],
)
def test_the_total_must_be_subtotal_plus_tax_plus_shipping_minus_discount(changes, expected):
    data = payment_request(**changes)
    assert refusal(data) == (f"total is {data['total']}; subtotal + tax + shipping - discount is {expected}.")


def test_a_discount_larger_than_everything_else_cannot_make_a_total():
    assert refusal(payment_request(discount=9000, total=0)) == (
        "total is 0; subtotal + tax + shipping - discount is -400."
    )


@pytest.mark.parametrize("reference", ["a", "PEDIDO_42.1-b", "x" * 60, "0.-_"])
def test_a_reference_of_letters_digits_dot_dash_and_underscore_up_to_60_is_accepted(reference):
    assert content_from_dict(payment_request(reference=reference)).reference == reference
    assert content_from_dict(order_status(reference=reference)).reference == reference


@pytest.mark.parametrize("reference", ["pedido 42", "pedido#42", "ação", "x" * 61, "pedido-42\n", "a/b"])
def test_any_other_reference_is_refused(reference):
    expected = "reference may only hold letters, digits, _ . and -, at most 60 of them."
    assert refusal(payment_request(reference=reference)) == expected
    assert refusal(order_status(reference=reference)) == expected


def test_an_empty_reference_is_required():
    assert refusal(payment_request(reference="")) == "reference is required."
    assert refusal(order_status(reference="   ")) == "reference is required."


def _without(key: str) -> dict[str, Any]:
    data = payment_request()
    del data[key]
    return data


def _item(**changes: Any) -> dict[str, Any]:
    data = payment_request()
    data["items"][1].update(changes)
    return data


def _pix(**changes: Any) -> dict[str, Any]:
    return payment_request(pix={**PIX, **changes})


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (_without("reference"), "reference is required."),
        (_without("body"), "body is required."),
        (payment_request(body="x" * 1025), "body is 1025 characters; at most 1024 are allowed."),
        (payment_request(footer="x" * 61), "footer is 61 characters; at most 60 are allowed."),
        (payment_request(goods="services"), "goods must be one of: digital, physical."),
        (payment_request(currency="USD"), "currency must be one of: BRL."),
        (payment_request(items=[]), "items must have at least one item."),
        (_without("items"), "items must have at least one item."),
        (payment_request(items={"name": "x"}), "items must be a list of objects."),
        (_item(name=""), "items[1].name is required."),
        (_item(name="x" * 61), "items[1].name is 61 characters; at most 60 are allowed."),
        (_item(quantity=0), "items[1].quantity must be a whole number of 1 or more."),
        (_item(quantity=1.5), "items[1].quantity must be a whole number."),
        (_item(quantity=None), "items[1].quantity must be a whole number."),
        (_item(unit_price=-1), "items[1].unit_price must be a whole number of 0 or more."),
        (_item(unit_price="30.00"), "items[1].unit_price must be a whole number."),
        (_item(sku=7), "items[1].sku must be text."),
        (_without("subtotal"), "subtotal must be a whole number."),
        (_without("total"), "total must be a whole number."),
        (payment_request(tax=-120, total=7760), "tax must be a whole number of 0 or more."),
        (payment_request(shipping=True), "shipping must be a whole number."),
        (payment_request(discount=-1), "discount must be a whole number of 0 or more."),
        (payment_request(expires_at="amanhã"), "expires_at must be a whole number."),
        (payment_request(expires_at=0), "expires_at must be a whole number of 1 or more."),
        (
            payment_request(expiry_description="x" * 121),
            "expiry_description is 121 characters; at most 120 are allowed.",
        ),
        (payment_request(pix="00020101"), "pix must be an object."),
        (_pix(code=""), "pix.code is required."),
        (_pix(code="x" * 513), "pix.code is 513 characters; at most 512 are allowed."),
        (_pix(code=PIX_CODE[:-1] + "5"), "pix.code is not a Pix BR Code: its checksum does not match."),
        (_pix(code="00020101021226700014br.gov.bcb.pix2548pix.example.com..."), "pix.code is not a Pix BR Code"),
        (_pix(merchant_name=""), "pix.merchant_name is required."),
        (_pix(key=""), "pix.key is required."),
        (_pix(key_type="RANDOM"), "pix.key_type must be one of: CPF, CNPJ, EMAIL, PHONE, EVP."),
        (_pix(key_type=""), "pix.key_type is required."),
        (payment_request(link="http://pay.example.com/p/42"), "link must be an https:// address."),
        (payment_request(link="http://10.0.0.7/p/42"), "link must be an https:// address."),
        (payment_request(link="javascript:alert(1)"), "link must be an https:// address."),
        (payment_request(link="https://"), "link must be an https:// address."),
        (payment_request(link="https://pay.example.com/a b"), "link must be an https:// address."),
        (payment_request(link='https://pay.example.com/"onclick="x'), "link must be an https:// address."),
        (payment_request(link="https://[::1/pay"), "link must be an https:// address."),
        (payment_request(link=["https://pay.example.com"]), "link must be text."),
    ],
)
def test_each_refusal_of_a_payment_request_names_its_field(data, message):
    assert refusal(data).startswith(message)


def test_the_items_are_checked_before_the_totals_they_add_up_to():
    data = payment_request()
    data["items"][0]["quantity"] = -2
    assert refusal(data) == "items[0].quantity must be a whole number of 1 or more."


def test_the_content_given_is_not_changed_by_reading_it():
    data = payment_request()
    before = copy.deepcopy(data)
    content_from_dict(data)
    assert data == before


def test_the_brcode_checksum_is_crc16_ccitt_false_over_the_code_before_its_four_digits():
    assert brcode_checksum_ok(PIX_CODE)
    assert brcode_checksum_ok(PIX_CODE[:-4] + PIX_CODE[-4:].lower())
    assert not brcode_checksum_ok(PIX_CODE.replace("Fulano", "Beltrano"))
    assert not brcode_checksum_ok(PIX_CODE[:-8] + "6305" + PIX_CODE[-4:])  # no CRC field at the end
    assert not brcode_checksum_ok("6304")


# -- order statuses ----------------------------------------------------------------------------------------


def test_an_order_status_reads_every_field_and_stores_exactly_what_it_read():
    content = content_from_dict(order_status())
    assert content == OrderStatusContent(
        reference="pedido-42.1",
        body="Pagamento recebido, obrigado!",
        footer="Acme Recargas",
        status="processing",
        description="Separando seu pedido",
        payment_status="captured",
        payment_at=1722445231,
    )
    assert content.to_dict() == order_status()


def test_the_order_status_alone_or_the_payment_status_alone_is_enough():
    only_order = content_from_dict(order_status(payment_status="", payment_at=None))
    assert (only_order.status, only_order.payment_status, only_order.payment_at) == ("processing", "", None)
    only_payment = content_from_dict(order_status(status="", description=""))
    assert (only_payment.status, only_payment.payment_status) == ("", "captured")
    assert only_payment.to_dict() == {
        "v": 1,
        "kind": "order_status",
        "reference": "pedido-42.1",
        "body": "Pagamento recebido, obrigado!",
        "footer": "Acme Recargas",
        "payment_status": "captured",
        "payment_at": 1722445231,
    }


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            order_status(status="", payment_status="", description="", payment_at=None),
            "status or payment_status is required.",
        ),
        (
            order_status(status="paid"),
            "status must be one of: pending, processing, partially_shipped, shipped, completed, canceled.",
        ),
        (order_status(payment_status="paid"), "payment_status must be one of: pending, captured, failed."),
        (order_status(status="", description="Separando"), "description needs status."),
        (order_status(payment_status="", payment_at=1722445231), "payment_at needs payment_status."),
        (order_status(description="x" * 121), "description is 121 characters; at most 120 are allowed."),
        (order_status(body=""), "body is required."),
        (order_status(body="x" * 1025), "body is 1025 characters; at most 1024 are allowed."),
        (order_status(footer="x" * 61), "footer is 61 characters; at most 60 are allowed."),
        (order_status(payment_at="ontem"), "payment_at must be a whole number."),
        (order_status(payment_at=-5), "payment_at must be a whole number of 1 or more."),
    ],
)
def test_each_refusal_of_an_order_status_names_its_field(data, message):
    assert refusal(data) == message


# -- sending: only a channel that says it can send them takes them -------------------------------------------


@pytest.fixture
def test_channel() -> Iterator[ChannelDouble]:
    with registered() as channel:
        yield channel


@pytest.fixture
def conversation(tenant, test_channel) -> Conversation:
    inbox = Inbox.objects.create(tenant=tenant, name="Test channel", channel_type=CHANNEL_TYPE)
    return make_conversation(inbox)


def _sendable(data: dict[str, Any]) -> dict[str, Any]:
    """The content as a caller gives it: the version marker and the kind are optional."""
    return {key: value for key, value in data.items() if key not in ("v", "kind")}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("message_type", "content", "label"),
    [("payment_request", payment_request(), "Payment request"), ("order_status", order_status(), "Order status")],
)
def test_a_channel_that_does_not_list_payment_messages_refuses_them_and_nothing_is_stored(
    conversation, test_channel, message_type, content, label
):
    with pytest.raises(ValidationFailed) as excinfo:
        message_send(
            actor=owner_of(conversation.tenant),
            conversation=conversation,
            spec=OutboundSpec(type=message_type, content=_sendable(content)),
        )
    assert excinfo.value.message == f"{label} messages cannot be sent on {CHANNEL_TYPE}."
    assert (excinfo.value.code, excinfo.value.details) == (
        "message_type_unsupported",
        {"type": message_type, "channel_type": CHANNEL_TYPE},
    )
    assert not Message.objects.filter(direction="out").exists()
    assert test_channel.sent == []


@pytest.mark.django_db
def test_a_channel_that_lists_them_gets_the_checked_neutral_content_and_the_body_as_text(
    conversation, test_channel, django_capture_on_commit_callbacks
):
    test_channel.optional_types = frozenset({"payment_request", "order_status"})
    with django_capture_on_commit_callbacks(execute=True):
        message, created = message_send(
            actor=owner_of(conversation.tenant),
            conversation=conversation,
            spec=OutboundSpec(type="payment_request", text="ignored", content=_sendable(payment_request())),
        )
    message.refresh_from_db()
    assert (created, message.type, message.text) == (
        True,
        "payment_request",
        "Seu pedido 42: pague com Pix ou pelo link.",
    )
    assert message.content == payment_request()
    assert [(sent.message_id, sent.text) for sent in test_channel.sent] == [(message.pk, message.text)]


@pytest.mark.django_db
def test_content_that_is_not_a_payment_request_is_refused_before_the_channel_sees_it(conversation, test_channel):
    test_channel.optional_types = frozenset({"payment_request"})
    with pytest.raises(ContentInvalid) as excinfo:
        message_send(
            actor=owner_of(conversation.tenant),
            conversation=conversation,
            spec=OutboundSpec(type="payment_request", content=_sendable(payment_request(pix=None, link=""))),
        )
    assert excinfo.value.message == "pix or link is required: give the customer a way to pay."
    assert not Message.objects.filter(direction="out").exists()
    assert test_channel.sent == []
