"""The core's neutral message content: every kind reads back what it wrote, and bad content is a clear 400."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from conversations.content import (
    CONTENT_KINDS,
    ContentInvalid,
    OrderContent,
    content_from_dict,
    content_read,
    content_with_problems,
    is_current,
    major_units,
    minor_units,
)
from helpdesk.exceptions import ValidationFailed

# One full example of every kind, as stored.
EXAMPLES: dict[str, dict[str, Any]] = {
    "text": {"v": 1, "kind": "text", "body": "Oi", "preview_url": True, "mentions": [3, 5]},
    "media": {
        "v": 1,
        "kind": "media",
        "media_kind": "document",
        "caption": "Nota",
        "filename": "nota.pdf",
        "mime_type": "application/pdf",
        "link": "https://files.example.com/nota.pdf",
    },
    "location": {"v": 1, "kind": "location", "latitude": "-23.5614", "longitude": "-46.6559", "name": "Loja"},
    "contacts": {
        "v": 1,
        "kind": "contacts",
        "cards": [
            {
                "name": "Ana Lima",
                "company": "Acme",
                "phones": [{"number": "+55 11 98765-4321", "type": "CELL", "messaging_id": "5511987654321"}],
                "emails": [{"address": "ana@example.com", "type": "WORK"}],
                "urls": ["https://acme.example.com"],
            }
        ],
    },
    "interactive": {
        "v": 1,
        "kind": "interactive",
        "style": "list",
        "body": "Escolha",
        "header": {"type": "text", "text": "Frete"},
        "list_button": "Opções",
        "sections": [{"title": "Rápido", "rows": [{"id": "x", "title": "Expresso", "description": "1 dia"}]}],
    },
    "reply": {"v": 1, "kind": "reply", "reply_type": "flow", "flow_name": "csat", "response": {"nota": "5"}},
    "template": {
        "v": 1,
        "kind": "template",
        "name": "pedido_enviado",
        "language": "pt_BR",
        "category": "UTILITY",
        "header_text": "Boa notícia",
        "body": "Seu pedido 42 foi enviado.",
        "parameters": {"body": ["42"]},
        "buttons": ["Rastrear"],
    },
    "reaction": {"v": 1, "kind": "reaction", "emoji": "\u2764", "target_id": "wamid.1"},
    "order": {
        "v": 1,
        "kind": "order",
        "catalog_id": "cat-1",
        "note": "Sem cebola",
        "items": [
            {"sku": "PIZZA-G", "quantity": 1, "unit_price": 5990, "currency": "BRL"},
            {"sku": "BRINDE", "quantity": 2, "unit_price": 0, "currency": "BRL"},
        ],
    },
    "system": {"v": 1, "kind": "system", "event": "number_changed", "body": "Mudou", "new_number": "5511900000002"},
    "unsupported": {
        "v": 1,
        "kind": "unsupported",
        "channel_type": "poll",
        "errors": [{"code": "131051", "title": "Message type unknown"}],
    },
    "payment_request": {
        "v": 1,
        "kind": "payment_request",
        "reference": "pedido-7",
        "body": "Pague o pedido 7",
        "goods": "digital",
        "currency": "BRL",
        "items": [{"sku": "", "name": "Recarga", "quantity": 1, "unit_price": 2000}],
        "subtotal": 2000,
        "tax": 0,
        "shipping": 0,
        "discount": 0,
        "total": 2000,
        "link": "https://pay.example.com/7",
    },
    "order_status": {
        "v": 1,
        "kind": "order_status",
        "reference": "pedido-7",
        "body": "Pago!",
        "payment_status": "captured",
    },
    "product": {"v": 1, "kind": "product", "sku": "PIZZA-G", "body": "A mais pedida", "footer": "Pizzaria"},
    "product_list": {
        "v": 1,
        "kind": "product_list",
        "header": "Cardápio",
        "body": "Escolha",
        "sections": [{"title": "Pizzas", "skus": ["PIZZA-G"]}, {"title": "Bebidas", "skus": ["REFRI"]}],
    },
    "catalog": {"v": 1, "kind": "catalog", "body": "Nosso catálogo", "thumbnail_sku": "PIZZA-G"},
}


def test_every_kind_has_an_example():
    assert set(EXAMPLES) == set(CONTENT_KINDS)


@pytest.mark.parametrize("kind", sorted(EXAMPLES))
def test_each_kind_reads_back_exactly_what_it_stored(kind):
    content = content_from_dict(EXAMPLES[kind])
    assert type(content) is CONTENT_KINDS[kind]
    assert content.to_dict() == EXAMPLES[kind]
    assert is_current(content.to_dict())


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"kind": "text", "body": "x"}, "The content must have version 1."),
        ([], "The content must be an object."),
        ({"v": 1, "kind": "poem"}, "kind must be one of: text, media, location"),
        ({"v": 1, "kind": "text", "body": 5}, "body must be text."),
        ({"v": 1, "kind": "media", "media_kind": "hologram"}, "media_kind must be one of: image, audio"),
        ({"v": 1, "kind": "location", "latitude": "91", "longitude": "0"}, "latitude must be between -90 and 90."),
        ({"v": 1, "kind": "location", "latitude": "north", "longitude": "0"}, "latitude must be a decimal number."),
        ({"v": 1, "kind": "interactive", "style": "button", "body": "b"}, "buttons must be a list of"),
        ({"v": 1, "kind": "interactive", "style": "carousel", "body": "b"}, "style must be one of: button, list"),
        ({"v": 1, "kind": "reaction", "emoji": "x"}, "target_id is required."),
        (
            {"v": 1, "kind": "order", "items": [{"sku": "a", "quantity": 1, "unit_price": 9.9, "currency": "BRL"}]},
            "items[0].unit_price must be a whole number.",
        ),
        (
            {"v": 1, "kind": "order", "items": [{"sku": "a", "quantity": -1, "currency": "BRL"}]},
            "items[0].quantity must be a whole number of 0 or more.",
        ),
        ({"v": 1, "kind": "template", "language": "pt_BR"}, "name is required."),
        ({"v": 1, "kind": "text", "mentions": ["ana"]}, "mentions must be a list of user ids."),
    ],
)
def test_invalid_content_is_refused_with_a_message_naming_the_field(data, message):
    with pytest.raises(ContentInvalid) as excinfo:
        content_from_dict(data)
    assert message in excinfo.value.message
    # A ValidationFailed: the API answers 400 with this message, never 500.
    assert isinstance(excinfo.value, ValidationFailed)
    assert (excinfo.value.status_code, excinfo.value.code) == (400, "content_invalid")
    assert content_read(data) is None


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [
        (59.9, "BRL", 5990),
        ("6.50", "brl", 650),
        (30, "USD", 3000),
        (500, "JPY", 500),
        ("1.2345", "KWD", 1234),  # three decimals, half to even
        ("0.125", "USD", 12),
    ],
)
def test_prices_become_integers_in_minor_units(amount, currency, minor):
    assert minor_units(amount, currency) == minor


@pytest.mark.parametrize("amount", [True, None, "ten", "NaN", [1]])
def test_a_price_that_is_not_a_number_is_refused(amount):
    with pytest.raises(ContentInvalid):
        minor_units(amount, "BRL")


def test_order_totals_per_currency_are_exact_integers():
    order = content_from_dict(
        {
            "v": 1,
            "kind": "order",
            "items": [
                {"sku": "a", "quantity": 3, "unit_price": 650, "currency": "BRL"},
                {"sku": "b", "quantity": 1, "unit_price": 5990, "currency": "BRL"},
                {"sku": "c", "quantity": 2, "unit_price": 700, "currency": "JPY"},
                {"sku": "d", "quantity": 1, "unit_price": None, "currency": "BRL"},
            ],
        }
    )
    assert isinstance(order, OrderContent)
    assert order.totals() == {"BRL": 7940, "JPY": 1400}
    assert (major_units(7940, "BRL"), major_units(1400, "JPY")) == (Decimal("79.40"), Decimal("1400"))


def test_problems_a_channel_reports_are_added_to_the_content():
    content = {"v": 1, "kind": "unsupported"}
    problems = [{"code": 131051, "title": "", "message": "Message type unknown", "details": "Not supported."}]
    assert content_with_problems(content, problems) == {
        "v": 1,
        "kind": "unsupported",
        "errors": [{"code": "131051", "title": "Message type unknown", "details": "Not supported."}],
    }
    assert content_with_problems(content, []) is content
