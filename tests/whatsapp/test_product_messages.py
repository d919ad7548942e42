"""Product messages on WhatsApp: the core's neutral product, product list and catalog become Meta's interactive
``product``, ``product_list`` and ``catalog_message`` exactly (COMMERCE §2, the fixtures), with the catalog id of
the number; a number without a catalog refuses them before anything is queued, the 24-hour window refuses them
like any free-form message, and the fake Cloud API accepts exactly what §2 allows."""

from __future__ import annotations

import copy
import os
import shutil
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pytest
from django.utils import timezone

from conversations.content import content_from_dict
from conversations.models import Message
from conversations.services.inbound import InboundSpec, message_receive
from conversations.services.outbound import OutboundSpec, ReplyWindowClosed, message_send
from helpdesk.exceptions import ValidationFailed
from tests.factories import owner_of
from tests.whatsapp.conftest import load_fixture
from whatsapp import outbound_payloads as out
from whatsapp.errors import PermanentError
from whatsapp.fake import validation, wait_for
from whatsapp.fake.errors import GraphError
from whatsapp.models import WhatsAppChannel
from whatsapp.sender import build_payload, product_payload

if TYPE_CHECKING:
    from tests.whatsapp.fake_fixtures import FakeSetup

pytest_plugins = ["tests.whatsapp.fake_fixtures"]

TO = "5511912345678"
CATALOG = "194836987003835"


def neutral(kind: str, data: dict[str, Any]) -> Any:
    return content_from_dict({"v": 1, "kind": kind, **data})


def brl_list() -> dict[str, Any]:
    """The product list of ``commerce_send_product_list_request_brl.json`` as a caller gives it."""
    return {
        "header": "Cardápio de hoje",
        "body": "Escolha seus itens e envie o carrinho quando terminar.",
        "footer": "Entrega em até 40 min",
        "sections": [
            {"title": "Pizzas", "skus": ["PIZZA-MARG-G", "PIZZA-CALA-G"]},
            {"title": "Bebidas", "skus": ["REFRI-LATA"]},
        ],
    }


def shape(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(item) for item in value[:1]]
    return type(value).__name__


def fake_accepts(payload: dict[str, Any]) -> validation.SendRequest:
    return validation.parse_send(copy.deepcopy(payload), media_exists=lambda _id: False)


def fake_refusal(payload: dict[str, Any]) -> GraphError:
    with pytest.raises(GraphError) as excinfo:
        fake_accepts(payload)
    return excinfo.value


# -- the request Meta receives ------------------------------------------------------------------------------


def test_a_product_list_becomes_the_brl_fixture_exactly():
    payload = product_payload(TO, neutral("product_list", brl_list()), catalog_id=CATALOG)
    assert payload == load_fixture("commerce_send_product_list_request_brl.json")


def test_a_product_list_has_the_shape_of_metas_example():
    payload = product_payload(TO, neutral("product_list", brl_list()), catalog_id=CATALOG)
    example = load_fixture("commerce_send_product_list_request.json")
    assert shape(payload) == shape(example)


def test_a_catalog_message_becomes_metas_example_exactly():
    example = load_fixture("commerce_send_catalog_message_request.json")
    content = neutral(
        "catalog",
        {
            "body": example["interactive"]["body"]["text"],
            "footer": example["interactive"]["footer"]["text"],
            "thumbnail_sku": "2lc20305pt",
        },
    )
    assert product_payload(example["to"], content, catalog_id=CATALOG) == example


def test_a_catalog_message_without_a_thumbnail_leaves_the_choice_to_whatsapp():
    payload = product_payload(TO, neutral("catalog", {"body": "Veja tudo"}), catalog_id=CATALOG)
    assert payload["interactive"] == {
        "type": "catalog_message",
        "body": {"text": "Veja tudo"},
        "action": {"name": "catalog_message"},
    }
    fake_accepts(payload)


def test_a_product_becomes_metas_example_with_the_numbers_catalog():
    example = load_fixture("commerce_send_product_request.json")
    content = neutral("product", {"sku": "<ID_TEST_ITEM_1>", "body": "<OPTIONAL_BODY_TEXT>",
                                  "footer": "<OPTIONAL_FOOTER_TEXT>"})  # fmt: skip
    payload = product_payload("{{Recipient-Phone-Number}}", content, catalog_id="367025965434465")
    assert payload == example


def test_a_product_without_a_body_sends_no_body_and_never_a_header():
    payload = product_payload(TO, neutral("product", {"sku": "REFRI-LATA"}), catalog_id=CATALOG, callback="hd:4")
    assert payload == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": TO,
        "type": "interactive",
        "biz_opaque_callback_data": "hd:4",
        "interactive": {"type": "product", "action": {"catalog_id": CATALOG, "product_retailer_id": "REFRI-LATA"}},
    }
    fake_accepts(payload)


@pytest.mark.parametrize(
    ("kind", "data"),
    [
        ("product", {"sku": "PIZZA-MARG-G", "body": "A mais pedida", "footer": "Pizzaria"}),
        ("product", {"sku": "PIZZA-MARG-G"}),
        ("product_list", brl_list()),
        ("product_list", {"header": "H" * 60, "body": "B" * 1024, "footer": "F" * 60,
                          "sections": [{"title": "T" * 24, "skus": [f"S{s}-{i}" for i in range(3)]}
                                       for s in range(10)]}),
        ("product_list", {"header": "Um", "body": "Só uma seção", "sections": [{"skus": ["A"]}]}),
        ("catalog", {"body": "Veja", "footer": "Loja", "thumbnail_sku": "A"}),
    ],
)  # fmt: skip
def test_every_product_message_we_build_passes_the_fakes_validation(kind, data):
    request = fake_accepts(product_payload(TO, neutral(kind, data), catalog_id=CATALOG))
    assert (request.type, request.wa_id) == ("interactive", TO)


def test_the_builder_refuses_what_meta_would_refuse():
    with pytest.raises(out.PayloadError, match=r"^A product list has 31 products in all; WhatsApp allows 30\.$"):
        out.interactive_product_list(TO, CATALOG, "H", "B", [("A", [f"A{i}" for i in range(16)]),
                                                             ("B", [f"B{i}" for i in range(15)])])  # fmt: skip
    with pytest.raises(out.PayloadError, match=r"^A product list has 11 sections; WhatsApp allows 10\.$"):
        out.interactive_product_list(TO, CATALOG, "H", "B", [(f"S{i}", ["X"]) for i in range(11)])
    with pytest.raises(out.PayloadError, match=r"^Section 2 needs a title"):
        out.interactive_product_list(TO, CATALOG, "H", "B", [("A", ["X"]), ("", ["Y"])])
    with pytest.raises(out.PayloadError, match=r"^Section 1 title is 25 characters; WhatsApp allows 24\.$"):
        out.interactive_product_list(TO, CATALOG, "H", "B", [("T" * 25, ["X"])])
    with pytest.raises(out.PayloadError, match=r"^The header is empty\.$"):
        out.interactive_product_list(TO, CATALOG, "", "B", [("A", ["X"])])
    with pytest.raises(out.PayloadError, match=r"^The catalog id is empty\.$"):
        out.interactive_product(TO, "", "X")


def test_a_number_without_a_catalog_cannot_build_them():
    with pytest.raises(PermanentError, match="no catalog connected"):
        product_payload(TO, neutral("product", {"sku": "X"}), catalog_id="")


# -- the fake refuses what Meta refuses (COMMERCE §2.6) -------------------------------------------------------


def _interactive(kind: str, **node: Any) -> dict[str, Any]:
    return {"messaging_product": "whatsapp", "to": TO, "type": "interactive", "interactive": {"type": kind, **node}}


ITEM_A = {"product_retailer_id": "A"}


def _list(**changes: Any) -> dict[str, Any]:
    node: dict[str, Any] = {
        "header": {"type": "text", "text": "Cardápio"},
        "body": {"text": "Escolha"},
        "action": {"catalog_id": CATALOG, "sections": [{"title": "Pizzas", "product_items": [ITEM_A]}]},
    }
    node.update(changes)
    return _interactive("product_list", **{k: v for k, v in node.items() if v is not None})


def _sections(count: int, per_section: int = 1) -> list[dict[str, Any]]:
    return [
        {"title": f"S{s}", "product_items": [{"product_retailer_id": f"P{s}-{i}"} for i in range(per_section)]}
        for s in range(count)
    ]


def test_a_header_on_a_catalog_message_is_refused_as_meta_refused_it():
    payload = _interactive("catalog_message", header={"type": "text", "text": "Catálogo"}, body={"text": "Veja"},
                           action={"name": "catalog_message"})  # fmt: skip
    error = fake_refusal(payload)
    expected = load_fixture("commerce_error_131009_catalog_header.json")["error"]
    body = error.body()["error"]
    assert (error.http_status, body["code"], body["message"], body["error_data"]) == (
        400,
        expected["code"],
        expected["message"],
        expected["error_data"],
    )


@pytest.mark.parametrize(
    ("payload", "code", "details"),
    [
        (_interactive("product", header={"type": "text", "text": "x"},
                      action={"catalog_id": CATALOG, "product_retailer_id": "A"}),
         131009, "The parameter interactive['header'] is not allows for product messages."),
        (_interactive("product", action={"catalog_id": CATALOG}),
         131008, "The parameter interactive['action']['product_retailer_id'] is required."),
        (_interactive("product", action={"product_retailer_id": "A"}),
         131008, "The parameter interactive['action']['catalog_id'] is required."),
        (_interactive("product", body={"text": "B" * 1025}, action={"catalog_id": CATALOG, "product_retailer_id": "A"}),
         131009, "Param interactive['body']['text'] must be at most 1024 characters long."),
        (_list(header=None), 131008, "The parameter interactive['header'] is required."),
        (_list(body=None), 131008, "The parameter interactive['body'] is required."),
        (_list(header={"type": "image", "image": {"link": "https://x.example/a.png"}}),
         131009, "Param interactive['header']['type'] must be one of {TEXT} for product_list messages."),
        (_list(header={"type": "text", "text": "H" * 61}),
         131009, "Param interactive['header']['text'] must be at most 60 characters long."),
        (_list(footer={"text": "F" * 61}),
         131009, "Param interactive['footer']['text'] must be at most 60 characters long."),
        (_list(action={"catalog_id": CATALOG}), 131008, "The parameter interactive['action']['sections'] is required."),
        (_list(action={"catalog_id": CATALOG, "sections": []}),
         131009, "Param interactive['action']['sections'] must be a non-empty array."),
        (_list(action={"catalog_id": CATALOG, "sections": _sections(11)}),
         131009, "Param interactive['action']['sections'] must contain at most 10 elements (got 11)."),
        (_list(action={"catalog_id": CATALOG, "sections": _sections(2, 15) + _sections(1)}),
         131009, "Total product count exceed max allowed count: 30 (got 31)."),
        (_list(action={"catalog_id": CATALOG, "sections": [{"product_items": [ITEM_A]},
                                                            {"title": "B", "product_items": [ITEM_A]}]}),
         131008, "The parameter interactive['action']['sections'][0]['title'] is required."),
        (_list(action={"catalog_id": CATALOG, "sections": [{"title": "T" * 25, "product_items": [ITEM_A]}]}),
         131009, "Param interactive['action']['sections'][0]['title'] must be at most 24 characters long."),
        (_list(action={"catalog_id": CATALOG, "sections": [{"title": "A", "product_items": []}]}),
         131009, "Param interactive['action']['sections'][0]['product_items'] must be a non-empty array."),
        (_interactive("catalog_message", action={"name": "catalog_message"}),
         131008, "The parameter interactive['body'] is required."),
        (_interactive("catalog_message", body={"text": "Veja"}, action={"name": "catalog"}),
         131009, "Param interactive['action']['name'] must be catalog_message."),
    ],
)  # fmt: skip
def test_the_fake_refuses_what_commerce_section_2_forbids(payload, code, details):
    error = fake_refusal(payload)
    assert (error.http_status, error.code, error.body()["error"]["error_data"]["details"]) == (400, code, details)


def test_the_fake_accepts_a_catalog_message_with_or_without_its_thumbnail():
    for action in ({"name": "catalog_message"}, {"name": "catalog_message", "parameters": {}},
                   {"name": "catalog_message", "parameters": {"thumbnail_product_retailer_id": "A"}}):  # fmt: skip
        fake_accepts(_interactive("catalog_message", body={"text": "Veja"}, action=action))


# -- sending through the core ---------------------------------------------------------------------------------


def _conversation(channel, *, minutes_ago: float):
    message, _created = message_receive(
        inbox=channel.inbox,
        spec=InboundSpec(
            source_id=TO,
            external_id="wamid.product-window",
            occurred_at=timezone.now() - timedelta(minutes=minutes_ago),
            type="text",
            text="Quero ver o cardápio",
            profile_name="Cliente",
        ),
    )
    return message.conversation


def _with_catalog(channel) -> None:
    WhatsAppChannel.objects.filter(pk=channel.pk).update(catalog_id=CATALOG)
    channel.refresh_from_db()


SPECS = [
    OutboundSpec(type="product", content={"sku": "PIZZA-MARG-G", "body": "A mais pedida"}),
    OutboundSpec(type="product_list", content=brl_list()),
    OutboundSpec(type="catalog", content={"body": "Veja o cardápio", "thumbnail_sku": "PIZZA-MARG-G"}),
]


@pytest.mark.django_db
def test_a_product_list_is_queued_as_neutral_content_and_sent_as_the_fixture(channel, tenant):
    _with_catalog(channel)
    conversation = _conversation(channel, minutes_ago=5)
    message, created = message_send(
        actor=owner_of(tenant), conversation=conversation, spec=OutboundSpec(type="product_list", content=brl_list())
    )
    message.refresh_from_db()
    assert (created, message.type, message.status, message.text) == (
        True,
        "product_list",
        "queued",
        "Escolha seus itens e envie o carrinho quando terminar.",
    )
    assert message.content == {"v": 1, "kind": "product_list", **brl_list()}
    payload = build_payload(message, to=TO, client=None, channel=channel)
    expected = load_fixture("commerce_send_product_list_request_brl.json")
    assert {k: v for k, v in payload.items() if k != "biz_opaque_callback_data"} == expected


@pytest.mark.django_db
@pytest.mark.parametrize("spec", SPECS, ids=lambda spec: spec.type)
def test_a_number_without_a_catalog_refuses_them_and_nothing_is_queued(channel, tenant, spec):
    conversation = _conversation(channel, minutes_ago=5)
    with pytest.raises(ValidationFailed) as excinfo:
        message_send(actor=owner_of(tenant), conversation=conversation, spec=spec)
    assert excinfo.value.code == "catalog_missing"
    assert excinfo.value.message.startswith("This WhatsApp number has no catalog connected")
    assert not Message.objects.filter(direction="out").exists()


@pytest.mark.django_db
@pytest.mark.parametrize("spec", SPECS, ids=lambda spec: spec.type)
def test_outside_the_24_hour_window_they_are_refused_and_nothing_is_queued(channel, tenant, spec):
    _with_catalog(channel)
    conversation = _conversation(channel, minutes_ago=24 * 60 + 1)
    with pytest.raises(ReplyWindowClosed) as excinfo:
        message_send(actor=owner_of(tenant), conversation=conversation, spec=spec)
    assert (excinfo.value.code, excinfo.value.status_code) == ("reply_window_closed", 409)
    assert not Message.objects.filter(direction="out").exists()


@pytest.mark.django_db
@pytest.mark.parametrize("spec", SPECS, ids=lambda spec: spec.type)
def test_inside_the_window_with_a_catalog_each_kind_is_queued(channel, tenant, spec):
    _with_catalog(channel)
    conversation = _conversation(channel, minutes_ago=23 * 60 + 59)
    message, created = message_send(actor=owner_of(tenant), conversation=conversation, spec=spec)
    assert (created, message.status, message.type) == (True, "queued", spec.type)
    fake_accepts(build_payload(message, to=TO, client=None, channel=channel))


@pytest.mark.django_db
def test_a_header_on_a_product_is_refused_naming_it_and_nothing_is_queued(channel, tenant):
    _with_catalog(channel)
    conversation = _conversation(channel, minutes_ago=5)
    with pytest.raises(ValidationFailed) as excinfo:
        message_send(
            actor=owner_of(tenant),
            conversation=conversation,
            spec=OutboundSpec(type="product", content={"sku": "A", "header": "Oferta"}),
        )
    assert excinfo.value.message == "header is not allowed in a product message."
    assert not Message.objects.filter(direction="out").exists()


# -- the customer's phone simulator: products from the fake's catalog, a cart, questions about a product ------


def _fake_catalog(fake: FakeSetup) -> str:
    catalog_id = fake.admin.catalog_create("Pizzaria", waba_id=fake.waba_id, catalog_id=CATALOG)
    linked = fake.graph.post(f"/{fake.waba_id}/product_catalogs", json={"catalog_id": catalog_id})
    assert linked.status_code == 200, linked.text
    for sku, name, price, image in (
        ("PIZZA-MARG-G", "Pizza Margherita", 5990, "https://cdn.example.com/marg.jpg"),
        ("PIZZA-CALA-G", "Pizza Calabresa", 6290, ""),
        ("REFRI-LATA", "Refrigerante lata", 650, ""),
    ):
        body = {"retailer_id": sku, "name": name, "price": price, "currency": "BRL"}
        if image:
            body["image_url"] = image
        created = fake.graph.post(f"/{catalog_id}/products", json=body)
        assert created.status_code == 200, created.text
    return catalog_id


def _customer_message(fake: FakeSetup, kind: str) -> tuple[dict[str, Any], bytes]:
    """The webhook message of the customer's last message of ``kind`` (statuses of our sends arrive too)."""

    def found() -> tuple[dict[str, Any], bytes] | None:
        for post in reversed(fake.sink.posts()):
            for message in post.json()["entry"][0]["changes"][0]["value"].get("messages") or []:
                if message["type"] == kind:
                    return message, post.body
        return None

    return wait_for(found)


def _simulated(fake: FakeSetup) -> list[dict[str, Any]]:
    state = fake.http.get("/_fake/simulator/state", params={"pnid": fake.pnid, "customer": fake.customer}).json()
    return state["messages"]


MARGHERITA = {
    "catalog_id": CATALOG,
    "retailer_id": "PIZZA-MARG-G",
    "known": True,
    "name": "Pizza Margherita",
    "description": "",
    "price_display": "R$59,90",
    "item_price": 59.9,
    "currency": "BRL",
    "image_url": "https://cdn.example.com/marg.jpg",
    "available": True,
}


def test_the_simulator_shows_each_product_message_with_the_catalogs_names_prices_and_images(fake: FakeSetup):
    _fake_catalog(fake)
    fake.open_window()
    sends = [
        product_payload(fake.customer, neutral("product", {"sku": "PIZZA-MARG-G", "body": "A mais pedida"}),
                        catalog_id=CATALOG),
        product_payload(fake.customer, neutral("product_list", brl_list()), catalog_id=CATALOG),
        product_payload(fake.customer, neutral("catalog", {"body": "Veja tudo"}), catalog_id=CATALOG),
        product_payload(fake.customer, neutral("product", {"sku": "SUMIU"}), catalog_id=CATALOG),
    ]  # fmt: skip
    responses = [fake.send(payload) for payload in sends]
    assert [r.status_code for r in responses] == [200, 200, 200, 200], [r.text for r in responses]

    product, product_list, catalog, unknown = (
        m["interactive"]["commerce"] for m in _simulated(fake) if m["direction"] == "out"
    )
    assert product == {"kind": "product", "cart_enabled": True, "catalog_id": CATALOG, "product": MARGHERITA}
    assert [(s["title"], [p["retailer_id"] for p in s["products"]]) for s in product_list["sections"]] == [
        ("Pizzas", ["PIZZA-MARG-G", "PIZZA-CALA-G"]),
        ("Bebidas", ["REFRI-LATA"]),
    ]
    # A SKU the catalog does not have is shown by its SKU only.
    assert product_list["sections"][1]["products"][0]["price_display"] == "R$6,50"
    assert catalog["thumbnail"] == MARGHERITA  # none named: the first product's
    assert [p["name"] for p in catalog["products"]] == ["Pizza Margherita", "Pizza Calabresa", "Refrigerante lata"]
    assert unknown["product"] == {"catalog_id": CATALOG, "retailer_id": "SUMIU", "known": False}
    script = fake.http.get("/simulator/simulator.js").text
    for words in ('"Add to cart"', '"Message business"', '"View catalog"', '"Send cart"', "MAX_QUANTITY = 99"):
        assert words in script or words.strip('"') in fake.http.get("/simulator/").text


def test_the_simulators_cart_arrives_as_the_order_webhook_of_commerce_section_3(fake: FakeSetup):
    _fake_catalog(fake)
    fake.open_window()
    assert (
        fake.send(product_payload(fake.customer, neutral("product_list", brl_list()), catalog_id=CATALOG)).status_code
        == 200
    )
    shown = next(m for m in _simulated(fake) if m["direction"] == "out")["interactive"]["commerce"]
    pizza, refri = shown["sections"][0]["products"][0], shown["sections"][1]["products"][0]
    # What the page's "Send cart" posts: the products' catalog, prices and currency as the simulator shows them.
    order = {
        "catalog_id": shown["catalog_id"],
        "text": "",
        "product_items": [
            {"product_retailer_id": pizza["retailer_id"], "quantity": 1, "item_price": pizza["item_price"],
             "currency": pizza["currency"]},
            {"product_retailer_id": refri["retailer_id"], "quantity": 3, "item_price": refri["item_price"],
             "currency": refri["currency"]},
        ],
    }  # fmt: skip
    fake.admin.inbound(phone_number_id=fake.pnid, from_=fake.customer, name="Ana Souza", type="order", order=order)
    delivered, body = _customer_message(fake, "order")
    expected = load_fixture("commerce_inbound_order_brl.json")["entry"][0]["changes"][0]["value"]["messages"][0]
    assert delivered["order"] == expected["order"]
    assert b'"item_price":59.9' in body  # a JSON number in major units, never cents
    assert shape(delivered) == shape(expected)


def test_message_business_on_a_product_sends_a_text_with_the_referred_product(fake: FakeSetup):
    _fake_catalog(fake)
    fake.open_window()
    sent = fake.send(product_payload(fake.customer, neutral("product", {"sku": "PIZZA-MARG-G"}), catalog_id=CATALOG))
    wamid = sent.json()["messages"][0]["id"]
    fake.admin.inbound(
        phone_number_id=fake.pnid,
        from_=fake.customer,
        type="text",
        text="Ainda tem?",
        context_message_id=wamid,
        referred_product={"catalog_id": CATALOG, "product_retailer_id": "PIZZA-MARG-G"},
    )
    delivered, _body = _customer_message(fake, "text")
    assert delivered["context"] == {
        "from": fake.display_number,
        "id": wamid,
        "referred_product": {"catalog_id": CATALOG, "product_retailer_id": "PIZZA-MARG-G"},
    }
    expected = load_fixture("inbound_text_product_inquiry_context.json")["entry"][0]["changes"][0]["value"]["messages"][
        0
    ]
    assert shape(delivered) == shape(expected)
    question = [m for m in _simulated(fake) if m["direction"] == "in"][-1]
    assert question["referred_product"] == MARGHERITA


@pytest.mark.django_db
def test_a_cart_from_the_simulator_becomes_an_order_in_the_helpdesk(fake: FakeSetup, channel, tenant, webhook):
    from payments.models import Order, Product

    Product.objects.create(tenant=tenant, retailer_id="PIZZA-MARG-G", name="Pizza Margherita", price=5990)
    Product.objects.create(tenant=tenant, retailer_id="REFRI-LATA", name="Refrigerante lata", price=650)
    _fake_catalog(fake)
    order = {
        "catalog_id": CATALOG,
        "text": "Sem cebola",
        "product_items": [
            {"product_retailer_id": "PIZZA-MARG-G", "quantity": 2, "item_price": 59.9, "currency": "BRL"},
            {"product_retailer_id": "REFRI-LATA", "quantity": 3, "item_price": 6.5, "currency": "BRL"},
        ],
    }
    fake.admin.inbound(phone_number_id=fake.pnid, from_=fake.customer, name="Ana", type="order", order=order)
    _order, raw = _customer_message(fake, "order")
    response = webhook.post(channel, raw)
    assert response.status_code == 200
    cart = Message.objects.get(type="order")
    assert cart.content["items"] == [
        {"sku": "PIZZA-MARG-G", "quantity": 2, "unit_price": 5990, "currency": "BRL"},
        {"sku": "REFRI-LATA", "quantity": 3, "unit_price": 650, "currency": "BRL"},
    ]
    made = Order.objects.get(tenant=tenant, cart_message=cart)
    assert (made.source, made.subtotal, made.total) == ("cart", 2 * 5990 + 3 * 650, 2 * 5990 + 3 * 650)
    assert [(line.quantity, line.unit_price, line.catalog_price) for line in made.lines.order_by("id")] == [
        (2, 5990, 5990),
        (3, 650, 650),
    ]


@pytest.mark.e2e
def test_the_customer_fills_a_cart_and_asks_about_a_product_in_a_real_browser(fake: FakeSetup):
    chromium = shutil.which("chromium")
    if chromium is None:
        if os.environ.get("E2E_REQUIRED") == "1":
            pytest.fail("Chromium not installed; E2E_REQUIRED=1 forbids skipping browser tests.")
        pytest.skip("Chromium not installed (apt-get install chromium)")
    from playwright.sync_api import expect, sync_playwright

    _fake_catalog(fake)
    fake.open_window()
    sent = fake.send(product_payload(fake.customer, neutral("product_list", brl_list()), catalog_id=CATALOG))
    wamid = sent.json()["messages"][0]["id"]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium, headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            page = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(f"{fake.base_url}/simulator/?customer={fake.customer}&name=Ana")
            bubble = page.locator(f'.sim-msg[data-wamid="{wamid}"]')
            expect(bubble.locator('[data-testid="sim-product"]')).to_have_count(3)
            expect(bubble.locator('[data-testid="sim-product-name"]').first).to_have_text("Pizza Margherita")
            expect(bubble.locator('[data-testid="sim-product-price"]').first).to_have_text("R$59,90")

            margherita = bubble.locator('[data-sku="PIZZA-MARG-G"]')
            margherita.locator('[data-testid="sim-add-to-cart"]').click()
            margherita.locator('[data-testid="sim-add-to-cart"]').click()
            bubble.locator('[data-sku="REFRI-LATA"] [data-testid="sim-add-to-cart"]').click()
            refri = page.locator('[data-testid="sim-cart-line"][data-sku="REFRI-LATA"] input')
            refri.fill("150")  # more than WhatsApp allows: kept at 99
            refri.dispatch_event("change")
            expect(page.locator('[data-testid="sim-cart-line"][data-sku="REFRI-LATA"] input')).to_have_value("99")
            page.fill("#sim-cart-note", "Sem cebola")
            page.click("#sim-cart-send")
            expect(page.locator("#sim-cart")).to_be_hidden()

            order, _body = _customer_message(fake, "order")
            assert order["order"] == {
                "catalog_id": CATALOG,
                "text": "Sem cebola",
                "product_items": [
                    {"product_retailer_id": "PIZZA-MARG-G", "quantity": 2, "item_price": 59.9, "currency": "BRL"},
                    {"product_retailer_id": "REFRI-LATA", "quantity": 99, "item_price": 6.5, "currency": "BRL"},
                ],
            }

            bubble.locator('[data-sku="PIZZA-CALA-G"] [data-testid="sim-message-business"]').click()
            expect(page.locator("#sim-referral")).to_contain_text("Pizza Calabresa")
            page.fill("#sim-text", "Tem borda recheada?")
            page.click("#sim-send")
            expect(page.locator('[data-testid="sim-referred-product"]')).to_contain_text("Pizza Calabresa · R$62,90")
            question, _body = _customer_message(fake, "text")
            assert question["context"] == {
                "from": fake.display_number,
                "id": wamid,
                "referred_product": {"catalog_id": CATALOG, "product_retailer_id": "PIZZA-CALA-G"},
            }
            assert errors == []
        finally:
            browser.close()


def test_with_catalog_checks_on_the_fake_refuses_products_its_catalog_lacks(fake: FakeSetup):
    _fake_catalog(fake)
    fake.open_window()
    fake.admin.settings(check_catalog_products=True)
    try:
        known = product_payload(fake.customer, neutral("product", {"sku": "PIZZA-MARG-G"}), catalog_id=CATALOG)
        unknown = product_payload(fake.customer, neutral("product", {"sku": "SUMIU"}), catalog_id=CATALOG)
        listed = product_payload(
            fake.customer,
            neutral("product_list", {**brl_list(), "sections": [{"title": "A", "skus": ["REFRI-LATA", "SUMIU"]}]}),
            catalog_id=CATALOG,
        )
        other_catalog = product_payload(fake.customer, neutral("product", {"sku": "REFRI-LATA"}), catalog_id="999")
        assert fake.send(known).status_code == 200
        refused = [fake.send(payload) for payload in (unknown, listed, other_catalog)]
        assert [
            (r.status_code, r.json()["error"]["code"], r.json()["error"]["error_data"]["details"]) for r in refused
        ] == [
            (400, 131009, f"Product SUMIU is not available in catalog {CATALOG}."),
            (400, 131009, f"Product SUMIU is not available in catalog {CATALOG}."),
            (400, 131009, "Catalog 999 is not connected to this WhatsApp Business Account."),
        ]
    finally:
        fake.admin.settings(check_catalog_products=False)


def test_with_the_cart_turned_off_the_simulator_offers_no_cart(fake: FakeSetup):
    _fake_catalog(fake)
    fake.open_window()
    turned_off = fake.graph.post(f"/{fake.pnid}/whatsapp_commerce_settings", params={"is_cart_enabled": "false"})
    assert turned_off.status_code == 200, turned_off.text
    try:
        payload = product_payload(fake.customer, neutral("product", {"sku": "REFRI-LATA"}), catalog_id=CATALOG)
        assert fake.send(payload).status_code == 200
        shown = next(m for m in _simulated(fake) if m["direction"] == "out")["interactive"]["commerce"]
        assert (shown["cart_enabled"], shown["product"]["name"]) == (False, "Refrigerante lata")
    finally:
        fake.graph.post(f"/{fake.pnid}/whatsapp_commerce_settings", params={"is_cart_enabled": "true"})
