"""The orders' pages: the list (filters, totals) and an order (lines, warning, status, history) for whoever sees
its conversation; a new order from a conversation; the order card under the customer's cart and the contact
panel's orders. An agent never sees an order of a conversation they cannot see."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from conversations.models import Message
from conversations.services.actions import conversation_assign
from payments.models import Order, Product
from payments.orders import order_create, order_status_set
from payments.selectors import workspace_zone
from tenants.models import AuditLogEntry
from tenants.permissions import BuiltinRole
from tests.factories import add_member, make_tenant, owner_of
from tests.whatsapp.conftest import PHONE_NUMBER_ID, WebhookPoster, load_fixture, make_channel, retarget

pytestmark = pytest.mark.django_db

BASE = "/t/acme/orders/"


@pytest.fixture
def channel(tenant):
    return make_channel(tenant)


@pytest.fixture
def webhook(django_capture_on_commit_callbacks):
    return WebhookPoster(django_capture_on_commit_callbacks)


@pytest.fixture
def conversation(tenant, channel, webhook):
    webhook.post(channel, retarget(load_fixture("inbound_text.json"), phone_number_id=PHONE_NUMBER_ID))
    return Message.objects.get(tenant=tenant).conversation


@pytest.fixture
def agent(tenant, channel):
    member = add_member(tenant, BuiltinRole.AGENT)
    channel.inbox.members.add(member.user)
    return member


def _client(membership) -> Client:
    client = Client()
    client.force_login(membership.user)
    return client


def _order(tenant, conversation, amount: int = 2500, description: str = "Recarga") -> Order:
    return order_create(actor=owner_of(tenant), conversation=conversation, amount=amount, description=description)


def _numbers(response) -> list[str]:
    html = response.content.decode()
    return [part.split('"', 1)[0] for part in html.split('data-order="')[1:]]


def test_the_list_filters_by_status_number_customer_and_day_with_totals(tenant, conversation):
    first, second = _order(tenant, conversation, 2500), _order(tenant, conversation, 1000)
    order_status_set(actor=owner_of(tenant), order=second, status="canceled")
    Order.objects.filter(pk=first.pk).update(created_at=timezone.now() - timedelta(days=3))
    client = _client(owner_of(tenant))

    everything = client.get(BASE)
    assert everything.status_code == 200
    assert _numbers(everything) == ["2", "1"]
    assert "2 orders, R$35.00 in all." in everything.content.decode()
    assert _numbers(client.get(BASE, {"status": "canceled"})) == ["2"]
    assert _numbers(client.get(BASE, {"q": "#1"})) == ["1"]
    name = conversation.contact.display_name
    assert _numbers(client.get(BASE, {"q": name[:4]})) == ["2", "1"]
    assert _numbers(client.get(BASE, {"q": "Nobody at all"})) == []
    # A day is the workspace's (São Paulo's): from 21:00 there, UTC's date is already the next one.
    today = timezone.localdate(timezone=workspace_zone(tenant)).isoformat()
    assert _numbers(client.get(BASE, {"since": today})) == ["2"]
    # What cannot be read is left out, never an error.
    assert _numbers(client.get(BASE, {"status": "bogus", "since": "2026-13-45", "q": "\x00"})) == ["2", "1"]


def test_an_agent_sees_the_orders_of_the_conversations_they_see_and_no_other(tenant, conversation, agent):
    order = _order(tenant, conversation)
    client = _client(agent)
    assert _numbers(client.get(BASE)) == ["1"]
    assert client.get(f"{BASE}1/").status_code == 200

    conversation_assign(actor=owner_of(tenant), conversation=conversation, assignee=owner_of(tenant).user)
    assert _numbers(client.get(BASE)) == []
    assert client.get(f"{BASE}1/").status_code == 404
    response = client.post(f"{BASE}1/status/", {"status": "canceled"})
    assert response.status_code == 404
    assert Order.objects.get(pk=order.pk).status == "pending"


def test_another_workspaces_order_is_a_404(tenant, conversation):
    _order(tenant, conversation)
    stranger = owner_of(make_tenant("Other", slug="other"))
    client = _client(stranger)
    assert client.get(f"{BASE}1/").status_code == 404
    assert client.get("/t/other/orders/1/").status_code == 404
    assert client.post("/t/other/orders/1/status/", {"status": "canceled"}).status_code == 404
    assert Order.objects.get(tenant=tenant).status == "pending"


def test_an_order_shows_its_lines_warning_and_history_and_moves_on(tenant, conversation, agent):
    Product.objects.create(tenant=tenant, retailer_id="CARTAO", name="Cartão", price=500)
    order = order_create(actor=agent, conversation=conversation, lines=[], amount=2500, description="Recarga avulsa")
    client = _client(agent)
    page = client.get(f"{BASE}{order.number}/").content.decode()
    assert "Recarga avulsa" in page and "R$25.00" in page
    assert 'value="processing"' not in page  # not paid yet
    assert 'value="canceled"' in page
    assert 'value="paid"' not in page  # agents do not mark orders paid

    refused = client.post(f"{BASE}{order.number}/status/", {"status": "paid"}, follow=True)
    assert "You do not have permission" in refused.content.decode()
    assert Order.objects.get(pk=order.pk).status == "pending"

    admin = _client(owner_of(tenant))
    assert 'value="paid"' in admin.get(f"{BASE}{order.number}/").content.decode()
    response = admin.post(f"{BASE}{order.number}/status/", {"status": "paid", "note": "Pix no extrato"})
    assert response.status_code == 302
    assert Order.objects.get(pk=order.pk).status == "paid"
    assert client.post(f"{BASE}{order.number}/status/", {"status": "processing"}).status_code == 302
    assert Order.objects.get(pk=order.pk).status == "processing"
    history = client.get(f"{BASE}{order.number}/").content.decode().split("data-order-history", 1)[1]
    assert history.count("<li>") == 3
    assert "Pix no extrato" in history
    assert AuditLogEntry.objects.filter(tenant=tenant, action="order.status_changed").count() == 2


def test_a_status_the_order_cannot_take_is_said_and_nothing_changes(tenant, conversation):
    order = _order(tenant, conversation)
    client = _client(owner_of(tenant))
    response = client.post(f"{BASE}{order.number}/status/", {"status": "shipped"}, follow=True)
    assert "cannot become shipped" in response.content.decode()
    assert Order.objects.get(pk=order.pk).status == "pending"
    response = client.post(f"{BASE}{order.number}/status/", {}, follow=True)
    assert "Choose processing, shipped, completed or canceled." in response.content.decode()
    assert AuditLogEntry.objects.filter(tenant=tenant, action="order.status_changed").count() == 0


def test_an_agent_makes_an_order_from_the_conversation(tenant, conversation, agent):
    recarga = Product.objects.create(tenant=tenant, retailer_id="RECARGA-25", name="Recarga R$ 25", price=2500)
    Product.objects.create(tenant=tenant, retailer_id="HIDDEN", name="Escondido", price=100, visible=False)
    client = _client(agent)
    url = f"/t/acme/inbox/c/{conversation.display_id}/orders/new/"
    form = client.get(url).content.decode()
    assert "Recarga R$ 25" in form and "Escondido" not in form

    response = client.post(url, {f"qty-{recarga.pk}": "2", "shipping": "5.00"})
    assert response.status_code == 302
    order = Order.objects.get(tenant=tenant)
    assert response.headers["Location"] == f"{BASE}{order.number}/"
    assert (order.total, order.shipping, order.source, order.created_by_id) == (5500, 500, "agent", agent.user_id)


@pytest.mark.parametrize(
    "data",
    [{}, {"qty-PRODUCT": "abc"}, {"qty-PRODUCT": "0"}, {"amount": "12,50"}, {"amount": "-3", "description": "x"}],
)
def test_an_order_form_that_cannot_be_made_says_why_and_makes_nothing(tenant, conversation, data):
    recarga = Product.objects.create(tenant=tenant, retailer_id="RECARGA-25", name="Recarga R$ 25", price=2500)
    data = {key.replace("PRODUCT", str(recarga.pk)): value for key, value in data.items()}
    response = _client(owner_of(tenant)).post(f"/t/acme/inbox/c/{conversation.display_id}/orders/new/", data)
    assert response.status_code == 400
    assert 'class="errorlist' in response.content.decode()
    assert not Order.objects.exists()


def test_a_conversation_the_agent_cannot_see_takes_no_order(tenant, conversation, agent):
    conversation_assign(actor=owner_of(tenant), conversation=conversation, assignee=owner_of(tenant).user)
    url = f"/t/acme/inbox/c/{conversation.display_id}/orders/new/"
    client = _client(agent)
    assert client.get(url).status_code == 404
    assert client.post(url, {"amount": "10,00", "description": "x"}).status_code == 404
    assert not Order.objects.exists()


def test_the_cart_shows_its_order_and_the_contact_panel_lists_the_orders(tenant, channel, conversation, webhook):
    Product.objects.create(tenant=tenant, retailer_id="PIZZA-MARG-G", name="Pizza", price=5990)
    webhook.post(channel, retarget(load_fixture("commerce_inbound_order_brl.json"), phone_number_id=PHONE_NUMBER_ID))
    order = Order.objects.get(tenant=tenant, source="cart")
    cart = Message.objects.get(tenant=tenant, type=Message.Type.ORDER)
    client = _client(owner_of(tenant))

    messages = client.get(f"/t/acme/inbox/c/{cart.conversation.display_id}/messages/").json()["html"]
    card = messages.split(f'data-order-card="{order.number}"', 1)[1].split("</div>", 1)[0]
    assert "Pending" in card and "R$79.40" in card and "Prices differ from the catalog" in card

    sidebar = client.get(f"/t/acme/inbox/c/{cart.conversation.display_id}/sidebar/").json()["html"]
    section = sidebar.split("data-contact-orders", 1)[1].split("</section>", 1)[0]
    assert f"#{order.number}" in section and "New order" in section


def test_the_audit_log_shows_price_and_status_changes_in_words(tenant, conversation):
    from payments.catalog import ProductSpec, product_create, product_spec_of, product_update
    from payments.orders import order_mark_paid

    owner = owner_of(tenant)
    product = product_create(
        actor=owner, tenant=tenant, spec=ProductSpec(retailer_id="R25", name="Recarga", price=2500)
    )
    product_update(actor=owner, product=product, spec=product_spec_of(product, price=3000))
    order_mark_paid(actor=owner, order=_order(tenant, conversation))

    page = _client(owner).get("/t/acme/settings/audit-log/").content.decode()
    assert "from R$25.00 to R$30.00" in page
    assert "from Pending to Paid" in page
