"""Product messages as the core's neutral content: one product, a list of products in sections, the whole
catalogue; WhatsApp's limits checked field by field, refusals that name the field, and a send refused (nothing
stored) on a channel that does not list them or outside the reply window."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from conversations.content import (
    CatalogContent,
    ContentInvalid,
    ProductContent,
    ProductListContent,
    ProductSection,
    content_from_dict,
    content_skus,
)
from conversations.models import Conversation, Inbox, Message
from conversations.services.outbound import OutboundSpec, ReplyWindowClosed, message_send
from helpdesk.exceptions import ValidationFailed
from tests.conversations.channel_double import CHANNEL_TYPE, ChannelDouble, registered
from tests.conversations.factories import make_conversation
from tests.factories import owner_of

PRODUCT_KINDS = frozenset({"product", "product_list", "catalog"})


def product(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "v": 1,
        "kind": "product",
        "sku": "PIZZA-MARG-G",
        "body": "A mais pedida da casa.",
        "footer": "Entrega em até 40 min",
    }
    data.update(changes)
    return data


def product_list(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "v": 1,
        "kind": "product_list",
        "header": "Cardápio de hoje",
        "body": "Escolha seus itens e envie o carrinho quando terminar.",
        "footer": "Entrega em até 40 min",
        "sections": [
            {"title": "Pizzas", "skus": ["PIZZA-MARG-G", "PIZZA-CALA-G"]},
            {"title": "Bebidas", "skus": ["REFRI-LATA"]},
        ],
    }
    data.update(changes)
    return data


def catalog(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "v": 1,
        "kind": "catalog",
        "body": "Veja o cardápio completo e monte seu pedido.",
        "footer": "Pizzaria Boa",
        "thumbnail_sku": "PIZZA-MARG-G",
    }
    data.update(changes)
    return data


def refusal(data: dict[str, Any]) -> str:
    with pytest.raises(ContentInvalid) as excinfo:
        content_from_dict(data)
    return excinfo.value.message


def skus(count: int, prefix: str = "SKU") -> list[str]:
    return [f"{prefix}-{i}" for i in range(1, count + 1)]


# -- what each kind reads and stores -------------------------------------------------------------------------


def test_a_product_reads_every_field_and_stores_exactly_what_it_read():
    content = content_from_dict(product())
    assert content == ProductContent(sku="PIZZA-MARG-G", body="A mais pedida da casa.", footer="Entrega em até 40 min")
    assert content.to_dict() == product()


def test_a_product_needs_only_its_sku():
    content = content_from_dict({"v": 1, "kind": "product", "sku": "REFRI-LATA"})
    assert content == ProductContent(sku="REFRI-LATA")
    assert content.to_dict() == {"v": 1, "kind": "product", "sku": "REFRI-LATA"}


def test_a_product_list_reads_its_sections_in_order():
    content = content_from_dict(product_list())
    assert isinstance(content, ProductListContent)
    assert content.sections == (
        ProductSection(title="Pizzas", skus=("PIZZA-MARG-G", "PIZZA-CALA-G")),
        ProductSection(title="Bebidas", skus=("REFRI-LATA",)),
    )
    assert content.skus == ["PIZZA-MARG-G", "PIZZA-CALA-G", "REFRI-LATA"]
    assert content.to_dict() == product_list()


def test_one_section_may_go_without_a_title():
    content = content_from_dict(product_list(sections=[{"skus": ["A", "B"]}], footer=""))
    assert content.to_dict() == {
        "v": 1,
        "kind": "product_list",
        "header": "Cardápio de hoje",
        "body": "Escolha seus itens e envie o carrinho quando terminar.",
        "sections": [{"skus": ["A", "B"]}],
    }


def test_a_text_header_in_the_channels_shape_is_read_as_its_text():
    content = content_from_dict(product_list(header={"type": "text", "text": "Promoções"}))
    assert isinstance(content, ProductListContent)
    assert content.header == "Promoções"


def test_the_limits_themselves_are_accepted():
    sections = [{"title": "T" * 24, "skus": skus(3, prefix=f"S{n}")} for n in range(10)]
    content = content_from_dict(product_list(header="H" * 60, body="B" * 1024, footer="F" * 60, sections=sections))
    assert isinstance(content, ProductListContent)
    assert (len(content.sections), len(content.skus)) == (10, 30)


def test_a_catalog_reads_every_field_and_its_thumbnail_is_optional():
    assert content_from_dict(catalog()) == CatalogContent(
        body="Veja o cardápio completo e monte seu pedido.", footer="Pizzaria Boa", thumbnail_sku="PIZZA-MARG-G"
    )
    assert content_from_dict(catalog(thumbnail_sku="", footer="")).to_dict() == {
        "v": 1,
        "kind": "catalog",
        "body": "Veja o cardápio completo e monte seu pedido.",
    }


def test_the_skus_a_message_shows_or_refers_to():
    assert content_skus(content_from_dict(product())) == ["PIZZA-MARG-G"]
    assert content_skus(content_from_dict(product_list())) == ["PIZZA-MARG-G", "PIZZA-CALA-G", "REFRI-LATA"]
    assert content_skus(content_from_dict(catalog())) == ["PIZZA-MARG-G"]
    assert content_skus(content_from_dict(catalog(thumbnail_sku=""))) == []
    inquiry = {"v": 1, "kind": "text", "body": "Ainda tem?", "product": {"sku": "X-1", "catalog_id": "194836987003835"}}
    assert content_skus(content_from_dict(inquiry)) == ["X-1"]


# -- refusals, each naming its field --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (product(sku=""), "sku is required."),
        (product(sku=None), "sku is required."),
        (product(sku=42), "sku must be text."),
        (product(sku="A" * 101), "sku is 101 characters; at most 100 are allowed."),
        (product(sku="PIZZA MARG"), "sku must be a SKU without spaces."),
        (product(sku=" PIZZA"), "sku must be a SKU without spaces."),
        (product(header="Promoção"), "header is not allowed in a product message."),
        (product(header={"type": "text", "text": "x"}), "header is not allowed in a product message."),
        (product(body="B" * 1025), "body is 1025 characters; at most 1024 are allowed."),
        (product(footer="F" * 61), "footer is 61 characters; at most 60 are allowed."),
        (product_list(header=""), "header is required."),
        (product_list(header=None), "header is required."),
        (product_list(header="H" * 61), "header is 61 characters; at most 60 are allowed."),
        (product_list(header={"type": "image", "image": {"link": "https://x.example/a.png"}}), "header must be text."),
        (product_list(body=""), "body is required."),
        (product_list(body="B" * 1025), "body is 1025 characters; at most 1024 are allowed."),
        (product_list(footer="F" * 61), "footer is 61 characters; at most 60 are allowed."),
        (product_list(sections=[]), "sections must have at least one section."),
        (product_list(sections=None), "sections must have at least one section."),
        (product_list(sections="Pizzas"), "sections must be a list of objects."),
        (
            product_list(sections=[{"title": f"S{n}", "skus": [f"X{n}"]} for n in range(11)]),
            "sections has 11 sections; at most 10 are allowed.",
        ),
        (
            product_list(sections=[{"title": "A", "skus": skus(16)}, {"title": "B", "skus": skus(15, "B")}]),
            "sections hold 31 products in all; at most 30 are allowed.",
        ),
        (product_list(sections=[{"skus": skus(31)}]), "sections hold 31 products in all; at most 30 are allowed."),
        (
            product_list(sections=[{"title": "Pizzas", "skus": ["A"]}, {"skus": ["B"]}]),
            "sections[1].title is required.",
        ),
        (
            product_list(sections=[{"title": "T" * 25, "skus": ["A"]}]),
            "sections[0].title is 25 characters; at most 24 are allowed.",
        ),
        (
            product_list(sections=[{"title": "Vazia", "skus": []}]),
            "sections[0].skus must be a list of at least one SKU.",
        ),
        (product_list(sections=[{"title": "Sem lista"}]), "sections[0].skus must be a list of at least one SKU."),
        (product_list(sections=[{"title": "X", "skus": ["A", 7]}]), "sections[0].skus[1] must be text."),
        (product_list(sections=[{"title": "X", "skus": ["A", ""]}]), "sections[0].skus[1] is required."),
        (catalog(body=""), "body is required."),
        (catalog(body="B" * 1025), "body is 1025 characters; at most 1024 are allowed."),
        (catalog(footer="F" * 61), "footer is 61 characters; at most 60 are allowed."),
        (catalog(header="Catálogo"), "header is not allowed in a catalog message."),
        (catalog(thumbnail_sku="A B"), "thumbnail_sku must be a SKU without spaces."),
    ],
)
def test_each_refusal_names_its_field(data, message):
    assert refusal(data) == message


# -- sending: only a channel that lists them, only inside the reply window ------------------------------------


@pytest.fixture
def test_channel() -> Iterator[ChannelDouble]:
    with registered() as channel:
        yield channel


@pytest.fixture
def conversation(tenant, test_channel) -> Conversation:
    inbox = Inbox.objects.create(tenant=tenant, name="Test channel", channel_type=CHANNEL_TYPE)
    return make_conversation(inbox)


def _sendable(data: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in data.items() if key not in ("v", "kind")}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("message_type", "content", "label"),
    [
        ("product", product(), "Product"),
        ("product_list", product_list(), "Product list"),
        ("catalog", catalog(), "Catalog"),
    ],
)
def test_a_channel_that_does_not_list_product_messages_refuses_them_and_nothing_is_stored(
    conversation, test_channel, message_type, content, label
):
    with pytest.raises(ValidationFailed) as excinfo:
        message_send(
            actor=owner_of(conversation.tenant),
            conversation=conversation,
            spec=OutboundSpec(type=message_type, content=_sendable(content)),
        )
    assert excinfo.value.message == f"{label} messages cannot be sent on {CHANNEL_TYPE}."
    assert excinfo.value.code == "message_type_unsupported"
    assert not Message.objects.filter(direction="out").exists()
    assert test_channel.sent == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("message_type", "content", "text"),
    [
        ("product", product(), "A mais pedida da casa."),
        ("product_list", product_list(), "Escolha seus itens e envie o carrinho quando terminar."),
        ("catalog", catalog(), "Veja o cardápio completo e monte seu pedido."),
    ],
)
def test_a_channel_that_lists_them_gets_the_checked_content_and_the_body_as_text(
    conversation, test_channel, django_capture_on_commit_callbacks, message_type, content, text
):
    test_channel.optional_types = PRODUCT_KINDS
    with django_capture_on_commit_callbacks(execute=True):
        message, created = message_send(
            actor=owner_of(conversation.tenant),
            conversation=conversation,
            spec=OutboundSpec(type=message_type, text="ignored", content=_sendable(content)),
        )
    message.refresh_from_db()
    assert (created, message.type, message.text, message.content) == (True, message_type, text, content)
    assert [sent.message_id for sent in test_channel.sent] == [message.pk]


@pytest.mark.django_db
def test_a_kind_that_differs_from_the_type_is_refused(conversation, test_channel):
    test_channel.optional_types = PRODUCT_KINDS
    with pytest.raises(ContentInvalid) as excinfo:
        message_send(
            actor=owner_of(conversation.tenant),
            conversation=conversation,
            spec=OutboundSpec(type="product", content={**_sendable(product()), "kind": "catalog"}),
        )
    assert excinfo.value.message == "kind must be product, as the message's type."
    assert not Message.objects.filter(direction="out").exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("message_type", "content"), [("product", product()), ("product_list", product_list()), ("catalog", catalog())]
)
def test_outside_the_reply_window_they_are_refused_and_nothing_is_queued(
    conversation, test_channel, django_capture_on_commit_callbacks, message_type, content
):
    test_channel.optional_types = PRODUCT_KINDS
    test_channel.reply_window = lambda inbox: timedelta(hours=24)  # type: ignore[method-assign]
    Conversation.objects.filter(pk=conversation.pk).update(last_inbound_at=timezone.now() - timedelta(hours=25))
    conversation.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(ReplyWindowClosed):
        message_send(
            actor=owner_of(conversation.tenant),
            conversation=conversation,
            spec=OutboundSpec(type=message_type, content=_sendable(content)),
        )
    assert not Message.objects.filter(direction="out").exists()
    assert test_channel.sent == []
