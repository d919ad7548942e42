"""Orders: a customer's WhatsApp cart becomes one order (however often its webhook or event comes), priced as
the customer saw it and checked against our catalog; agents make orders from products or a free amount;
statuses move only along the allowed transitions, each change audited; refusals change nothing."""

from __future__ import annotations

import copy

import pytest

from conversations.models import Message
from helpdesk.exceptions import PermissionDenied, ValidationFailed
from payments.catalog import ProductSpec, product_create
from payments.models import Order, OrderCounter, OrderLine, Product
from payments.orders import LineSpec, order_create, order_from_cart, order_mark_paid, order_status_set
from tenants.models import AuditLogEntry
from tenants.permissions import BuiltinRole
from tests.factories import add_member, make_tenant, owner_of
from tests.whatsapp.conftest import PHONE_NUMBER_ID, WebhookPoster, load_fixture, make_channel, retarget

pytestmark = pytest.mark.django_db

CART = "commerce_inbound_order_brl.json"  # PIZZA-MARG-G: 1 at 59.9, REFRI-LATA: 3 at 6.5


def _product(tenant, sku: str, price: int, **changes) -> Product:
    return product_create(
        actor=owner_of(tenant), tenant=tenant, spec=ProductSpec(retailer_id=sku, name=f"Produto {sku}", price=price)
    ) if not changes else Product.objects.create(
        tenant=tenant, retailer_id=sku, name=f"Produto {sku}", price=price, **changes
    )  # fmt: skip


def _lines(order: Order) -> list[tuple]:
    return list(
        OrderLine.objects.filter(order=order)
        .order_by("position")
        .values_list("retailer_id", "name", "quantity", "unit_price", "catalog_price")
    )


def _audit(tenant) -> list[tuple[str, str, dict]]:
    rows = AuditLogEntry.objects.filter(tenant=tenant, action__startswith="order.").order_by("id")
    return [(entry.action, entry.actor_label, entry.extra) for entry in rows]


def _cart(wamid: str = "", **order) -> dict:
    payload = retarget(load_fixture(CART), phone_number_id=PHONE_NUMBER_ID)
    message = payload["entry"][0]["changes"][0]["value"]["messages"][0]
    if wamid:
        message["id"] = wamid
    message["order"].update(order)
    return payload


@pytest.fixture
def channel(tenant):
    return make_channel(tenant)


@pytest.fixture
def webhook(django_capture_on_commit_callbacks):
    return WebhookPoster(django_capture_on_commit_callbacks)


@pytest.fixture
def catalog(tenant):
    return {"pizza": _product(tenant, "PIZZA-MARG-G", 5990), "refri": _product(tenant, "REFRI-LATA", 600)}


# --- from the customer's cart ----------------------------------------------------------------------------


def test_a_cart_sent_on_whatsapp_becomes_one_order_priced_as_the_customer_saw_it(tenant, channel, catalog, webhook):
    assert webhook.post(channel, _cart()).status_code == 200

    order = Order.objects.get(tenant=tenant)
    cart = Message.objects.get(tenant=tenant, type=Message.Type.ORDER)
    assert (order.number, order.status, order.source, order.currency) == (1, "pending", "cart", "BRL")
    assert (order.contact_id, order.conversation_id, order.cart_message_id) == (
        cart.conversation.contact_id,
        cart.conversation_id,
        cart.pk,
    )
    assert _lines(order) == [
        ("PIZZA-MARG-G", "Produto PIZZA-MARG-G", 1, 5990, 5990),
        ("REFRI-LATA", "Produto REFRI-LATA", 3, 650, 600),  # the customer's price, ours beside it
    ]
    assert (order.subtotal, order.discount, order.shipping, order.tax, order.total) == (7940, 0, 0, 0, 7940)
    assert order.price_warning is True
    assert _audit(tenant) == [("order.created", "system", {"source": "cart", "total": 7940, "currency": "BRL"})]


def test_the_same_cart_twice_or_its_event_twice_makes_one_order(tenant, channel, catalog, webhook):
    payload = _cart()
    webhook.post(channel, payload)
    webhook.post(channel, copy.deepcopy(payload))  # Meta repeats the webhook
    cart = Message.objects.get(tenant=tenant, type=Message.Type.ORDER)

    assert order_from_cart(message=cart) == Order.objects.get(tenant=tenant)  # the event delivered again

    assert Order.objects.filter(tenant=tenant).count() == 1
    assert OrderLine.objects.filter(tenant=tenant).count() == 2
    assert OrderCounter.objects.get(tenant=tenant).last_number == 1
    assert len(_audit(tenant)) == 1


def test_a_cart_matching_the_catalog_has_no_warning_and_unknown_products_have_one(tenant, channel, webhook):
    _product(tenant, "PIZZA-MARG-G", 5990)
    _product(tenant, "REFRI-LATA", 650)
    webhook.post(channel, _cart("wamid.first"))
    first = Order.objects.get(tenant=tenant)
    assert (first.price_warning, first.total) == (False, 7940)

    items = [{"product_retailer_id": "NOT-OURS", "quantity": 2, "item_price": 10, "currency": "BRL"}]
    webhook.post(channel, _cart("wamid.second", product_items=items, text="Sem cebola"))
    second = Order.objects.exclude(pk=first.pk).get(tenant=tenant)
    assert _lines(second) == [("NOT-OURS", "NOT-OURS", 2, 1000, None)]
    assert (second.number, second.total, second.price_warning, second.note) == (2, 2000, True, "Sem cebola")


def test_another_workspaces_product_with_the_same_sku_is_not_our_catalog(tenant, channel, webhook):
    other = make_tenant("Other", slug="other")
    _product(other, "PIZZA-MARG-G", 5990)
    webhook.post(channel, _cart())
    order = Order.objects.get(tenant=tenant)
    assert _lines(order)[0] == ("PIZZA-MARG-G", "PIZZA-MARG-G", 1, 5990, None)
    assert order.price_warning is True
    assert not Order.objects.filter(tenant=other).exists()


def test_cart_lines_that_cannot_be_priced_or_counted_are_left_out(tenant, channel, catalog, webhook):
    items = [
        {"product_retailer_id": "PIZZA-MARG-G", "quantity": 0, "item_price": 59.9, "currency": "BRL"},
        {"product_retailer_id": "REFRI-LATA", "quantity": 2, "item_price": 1.5, "currency": "USD"},  # ours: 6,00
        {"product_retailer_id": "UNKNOWN", "quantity": 1, "item_price": 3, "currency": "USD"},  # no price at all
    ]
    webhook.post(channel, _cart(product_items=items))
    order = Order.objects.get(tenant=tenant)
    assert _lines(order) == [("REFRI-LATA", "Produto REFRI-LATA", 2, 600, 600)]
    assert order.total == 1200


def test_a_cart_with_nothing_to_price_makes_no_order(tenant, channel, webhook):
    items = [{"product_retailer_id": "UNKNOWN", "quantity": 1, "item_price": 3, "currency": "USD"}]
    webhook.post(channel, _cart(product_items=items))
    assert Message.objects.filter(tenant=tenant, type=Message.Type.ORDER).count() == 1  # stored all the same
    assert not Order.objects.filter(tenant=tenant).exists()
    assert not OrderCounter.objects.filter(tenant=tenant, last_number__gt=0).exists()


def test_an_agents_text_is_no_cart(tenant, channel, catalog, webhook):
    payload = retarget(load_fixture("inbound_text.json"), phone_number_id=PHONE_NUMBER_ID)
    webhook.post(channel, payload)
    text = Message.objects.get(tenant=tenant)
    assert order_from_cart(message=text) is None
    assert not Order.objects.filter(tenant=tenant).exists()


# --- by an agent -----------------------------------------------------------------------------------------


@pytest.fixture
def conversation(tenant, channel, webhook):
    payload = retarget(load_fixture("inbound_text.json"), phone_number_id=PHONE_NUMBER_ID)
    webhook.post(channel, payload)
    return Message.objects.get(tenant=tenant).conversation


def test_an_agent_orders_products_at_the_catalogs_prices_with_shipping_and_a_discount(tenant, catalog, conversation):
    agent = add_member(tenant, BuiltinRole.AGENT)
    order = order_create(
        actor=agent,
        conversation=conversation,
        lines=[LineSpec("REFRI-LATA", 2), LineSpec("PIZZA-MARG-G", 1)],
        shipping=800,
        discount=190,
    )
    assert (order.number, order.source, order.status, order.created_by_id) == (1, "agent", "pending", agent.user_id)
    assert _lines(order) == [
        ("REFRI-LATA", "Produto REFRI-LATA", 2, 600, 600),
        ("PIZZA-MARG-G", "Produto PIZZA-MARG-G", 1, 5990, 5990),
    ]
    assert (order.subtotal, order.shipping, order.discount, order.total) == (7190, 800, 190, 7800)
    assert (order.contact_id, order.conversation_id, order.price_warning) == (
        conversation.contact_id,
        conversation.pk,
        False,
    )
    assert _audit(tenant) == [(
        "order.created", agent.user.email, {"source": "agent", "total": 7800, "currency": "BRL"}
    )]  # fmt: skip


def test_an_agent_charges_a_free_amount_for_what_they_describe(tenant, conversation):
    order = order_create(
        actor=owner_of(tenant), conversation=conversation, amount=12345, description="  Frete   expresso "
    )
    assert _lines(order) == [("", "Frete expresso", 1, 12345, None)]
    assert (order.total, order.description, order.price_warning) == (12345, "Frete expresso", False)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"lines": []}, "lines"),
        ({"lines": [LineSpec("NOPE", 1)]}, "lines"),
        ({"lines": [LineSpec("HIDDEN", 1)]}, "lines"),
        ({"lines": [LineSpec("SOLD-OUT", 1)]}, "lines"),
        ({"lines": [LineSpec("REFRI-LATA", 0)]}, "lines"),
        ({"lines": [LineSpec("REFRI-LATA", 1000)]}, "lines"),
        ({"lines": [LineSpec("REFRI-LATA", True)]}, "lines"),
        ({"lines": [LineSpec("REFRI-LATA", 1)], "discount": 601}, "discount"),
        ({"lines": [LineSpec("REFRI-LATA", 1)], "shipping": -1}, "shipping"),
        ({"lines": [LineSpec("REFRI-LATA", 1)], "shipping": 1.5}, "shipping"),
        ({"lines": [LineSpec("REFRI-LATA", 1)], "amount": 100, "description": "x"}, "amount"),
        ({"amount": 100}, "description"),
        ({"amount": 0, "description": "Nada"}, "amount"),
        ({"amount": 10_000_000_000, "description": "Demais"}, "amount"),
        ({"amount": 100, "description": "x" * 201}, "description"),
    ],
)
def test_an_order_that_cannot_be_made_is_refused_and_nothing_is_kept(tenant, catalog, conversation, kwargs, field):
    _product(tenant, "HIDDEN", 100, visible=False)
    _product(tenant, "SOLD-OUT", 100, availability=Product.Availability.OUT_OF_STOCK)
    with pytest.raises(ValidationFailed) as refused:
        order_create(actor=owner_of(tenant), conversation=conversation, **kwargs)
    assert list(refused.value.details) == [field]
    assert not Order.objects.filter(tenant=tenant).exists()
    assert not OrderLine.objects.filter(tenant=tenant).exists()
    assert not OrderCounter.objects.filter(tenant=tenant, last_number__gt=0).exists()
    assert _audit(tenant) == []


def test_another_workspaces_product_cannot_be_ordered(tenant, conversation):
    _product(make_tenant("Other", slug="other"), "REFRI-LATA", 600)
    with pytest.raises(ValidationFailed):
        order_create(actor=owner_of(tenant), conversation=conversation, lines=[LineSpec("REFRI-LATA", 1)])
    assert not Order.objects.exists()


def test_a_member_who_cannot_reply_makes_no_order(tenant, catalog, conversation):
    from tests.conversations.factories import make_role

    reader = add_member(tenant, make_role(tenant, ["conversations.view_all"]))
    with pytest.raises(PermissionDenied):
        order_create(actor=reader, conversation=conversation, lines=[LineSpec("REFRI-LATA", 1)])
    assert not Order.objects.exists()


def test_order_numbers_count_per_workspace(tenant, catalog, conversation):
    other = make_tenant("Other", slug="other")
    other_channel = make_channel(other, phone_number_id="999000111", waba_id="999000222")
    del other_channel
    first = order_create(actor=owner_of(tenant), conversation=conversation, amount=100, description="Um")
    second = order_create(actor=owner_of(tenant), conversation=conversation, amount=200, description="Dois")
    assert (first.number, second.number) == (1, 2)
    assert OrderCounter.objects.get(tenant=tenant).last_number == 2
    assert not OrderCounter.objects.filter(tenant=other).exists()


# --- status ----------------------------------------------------------------------------------------------


def _order(tenant, conversation) -> Order:
    return order_create(actor=owner_of(tenant), conversation=conversation, amount=2500, description="Recarga")


def test_an_order_is_paid_by_an_admin_then_fulfilled_each_step_audited(tenant, conversation):
    order = _order(tenant, conversation)
    admin, agent = owner_of(tenant), add_member(tenant, BuiltinRole.AGENT)

    paid = order_mark_paid(actor=admin, order=order, note="Pix conferido no extrato")
    assert (paid.status, paid.paid_at is not None) == ("paid", True)
    for status in ("processing", "shipped", "completed"):
        order = order_status_set(actor=agent, order=order, status=status)
        assert Order.objects.get(pk=order.pk).status == status

    assert [(action, extra) for action, _actor, extra in _audit(tenant)[1:]] == [
        ("order.status_changed", {"status": {"from": "pending", "to": "paid"}, "note": "Pix conferido no extrato"}),
        ("order.status_changed", {"status": {"from": "paid", "to": "processing"}}),
        ("order.status_changed", {"status": {"from": "processing", "to": "shipped"}}),
        ("order.status_changed", {"status": {"from": "shipped", "to": "completed"}}),
    ]


@pytest.mark.parametrize(
    ("steps", "refused"),
    [
        ((), "processing"),  # not paid yet
        ((), "shipped"),
        ((), "paid"),  # only through "mark as paid" or a payment
        ((), "refunded"),  # only through a refund
        (("paid",), "canceled"),  # a paid order is refunded, not canceled
        (("paid", "completed"), "processing"),
        (("canceled",), "processing"),
    ],
)
def test_a_status_the_order_cannot_take_is_refused_and_nothing_changes(tenant, conversation, steps, refused):
    order = _order(tenant, conversation)
    for step in steps:
        if step == "paid":
            order = order_mark_paid(actor=owner_of(tenant), order=order)
        else:
            order = order_status_set(actor=owner_of(tenant), order=order, status=step)
    before = (Order.objects.get(pk=order.pk).status, AuditLogEntry.objects.count())
    with pytest.raises(ValidationFailed):
        order_status_set(actor=owner_of(tenant), order=order, status=refused)
    assert (Order.objects.get(pk=order.pk).status, AuditLogEntry.objects.count()) == before


def test_only_who_manages_payments_marks_an_order_paid(tenant, conversation):
    order = _order(tenant, conversation)
    agent = add_member(tenant, BuiltinRole.AGENT)
    with pytest.raises(PermissionDenied):
        order_mark_paid(actor=agent, order=order)
    assert Order.objects.get(pk=order.pk).status == "pending"
    assert [action for action, _actor, _extra in _audit(tenant)] == ["order.created"]


def test_an_order_canceled_before_it_is_paid(tenant, conversation):
    order = order_status_set(actor=owner_of(tenant), order=_order(tenant, conversation), status="canceled")
    assert (order.status, order.paid_at) == ("canceled", None)
    with pytest.raises(ValidationFailed):
        order_mark_paid(actor=owner_of(tenant), order=order)
    assert Order.objects.get(pk=order.pk).status == "canceled"
