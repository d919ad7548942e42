"""The composer's "Products" picker in Chromium: search, pick two products, send them as a list; the bubble
shows them with the catalogue's names and prices, and names typed by the workspace never run as markup.

Only the ASGI server runs (no worker, no fake Cloud API): the message is stored and shown, its delivery is
not what this test looks at.
"""

from __future__ import annotations

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from conversations.models import Message
from payments.models import Product
from tenants.permissions import BuiltinRole
from tests.conversations.factories import make_conversation, make_message
from tests.e2e.conftest import BrowserErrors
from tests.e2e.ui import log_in
from tests.factories import add_member, make_tenant, make_user
from tests.whatsapp.conftest import make_channel
from whatsapp.models import WhatsAppChannel

pytestmark = pytest.mark.e2e

PASSWORD = "Inbox-products-password-42"
TIMEOUT_MS = 15_000


def test_an_agent_picks_two_products_and_sends_them_as_a_list(page: Page, browser_errors: BrowserErrors) -> None:
    tenant = make_tenant("Acme", slug="acme", owner=make_user("owner@acme.example", password=PASSWORD))
    ana = add_member(tenant, BuiltinRole.AGENT, user=make_user("ana@acme.example", name="Ana", password=PASSWORD))
    channel = make_channel(tenant)
    WhatsAppChannel.objects.filter(pk=channel.pk).update(catalog_id="194836987003835")
    channel.inbox.members.add(ana.user)
    for sku, name, price, category in (
        ("PIZZA-MARG-G", "Pizza Margherita", 5990, "Pizzas"),
        ("REFRI-LATA", '<img src=x onerror="window.pwned=1">Refri', 650, "Bebidas"),
        ("PIZZA-SECRETA", "Pizza secreta", 9900, "Pizzas"),
    ):
        Product.objects.create(
            tenant=tenant, retailer_id=sku, name=name, price=price, category=category, visible=sku != "PIZZA-SECRETA"
        )
    conversation = make_conversation(channel.inbox, name="Carla", assignee=ana, last_inbound_at=timezone.now())
    make_message(conversation, "O que tem hoje?")

    log_in(page, email=ana.user.email, password=PASSWORD)
    page.goto(f"/t/acme/inbox/c/{conversation.display_id}/")
    expect(page.locator("#inbox[data-live='1']")).to_be_attached(timeout=TIMEOUT_MS)
    page.click("[data-products-toggle]")
    products = page.locator("[data-products-list] li")
    expect(products).to_have_count(2)  # the hidden one is not offered
    page.fill("[data-products-search]", "margh")
    expect(products).to_have_count(1)
    products.locator("input[type=checkbox]").check()
    page.fill("[data-products-search]", "")
    expect(products).to_have_count(2)
    page.locator("[data-products-list] input[value='REFRI-LATA']").check()
    expect(page.locator("[data-products-count]")).to_have_text("2 products: sent as a list.")
    page.fill("[data-products-header]", "Cardápio de hoje")
    page.click("[data-products-send]")

    bubble = page.locator("article[data-type='product_list']")
    expect(bubble).to_have_count(1, timeout=TIMEOUT_MS)
    expect(bubble).to_contain_text("Pizza Margherita")
    expect(bubble).to_contain_text("R$59.90")
    expect(bubble).to_contain_text('<img src=x onerror="window.pwned=1">Refri')
    expect(page.locator("[data-products-picker]")).to_be_hidden()
    assert page.evaluate("window.pwned") is None
    sent = Message.objects.get(type="product_list")
    assert sent.content["sections"] == [
        {"title": "Pizzas", "skus": ["PIZZA-MARG-G"]},
        {"title": "Bebidas", "skus": ["REFRI-LATA"]},
    ]
    assert sent.content["header"] == "Cardápio de hoje"
    browser_errors.assert_none()
