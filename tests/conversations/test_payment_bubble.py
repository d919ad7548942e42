"""The inbox bubble of a payment request and of an order status, in English and in Portuguese."""

from __future__ import annotations

from typing import Any

import pytest
from django.utils import timezone, translation

from conversations.models import Conversation, Message
from conversations.templatetags.inbox_list import message_preview
from tests.conversations.factories import make_conversation, make_inbox
from tests.conversations.test_rendering import add_message, render, text_of
from tests.factories import owner_of

pytestmark = pytest.mark.django_db

PIX_CODE = (
    "00020101021226700014br.gov.bcb.pix2548pix.example.com/8b3da2f39a4140d1a91abd93113bd441"
    "5204000053039865802BR5913Fulano de Tal6008BRASILIA62070503***630464E4"
)
PAYMENT_REQUEST: dict[str, Any] = {
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
    "expires_at": 1798761600,  # 2027-01-01 00:00 UTC
    "expiry_description": "O Pix vence em 24 horas.",
    "pix": {"code": PIX_CODE, "merchant_name": "Acme", "key": "39580525000189", "key_type": "CNPJ"},
    "link": "https://pay.example.com/p/42",
}
ORDER_STATUS: dict[str, Any] = {
    "v": 1,
    "kind": "order_status",
    "reference": "pedido-42.1",
    "body": "Pagamento recebido, obrigado!",
    "status": "processing",
    "description": "Separando seu pedido",
    "payment_status": "captured",
    "payment_at": 1722445231,  # 2024-07-31 17:00:31 UTC
}


@pytest.fixture
def conversation(tenant) -> Conversation:
    inbox = make_inbox(tenant, members=[owner_of(tenant)])
    return make_conversation(inbox, name="Maria Souza")


def _sent(conversation: Conversation, content: dict[str, Any]) -> Message:
    return add_message(
        conversation,
        direction="out",
        sender_user=owner_of(conversation.tenant).user,
        type=content["kind"],
        text=content["body"],
        content=content,
    )


def _render(message: Message, language: str) -> str:
    with translation.override(language), timezone.override("America/Sao_Paulo"):
        return render(message)


@pytest.mark.parametrize(
    ("language", "visible"),
    [
        (
            "en",
            "Payment request pedido-42.1 Seu pedido 42: pague com Pix ou pelo link. "
            "Product Qty Price Subtotal Chip 5G 2 R$19.90 R$39.80 Recarga 1 R$30.00 R$30.00 "
            "Tax R$1.20 Shipping R$15.00 Discount -R$6.00 Total R$80.00 "
            f"Pix copy and paste code {PIX_CODE} Copy Payment link "
            "Expires Dec. 31, 2026, 21:00 · O Pix vence em 24 horas. Acme Recargas",
        ),
        (
            "pt-br",
            "Cobrança pedido-42.1 Seu pedido 42: pague com Pix ou pelo link. "
            "Produto Qtd. Preço Subtotal Chip 5G 2 R$ 19,90 R$ 39,80 Recarga 1 R$ 30,00 R$ 30,00 "
            "Impostos R$ 1,20 Frete R$ 15,00 Desconto -R$ 6,00 Total R$ 80,00 "
            f"Pix copia e cola {PIX_CODE} Copiar Link de pagamento "
            "Vence em 31/12/2026 21:00 · O Pix vence em 24 horas. Acme Recargas",
        ),
    ],
)
def test_a_payment_request_shows_its_items_total_ways_to_pay_and_expiry_in_the_viewers_language(
    conversation, language, visible
):
    html = _render(_sent(conversation, PAYMENT_REQUEST), language)
    assert visible in text_of(html)
    # The code can be copied; the link opens the payment page apart from the inbox.
    message_id = Message.objects.get(type="payment_request").pk
    assert f'<code class="msg-pix-code" id="pix-{message_id}">{PIX_CODE}</code>' in html
    assert f'data-copy="#pix-{message_id}"' in html
    assert '<a href="https://pay.example.com/p/42" rel="noopener noreferrer nofollow" target="_blank">' in html


def test_a_payment_request_without_extras_shows_no_empty_rows_nor_a_code_link_or_expiry_it_does_not_have(
    conversation,
):
    content = {
        **PAYMENT_REQUEST,
        "items": [{"sku": "", "name": "Recarga", "quantity": 1, "unit_price": 3000}],
        "subtotal": 3000,
        "tax": 0,
        "shipping": 0,
        "discount": 0,
        "total": 3000,
        "link": "",
        "footer": "",
    }
    del content["expires_at"], content["expiry_description"]
    html = _render(_sent(conversation, content), "en")
    assert "Recarga 1 R$30.00 R$30.00 Total R$30.00 Pix copy and paste code" in text_of(html)
    for absent in ("Tax", "Shipping", "Discount", "Payment link", "Expires", "msg-payment-link", 'msg-footer"'):
        assert absent not in html


@pytest.mark.parametrize(
    ("language", "visible"),
    [
        (
            "en",
            "Order status pedido-42.1 Pagamento recebido, obrigado! "
            "Order Processing · Separando seu pedido Payment Paid · July 31, 2024, 14:00",
        ),
        (
            "pt-br",
            "Situação do pedido pedido-42.1 Pagamento recebido, obrigado! "
            "Pedido Em preparo · Separando seu pedido Pagamento Pago · 31/07/2024 14:00",
        ),
    ],
)
def test_an_order_status_shows_the_status_and_the_payment_in_words(conversation, language, visible):
    assert visible in text_of(_render(_sent(conversation, ORDER_STATUS), language))


@pytest.mark.parametrize(
    ("status", "payment", "en", "pt"),
    [
        (
            "pending",
            "pending",
            "Order Pending Payment Awaiting payment",
            "Pedido Pendente Pagamento Aguardando pagamento",
        ),
        ("partially_shipped", "", "Order Partially shipped", "Pedido Enviado parcialmente"),
        ("shipped", "", "Order Shipped", "Pedido Enviado"),
        ("completed", "", "Order Completed", "Pedido Concluído"),
        (
            "canceled",
            "failed",
            "Order Canceled Payment Payment failed",
            "Pedido Cancelado Pagamento Pagamento recusado",
        ),
        ("", "captured", "Payment Paid", "Pagamento Pago"),
    ],
)
def test_every_order_and_payment_status_has_its_words(conversation, status, payment, en, pt):
    content = {**ORDER_STATUS, "status": status, "payment_status": payment, "description": ""}
    del content["payment_at"]
    message = _sent(conversation, content)
    assert f"Pagamento recebido, obrigado! {en} " in text_of(_render(message, "en"))
    assert f"Pagamento recebido, obrigado! {pt} " in text_of(_render(message, "pt-br"))


def test_hostile_texts_in_a_payment_request_stay_text(conversation):
    payload = '<img src=x onerror=alert(1)>"'
    content = {
        **PAYMENT_REQUEST,
        "body": payload,
        "footer": payload[:60],
        "expiry_description": payload,
        "items": [{"sku": payload, "name": payload, "quantity": 1, "unit_price": 8000 - 1500 - 120 + 600}],
        "subtotal": 8000 - 1500 - 120 + 600,
    }
    html = _render(_sent(conversation, content), "en")  # render() checks every tag and attribute
    assert "<img" not in html
    assert text_of(html).count(payload) == 4  # the body, the item's name, the expiry's description, the footer


def test_the_list_previews_a_payment_request_and_an_order_status_by_their_body_with_an_icon(conversation):
    request = _sent(conversation, PAYMENT_REQUEST)
    status = _sent(conversation, ORDER_STATUS)
    assert message_preview(request) == "💳 Seu pedido 42: pague com Pix ou pelo link."
    assert message_preview(status) == "📦 Pagamento recebido, obrigado!"
    Message.objects.filter(pk=status.pk).update(text="")
    status.refresh_from_db()
    with translation.override("pt-br"):
        assert message_preview(status) == "📦 Situação do pedido"
    with translation.override("en"):
        assert message_preview(status) == "📦 Order status"
