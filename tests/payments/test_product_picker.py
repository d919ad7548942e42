"""Product messages in the inbox: the composer's "Products" picker offers the workspace's visible products in
stock (only to who may see the conversation and reply), sends one as a product message, several as a list in
sections by category, or the catalog; the bubbles show the catalogue's name and price in the reader's language,
and a customer's question about a product says which one."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.utils import timezone, translation

from conversations.models import Conversation, Message
from conversations.services.inbound import InboundSpec, message_receive
from payments.models import Product
from tenants.permissions import BuiltinRole, Perm
from tests.conversations.factories import make_role
from tests.conversations.test_rendering import add_message, render, text_of
from tests.factories import add_member, make_tenant, owner_of
from tests.whatsapp.conftest import make_channel
from whatsapp.models import WhatsAppChannel

pytestmark = pytest.mark.django_db

CATALOG = "194836987003835"


def product(tenant, sku: str, name: str, price: int, **fields: Any) -> Product:
    return Product.objects.create(tenant=tenant, retailer_id=sku, name=name, price=price, currency="BRL", **fields)


@pytest.fixture
def channel(tenant):
    channel = make_channel(tenant)
    WhatsAppChannel.objects.filter(pk=channel.pk).update(catalog_id=CATALOG)
    channel.refresh_from_db()
    return channel


@pytest.fixture
def catalogue(tenant) -> dict[str, Product]:
    return {
        "margherita": product(tenant, "PIZZA-MARG-G", "Pizza Margherita", 5990, category="Pizzas"),
        "calabresa": product(tenant, "PIZZA-CALA-G", "Pizza Calabresa", 6290, category="Pizzas"),
        "refri": product(tenant, "REFRI-LATA", "Refrigerante lata", 650, category="Bebidas"),
        "hidden": product(tenant, "PIZZA-SECRETA", "Pizza secreta", 9900, category="Pizzas", visible=False),
        "sold_out": product(
            tenant, "PIZZA-ATUM", "Pizza de atum", 6490, category="Pizzas", availability="out of stock"
        ),
    }


@pytest.fixture
def conversation(channel) -> Conversation:
    message, _created = message_receive(
        inbox=channel.inbox,
        spec=InboundSpec(
            source_id="5511912345678",
            external_id="wamid.picker-1",
            occurred_at=timezone.now(),
            type="text",
            text="O que tem hoje?",
            profile_name="Maria",
        ),
    )
    return message.conversation


@pytest.fixture
def agent(tenant, channel):
    member = add_member(tenant, BuiltinRole.AGENT)
    channel.inbox.members.add(member.user)
    return member


def client_of(membership) -> Client:
    client = Client()
    client.force_login(membership.user)
    return client


def picker_url(conversation: Conversation, slug: str = "acme") -> str:
    return f"/t/{slug}/inbox/c/{conversation.display_id}/products/"


def send_url(conversation: Conversation, slug: str = "acme") -> str:
    return f"/t/{slug}/inbox/c/{conversation.display_id}/send/"


# -- the picker's list ---------------------------------------------------------------------------------------


def test_the_picker_offers_visible_products_in_stock_by_category_and_name(agent, conversation, catalogue, tenant):
    other = make_tenant("Other", slug="other")
    product(other, "PIZZA-OUTRA", "Pizza de outro lugar", 100, category="Pizzas")
    response = client_of(agent).get(picker_url(conversation))
    assert response.status_code == 200, response.content
    assert response.json() == {
        "products": [
            {"sku": "REFRI-LATA", "name": "Refrigerante lata", "price": "R$6.50", "category": "Bebidas"},
            {"sku": "PIZZA-CALA-G", "name": "Pizza Calabresa", "price": "R$62.90", "category": "Pizzas"},
            {"sku": "PIZZA-MARG-G", "name": "Pizza Margherita", "price": "R$59.90", "category": "Pizzas"},
        ],
        "notice": "",
    }


def test_the_picker_searches_by_name_or_sku(agent, conversation, catalogue):
    client = client_of(agent)
    by_name = client.get(picker_url(conversation), {"q": "margh"}).json()
    assert [(p["sku"], p["price"]) for p in by_name["products"]] == [("PIZZA-MARG-G", "R$59.90")]
    by_sku = client.get(picker_url(conversation), {"q": "refri-"}).json()
    assert [p["sku"] for p in by_sku["products"]] == ["REFRI-LATA"]
    assert client.get(picker_url(conversation), {"q": "secreta"}).json() == {"products": [], "notice": ""}


def test_the_picker_says_at_once_when_the_number_has_no_catalog(agent, channel, conversation, catalogue):
    WhatsAppChannel.objects.filter(pk=channel.pk).update(catalog_id="")
    data = client_of(agent).get(picker_url(conversation)).json()
    assert data["notice"] == "This number has no catalog connected yet: products cannot be sent until it has one."
    assert len(data["products"]) == 3


def test_an_agent_who_cannot_see_the_conversation_gets_a_404(tenant, conversation, catalogue):
    outsider = add_member(tenant, BuiltinRole.AGENT)  # not a member of the channel's inbox
    client = client_of(outsider)
    assert client.get(picker_url(conversation)).status_code == 404
    response = client.post(send_url(conversation), {"products_kind": "products", "sku": ["PIZZA-MARG-G"]})
    assert response.status_code == 404
    assert not Message.objects.filter(direction="out").exists()


def test_another_workspaces_conversation_is_a_404(conversation, catalogue):
    other = make_tenant("Other", slug="other")
    client = client_of(owner_of(other))
    assert client.get(picker_url(conversation, "other")).status_code == 404
    response = client.post(send_url(conversation, "other"), {"products_kind": "products", "sku": ["PIZZA-MARG-G"]})
    assert response.status_code == 404
    assert not Message.objects.filter(direction="out").exists()


def test_a_role_that_cannot_reply_gets_a_403(tenant, channel, conversation, catalogue):
    viewer = add_member(tenant, make_role(tenant, [Perm.VIEW_ALL_CONVERSATIONS]))
    response = client_of(viewer).get(picker_url(conversation))
    assert response.status_code == 403
    assert "products" not in response.json()


def test_a_search_longer_than_100_characters_is_a_400(agent, conversation, catalogue):
    response = client_of(agent).get(picker_url(conversation), {"q": "x" * 101})
    assert response.status_code == 400


def test_the_pane_shows_the_products_button_to_who_may_reply(agent, conversation, catalogue):
    body = client_of(agent).get(f"/t/acme/inbox/c/{conversation.display_id}/").content.decode()
    assert "data-products-toggle" in body
    assert "data-products-picker" in body


# -- sending what was picked ---------------------------------------------------------------------------------


def _sent(response) -> Message:
    assert response.status_code == 201, response.content
    return Message.objects.get(pk=response.json()["id"])


def test_one_product_picked_is_sent_as_a_product_message(agent, conversation, catalogue):
    response = client_of(agent).post(
        send_url(conversation),
        {"products_kind": "products", "sku": ["PIZZA-MARG-G"], "header": "ignored", "body": "A mais pedida!"},
    )
    message = _sent(response)
    assert (message.type, message.status, message.text) == ("product", "queued", "A mais pedida!")
    assert message.content == {"v": 1, "kind": "product", "sku": "PIZZA-MARG-G", "body": "A mais pedida!"}
    html = response.json()["html"]
    assert "Pizza Margherita" in text_of(html)
    assert "R$59.90" in text_of(html)


def test_several_products_are_sent_as_a_list_in_sections_by_category(agent, conversation, catalogue):
    response = client_of(agent).post(
        send_url(conversation),
        {
            "products_kind": "products",
            "sku": ["PIZZA-MARG-G", "REFRI-LATA", "PIZZA-CALA-G"],
            "header": "Cardápio de hoje",
            "body": "Escolha e mande o carrinho",
            "footer": "Entrega em 40 min",
        },
    )
    message = _sent(response)
    assert message.type == "product_list"
    assert message.content == {
        "v": 1,
        "kind": "product_list",
        "header": "Cardápio de hoje",
        "body": "Escolha e mande o carrinho",
        "footer": "Entrega em 40 min",
        "sections": [
            {"title": "Pizzas", "skus": ["PIZZA-MARG-G", "PIZZA-CALA-G"]},
            {"title": "Bebidas", "skus": ["REFRI-LATA"]},
        ],
    }


def test_products_without_a_category_go_under_other_when_there_are_several_groups(
    tenant, agent, conversation, catalogue
):
    product(tenant, "BRINDE", "Brinde", 100)
    response = client_of(agent).post(
        send_url(conversation),
        {"products_kind": "products", "sku": ["BRINDE", "REFRI-LATA"], "header": "H", "body": "B"},
    )
    assert _sent(response).content["sections"] == [
        {"title": "Other", "skus": ["BRINDE"]},
        {"title": "Bebidas", "skus": ["REFRI-LATA"]},
    ]


def test_more_than_ten_categories_fold_into_a_tenth_section(tenant, agent, conversation):
    for n in range(12):
        product(tenant, f"SKU-{n}", f"Produto {n}", 100, category=f"Categoria com nome comprido {n:02d}")
    response = client_of(agent).post(
        send_url(conversation),
        {"products_kind": "products", "sku": [f"SKU-{n}" for n in range(12)], "header": "H", "body": "B"},
    )
    sections = _sent(response).content["sections"]
    assert len(sections) == 10
    assert sections[0] == {"title": "Categoria com nome compr", "skus": ["SKU-0"]}
    assert sections[9] == {"title": "More", "skus": ["SKU-9", "SKU-10", "SKU-11"]}


def test_the_catalog_is_sent_with_the_first_pick_as_its_thumbnail(agent, conversation, catalogue):
    response = client_of(agent).post(
        send_url(conversation), {"products_kind": "catalog", "sku": ["REFRI-LATA"], "body": "Veja o cardápio"}
    )
    message = _sent(response)
    assert message.content == {"v": 1, "kind": "catalog", "body": "Veja o cardápio", "thumbnail_sku": "REFRI-LATA"}
    response = client_of(agent).post(send_url(conversation), {"products_kind": "catalog", "body": "Sem miniatura"})
    assert _sent(response).content == {"v": 1, "kind": "catalog", "body": "Sem miniatura"}


@pytest.mark.parametrize("sku", ["PIZZA-SECRETA", "PIZZA-ATUM", "PIZZA-OUTRA", "NAO-EXISTE"])
def test_a_product_not_on_offer_is_refused_and_nothing_is_stored(agent, conversation, catalogue, sku):
    product(make_tenant("Other", slug="other"), "PIZZA-OUTRA", "Pizza de outro lugar", 100)
    response = client_of(agent).post(
        send_url(conversation), {"products_kind": "products", "sku": ["PIZZA-MARG-G", sku], "header": "H", "body": "B"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["message"] == (
        f"{sku} is not on offer: it is hidden, out of stock or no longer in the catalog."
    )
    assert not Message.objects.filter(direction="out").exists()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"products_kind": "products"}, "Pick a product first."),
        ({"products_kind": "everything", "sku": ["REFRI-LATA"]}, "Choose what to send: products or the catalog."),
        ({"products_kind": "products", "sku": ["PIZZA-MARG-G", "REFRI-LATA"], "header": "", "body": "B"},
         "header is required."),
        ({"products_kind": "products", "sku": ["PIZZA-MARG-G", "REFRI-LATA"], "header": "H" * 61, "body": "B"},
         "header is 61 characters; at most 60 are allowed."),
        ({"products_kind": "catalog", "body": ""}, "body is required."),
        ({"products_kind": "products", "sku": [f"S{n}" for n in range(31)]},
         "Pick at most 30 products: WhatsApp shows no more in one list."),
    ],
)  # fmt: skip
def test_bad_picks_are_a_400_and_nothing_is_stored(agent, conversation, catalogue, data, message):
    response = client_of(agent).post(send_url(conversation), data)
    assert response.status_code == 400
    assert response.json()["error"]["message"] == message
    assert not Message.objects.filter(direction="out").exists()


def test_a_number_without_a_catalog_refuses_the_pick(agent, channel, conversation, catalogue):
    WhatsAppChannel.objects.filter(pk=channel.pk).update(catalog_id="")
    response = client_of(agent).post(send_url(conversation), {"products_kind": "products", "sku": ["REFRI-LATA"]})
    assert (response.status_code, response.json()["error"]["code"]) == (400, "catalog_missing")
    assert not Message.objects.filter(direction="out").exists()


# -- the bubbles ---------------------------------------------------------------------------------------------


def _out(conversation: Conversation, content: dict[str, Any]) -> Message:
    return add_message(
        conversation,
        direction="out",
        sender_user=owner_of(conversation.tenant).user,
        type=content["kind"],
        text=content.get("body", ""),
        content={"v": 1, **content},
    )


def test_a_product_bubble_shows_the_catalogues_name_and_price_in_the_readers_language(conversation, catalogue):
    message = _out(conversation, {"kind": "product", "sku": "PIZZA-MARG-G", "body": "A mais pedida"})
    with translation.override("pt-br"):
        shown = text_of(render(message))
    assert "Produto Pizza Margherita R$ 59,90 PIZZA-MARG-G A mais pedida" in shown
    with translation.override("en"):
        assert "Product Pizza Margherita R$59.90 PIZZA-MARG-G A mais pedida" in text_of(render(message))


def test_an_unknown_sku_is_shown_as_its_sku(conversation, catalogue):
    message = _out(conversation, {"kind": "product", "sku": "SUMIU-123"})
    with translation.override("en"):
        assert "Product SUMIU-123" in text_of(render(message))


def test_a_product_list_bubble_shows_each_section_with_its_products(conversation, catalogue):
    message = _out(
        conversation,
        {
            "kind": "product_list",
            "header": "Cardápio",
            "body": "Escolha",
            "footer": "Pizzaria",
            "sections": [
                {"title": "Pizzas", "skus": ["PIZZA-MARG-G", "NOVA-1"]},
                {"title": "Bebidas", "skus": ["REFRI-LATA"]},
            ],
        },
    )
    with translation.override("en"):
        shown = text_of(render(message))
    assert (
        "Cardápio Escolha Pizzaria Pizzas Pizza Margherita R$59.90 PIZZA-MARG-G NOVA-1"
        " Bebidas Refrigerante lata R$6.50 REFRI-LATA"
    ) in shown


def test_a_catalog_bubble_shows_its_thumbnail_product_and_view_catalog(conversation, catalogue):
    message = _out(conversation, {"kind": "catalog", "body": "Veja tudo", "thumbnail_sku": "REFRI-LATA"})
    with translation.override("en"):
        shown = text_of(render(message))
    assert "Catalog Refrigerante lata R$6.50 REFRI-LATA Veja tudo View catalog" in shown


def test_a_product_image_is_a_link_the_agent_opens(conversation, tenant):
    product(tenant, "FOTO", "Com foto", 100, image_url="https://cdn.example.com/foto.jpg")
    html = render(_out(conversation, {"kind": "product", "sku": "FOTO"}))
    assert (
        '<a class="msg-product-image" href="https://cdn.example.com/foto.jpg" rel="noopener noreferrer nofollow"'
        ' target="_blank">Image</a>'
    ) in html


def test_a_customers_question_about_a_product_says_which_product(conversation, catalogue):
    inquiry = add_message(
        conversation,
        type="text",
        text="Ainda tem?",
        content={
            "v": 1,
            "kind": "text",
            "body": "Ainda tem?",
            "product": {"sku": "PIZZA-CALA-G", "catalog_id": CATALOG},
        },
    )
    unknown = add_message(
        conversation,
        type="text",
        text="E essa?",
        content={"v": 1, "kind": "text", "body": "E essa?", "product": {"sku": "X-9", "catalog_id": CATALOG}},
    )
    with translation.override("pt-br"):
        assert "Sobre o produto: Pizza Calabresa, R$ 62,90 Ainda tem?" in text_of(render(inquiry))
    with translation.override("en"):
        assert "About product: Pizza Calabresa, R$62.90 Ainda tem?" in text_of(render(inquiry))
        assert "About product: X-9 E essa?" in text_of(render(unknown))


def test_product_names_are_escaped(conversation, tenant):
    product(tenant, "XSS-1", '<img src=x onerror=alert(1)>"', 100, category="<script>alert(2)</script>")
    bubble = render(_out(conversation, {"kind": "product", "sku": "XSS-1"}))
    inquiry = render(
        add_message(
            conversation,
            type="text",
            text="?",
            content={"v": 1, "kind": "text", "body": "?", "product": {"sku": "XSS-1", "catalog_id": CATALOG}},
        )
    )
    for html in (bubble, inquiry):
        assert "<img" not in html
        assert "&lt;img src=x onerror=alert(1)&gt;&#34;" in html or "&lt;img src=x onerror=alert(1)&gt;&quot;" in html


def test_a_render_without_product_messages_asks_the_catalogue_nothing(conversation, django_assert_num_queries):
    from conversations.templatetags.inbox import message_products
    from helpdesk.jinja2 import environment  # noqa: F401  (the globals are the template's)

    messages = list(Message.objects.filter(conversation=conversation))
    with django_assert_num_queries(0):
        assert message_products(messages) == {}


def test_a_customers_cart_names_the_catalogues_products_and_shows_an_unknown_sku_as_itself(conversation, catalogue):
    cart = add_message(
        conversation,
        type="order",
        text="",
        content={
            "catalog_id": CATALOG,
            "text": "Sem cebola",
            "product_items": [
                {"product_retailer_id": "PIZZA-MARG-G", "quantity": 1, "item_price": 59.9, "currency": "BRL"},
                {"product_retailer_id": "SUMIU-9", "quantity": 2, "item_price": 6.5, "currency": "BRL"},
            ],
        },
    )
    with translation.override("pt-br"):
        shown = text_of(render(cart))
    assert "Pizza Margherita PIZZA-MARG-G 1 R$ 59,90 R$ 59,90 SUMIU-9 2 R$ 6,50 R$ 13,00 Total R$ 72,90" in shown
    assert CATALOG not in shown  # the catalog's id says nothing to an agent
