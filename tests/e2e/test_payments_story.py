"""A sale in the chat, end to end in Chromium: catalog, cart, order, Pix, payment, partial refund.

Real processes on the test database, as in ``test_inbox_live``: the ASGI server (uvicorn, WebSockets through
Redis), a Celery worker, the fake WhatsApp Cloud API (its phone simulator is the customer's phone) and the fake
PSP (its API Pix is the workspace's bank, its ``/payer/`` page the customer's bank app), each in its own
process. An admin sets up the Pix account (which registers our webhook at the bank) and syncs the catalog to
WhatsApp; an agent sends the catalog; the customer fills a cart and sends it; the agent charges the order with
Pix; the customer pays it in their bank app; the bank's callback reaches the web process and the order turns
paid live on the agent's page; the admin gives part of it back and the customer is told. Every wait is
Playwright's ``expect`` or a poll with a timeout, never a sleep.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.utils import timezone, translation
from django.utils.translation import gettext
from playwright.sync_api import Locator, Page, expect

from conversations.models import Message
from payments.catalog import ProductSpec, product_create
from payments.fake import FakePspAdminClient
from payments.models import CatalogSync, Order, Payment, PaymentAccount, Refund
from payments.money import amount_format
from tenants.models import Tenant, User
from tenants.permissions import BuiltinRole
from tests.e2e.conftest import BrowserErrors, redis_processes_env
from tests.e2e.harness import VENV_BIN, ServerProcess, free_port
from tests.e2e.ui import log_in
from tests.factories import add_member, make_tenant, make_user, owner_of
from whatsapp.catalog import channel_catalog_set
from whatsapp.fake import FakeAdminClient, wait_for
from whatsapp.models import WhatsAppChannel

pytestmark = pytest.mark.e2e

SLUG = "pizzaria"
PASSWORD = "Payments-story-password-42"
TIMEOUT_MS = 15_000  # two shared cores: generous, never a sleep
REDIS_DB = "12"  # its own Redis database: broker and channel layer of these processes only
PNID, WABA, TOKEN, SECRET = "106540352249001", "102290129349001", "story-token", "story-app-secret"
CATALOG_ID = "194836987009001"
CUSTOMER, CUSTOMER_NAME = "5511987659001", "Carla Dias"
# The workspace's receiving account at the fake bank (its API Pix), as the bank gave it to the business.
PIX = {"client_id": "pizzaria-pix-client", "client_secret": "pizzaria-pix-secret", "key": "pix@pizzaria.example.com"}
PRODUCTS = (
    ProductSpec(retailer_id="PIZZA-MARG-G", name="Pizza Margherita", price=5990, category="Pizzas"),
    ProductSpec(retailer_id="REFRI-LATA", name="Refrigerante lata", price=650, category="Bebidas"),
    ProductSpec(retailer_id="PUDIM", name="Pudim de leite", price=1490, category="Sobremesas"),
)


@dataclass
class Stack:
    web_url: str
    psp_url: str
    wa_url: str
    wa: FakeAdminClient
    psp: FakePspAdminClient
    broker_url: str
    tenant: Tenant
    channel: WhatsAppChannel


@pytest.fixture
def stack(server_env: dict[str, str], start_process: Callable[..., ServerProcess], tmp_path: Path) -> Iterator[Stack]:
    """Workspace ``pizzaria`` (in Portuguese, as its customers) with a WhatsApp number naming a Meta catalog and
    three products not yet synced; the fake Cloud API, the fake PSP, the web server and a worker running."""
    from conversations.selectors import audience_cache_clear
    from whatsapp.services import channel_create

    env = redis_processes_env(server_env, redis_db=REDIS_DB, needs="The in-chat sale story's server, worker and fakes")
    audience_cache_clear()
    tenant = make_tenant(
        "Pizzaria Bella",
        slug=SLUG,
        locale="pt-br",
        owner=make_user("owner@pizzaria.example", name="Olivia Owner", password=PASSWORD, language="en"),
    )
    owner = owner_of(tenant)
    channel = channel_create(
        actor=owner,
        name="Pedidos",
        display_phone_number="+55 11 90000-9001",
        phone_number_id=PNID,
        waba_id=WABA,
        access_token=TOKEN,
        app_secret=SECRET,
        verify=False,
    )
    channel = channel_catalog_set(actor=owner, channel=channel, catalog_id=CATALOG_ID)
    for spec in PRODUCTS:
        product_create(actor=owner, tenant=tenant, spec=spec)

    wa_port, psp_port, web_port = free_port(), free_port(), free_port()
    wa_url, psp_url, web_url = (f"http://127.0.0.1:{port}" for port in (wa_port, psp_port, web_port))
    providers = {
        "fakebank": {
            "name": "Banco Fake",
            "api_url": f"{psp_url}/pix/api/v2",
            "token_url": f"{psp_url}/pix/oauth/token",
        }
    }
    # As `make run` wires them: the fake Cloud API is Meta, the fake PSP is the bank, this server is the site.
    env = env | {
        "WHATSAPP_API_BASE_URL": wa_url,
        "PAYMENTS_PIX_PROVIDERS": json.dumps(providers),
        "PAYMENTS_ALLOW_PLAIN_HTTP": "true",
        "HELPDESK_SITE_URL": web_url,
    }
    python = VENV_BIN / "python"
    start_process(
        name="fake-cloud-api",
        command=[python, "-m", "whatsapp.fake", "--host", "127.0.0.1", "--port", str(wa_port)],
        env=env,
        ready=f"{wa_url}/_fake/health",
    )
    start_process(
        name="fake-psp",
        command=[python, "-m", "payments.fake", "--host", "127.0.0.1", "--port", str(psp_port)],
        env=env,
        ready=f"{psp_url}/_fake/health",
    )
    start_process(
        name="web",
        command=[
            VENV_BIN / "uvicorn",
            "helpdesk.asgi:application",
            *("--host", "127.0.0.1", "--port", str(web_port), "--lifespan", "off"),
        ],
        env=env,
        ready=f"{web_url}/healthz/",
    )
    log = tmp_path / "logs" / "worker.log"
    start_process(
        name="worker",
        command=[
            VENV_BIN / "celery",
            *("-A", "helpdesk", "worker", "--loglevel=INFO", "--concurrency=2", "-n", "story-worker@%h"),
            *("--without-gossip", "--without-mingle"),
        ],
        env=env,
        ready=lambda: log.exists() and " ready." in log.read_text(errors="replace"),
        startup_timeout=60,
    )

    wa = FakeAdminClient(wa_url)
    # Meta's side: the number, and the catalog the business made in Commerce Manager (empty, not yet connected
    # to the number's account: the sync connects it). Product messages naming what the catalog lacks are refused.
    wa.register_number(
        phone_number_id=PNID,
        display_phone_number="5511900009001",
        waba_id=WABA,
        access_token=TOKEN,
        app_secret=SECRET,
        webhook_url=f"{web_url}/webhooks/whatsapp/{channel.webhook_key}/",
        verified_name="Pizzaria Bella",
    )
    wa.catalog_create("Pizzaria Bella", waba_id=WABA, catalog_id=CATALOG_ID)
    wa.settings(catalog_batch_delay_s=0, check_catalog_products=True)
    psp = FakePspAdminClient(psp_url)
    psp.add_pix_receiver(
        id="pizzaria",
        client_id=PIX["client_id"],
        client_secret=PIX["client_secret"],
        keys=[PIX["key"]],
        merchant_name="PIZZARIA BELLA",
        merchant_city="SAO PAULO",
    )
    # The bank settles a devolução as soon as it takes it and calls back (we read the charge back); callbacks
    # retry fast.
    psp.settings(devolucao_auto_settle="DEVOLVIDO", delivery_retry_delays_s=[0.2, 0.5, 1.0])
    yield Stack(web_url, psp_url, wa_url, wa, psp, env["CELERY_BROKER_URL"], tenant, channel)
    wa.close()
    psp.close()


@pytest.fixture
def live_server_url(stack: Stack) -> str:
    """Pages open on this module's server (the one wired to Redis, the worker and both fakes)."""
    return stack.web_url


def member(stack: Stack, email: str, name: str, role: str) -> User:
    user = make_user(email, name=name, password=PASSWORD, language="en")
    add_member(stack.tenant, role, user=user)
    stack.channel.inbox.members.add(user)
    return user


def in_portuguese(text: str, **values: object) -> str:
    """What the customer reads: the product's text in the workspace's language (Portuguese)."""
    with translation.override("pt-br"):
        return gettext(text) % values


def lines_of_text(cells: Locator) -> list[int]:
    """How many lines each cell's text takes on screen."""
    return cells.evaluate_all(
        "cells => cells.map(c => { const r = document.createRange(); r.selectNodeContents(c);"
        " return r.getClientRects().length; })"
    )


def test_a_customer_buys_from_the_catalog_pays_with_pix_and_gets_part_of_it_back(
    stack: Stack, open_page: Callable[..., Page], browser_errors: BrowserErrors
) -> None:
    agent = member(stack, "ana@pizzaria.example", "Ana Agent", BuiltinRole.AGENT)
    owner = owner_of(stack.tenant).user
    stack.wa.inbound(
        phone_number_id=PNID, **{"from": CUSTOMER}, name=CUSTOMER_NAME, type="text", text="Oi! Vocês entregam hoje?"
    )
    wait_for(
        lambda: Message.objects.filter(text="Oi! Vocês entregam hoje?").exists(),
        timeout=TIMEOUT_MS / 1000,
        message="the customer's first message was stored",
    )
    conversation = Message.objects.select_related("conversation").get(text="Oi! Vocês entregam hoje?").conversation

    # --- The admin sets up Pix through the bank's API, and syncs the catalog to WhatsApp.
    admin = open_page()
    log_in(admin, email=owner.email, password=PASSWORD)
    admin.goto(f"/t/{SLUG}/settings/payments/edit/?kind=bcb_pix")
    admin.locator("[name=enabled]").check()
    admin.locator("[name=provider]").select_option("fakebank")
    admin.locator("[name=pix_key_type]").select_option("EMAIL")
    admin.locator("[name=pix_key]").fill(PIX["key"])
    admin.locator("[name=merchant_name]").fill("Pizzaria Bella")
    admin.locator("[name=client_id]").fill(PIX["client_id"])
    admin.locator("[name=client_secret]").fill(PIX["client_secret"])
    admin.get_by_role("button", name="Save").click()
    pix_row = admin.locator("tr[data-payment-account='bcb_pix']")
    expect(pix_row.locator("[data-webhook-status]")).to_have_attribute("data-webhook-status", "ok")
    account = PaymentAccount.objects.get(tenant=stack.tenant, kind=PaymentAccount.Kind.BCB_PIX)
    expect(pix_row.locator("code")).to_have_text(f"{stack.web_url}/webhooks/payments/{account.webhook_key}")

    admin.goto(f"/t/{SLUG}/settings/catalog/")
    admin.get_by_role("button", name="Sync with WhatsApp").click()
    wait_for(
        lambda: CatalogSync.objects.filter(tenant=stack.tenant, status=CatalogSync.Status.DONE).exists(),
        timeout=TIMEOUT_MS / 1000,
        message="the worker synced the catalog to WhatsApp",
    )
    admin.reload()
    expect(admin.locator("[data-sync-status]")).to_have_attribute("data-sync-status", "done")
    expect(admin.locator("[data-sync-outcomes]")).to_contain_text("synced")
    assert sorted(p["retailer_id"] for p in stack.wa.catalog(CATALOG_ID)["products"]) == sorted(
        spec.retailer_id for spec in PRODUCTS
    )

    # --- The agent sends the catalog from the composer's Products picker.
    page = open_page()
    log_in(page, email=agent.email, password=PASSWORD)
    page.goto(f"/t/{SLUG}/inbox/c/{conversation.display_id}/")
    expect(page.locator("#inbox[data-live='1']")).to_be_attached(timeout=TIMEOUT_MS)
    expect(page.locator("[data-live-state][data-state=live]")).to_be_visible(timeout=TIMEOUT_MS)
    page.click("[data-products-toggle]")
    expect(page.locator("[data-products-list] li")).to_have_count(3)
    page.fill("[data-products-body]", "Veja o cardápio de hoje e monte seu pedido 🍕")
    page.click("[data-products-catalog]")
    expect(page.locator("article[data-type='catalog']")).to_have_count(1, timeout=TIMEOUT_MS)
    expect(page.locator("[data-products-picker]")).to_be_hidden()
    page.evaluate("window.__sameDocument = true")

    # --- The customer sees it on their phone, opens the catalog, adds two products (one twice), sends the cart.
    sim = open_page()
    sim.goto(f"{stack.wa_url}/simulator/?pnid={PNID}&customer={CUSTOMER}&name={CUSTOMER_NAME}")
    expect(sim.get_by_test_id("sim-business")).to_have_value(PNID, timeout=TIMEOUT_MS)
    catalog_bubble = sim.locator(".sim-msg[data-direction='out']", has=sim.locator("[data-kind='catalog_message']"))
    expect(catalog_bubble).to_have_count(1, timeout=TIMEOUT_MS)
    expect(catalog_bubble.locator(".sim-text").first).to_have_text("Veja o cardápio de hoje e monte seu pedido 🍕")
    # Read (auto-read is on): the bubble is drawn anew at each status, so it is opened once its ticks settle.
    expect(catalog_bubble.locator(".sim-ticks")).to_have_attribute("data-status", "read", timeout=TIMEOUT_MS)
    catalog_bubble.get_by_test_id("sim-view-catalog").click()
    listing = catalog_bubble.get_by_test_id("sim-catalog-list")
    expect(listing.get_by_test_id("sim-product-name")).to_have_text(
        ["Pizza Margherita", "Refrigerante lata", "Pudim de leite"]
    )
    listing.locator("[data-sku='PIZZA-MARG-G']").get_by_test_id("sim-add-to-cart").click()
    listing.locator("[data-sku='REFRI-LATA']").get_by_test_id("sim-add-to-cart").click()
    listing.locator("[data-sku='REFRI-LATA']").get_by_test_id("sim-add-to-cart").click()
    expect(sim.get_by_test_id("sim-cart-line")).to_have_count(2)
    cart_lines = sim.get_by_test_id("sim-cart-line")
    expect(cart_lines.locator("span").first).to_have_text("Pizza Margherita")
    expect(cart_lines.nth(0).get_by_test_id("sim-cart-quantity")).to_have_value("1")
    expect(cart_lines.nth(1).get_by_test_id("sim-cart-quantity")).to_have_value("2")
    expect(sim.get_by_test_id("sim-cart-total")).to_have_text("Total BRL 72.90")
    sim.get_by_test_id("sim-cart-note").fill("Sem cebola, por favor")
    sim.get_by_test_id("sim-cart-send").click()
    expect(sim.get_by_test_id("sim-cart")).to_be_hidden()

    # --- The order card appears under the cart's bubble in the agent's conversation, live.
    cart_bubble = page.locator("article[data-type='order']")
    card = cart_bubble.locator("[data-order-card]")
    expect(card).to_have_attribute("data-order-status", "pending", timeout=TIMEOUT_MS)
    order = Order.objects.get(tenant=stack.tenant)
    assert (order.number, order.total, order.source, order.note, order.price_warning) == (
        1,
        7290,
        "cart",
        "Sem cebola, por favor",
        False,
    )
    assert sorted(order.lines.values_list("retailer_id", "quantity", "unit_price")) == [
        ("PIZZA-MARG-G", 1, 5990),
        ("REFRI-LATA", 2, 650),
    ]
    expect(card.locator("a")).to_have_text("Order #1")
    expect(card.locator(".order-card-total")).to_have_text("R$72.90")
    assert page.evaluate("window.__sameDocument") is True, "the agent's page reloaded"
    # The cart's lines in the bubble: quantities and money each on one line, however narrow the bubble.
    expect(cart_bubble.locator(".msg-order-items tbody tr")).to_have_count(2)
    assert lines_of_text(cart_bubble.locator(".msg-order-items td:not(:first-child)")) == [1] * 7

    # --- The agent opens the order and asks for Pix; the customer's phone shows what to pay.
    card.locator("a").click()
    expect(page).to_have_url(re.compile(rf"/t/{SLUG}/orders/1/$"))
    expect(page.locator("[data-order-total]")).to_have_text("R$72.90")
    expect(page.locator("form[action$='/refund/']")).to_have_count(0)  # an agent gives no money back
    page.locator("#payment-kind").select_option("bcb_pix")
    page.get_by_role("button", name="Request payment").click()
    expect(page.get_by_text("Payment request sent to the customer.")).to_be_visible()
    expect(page.locator("[data-order-status]")).to_have_text("Awaiting payment")
    pix_code = page.locator("[data-pix-code]").inner_text().strip()
    assert pix_code.startswith("000201") and "BR.GOV.BCB.PIX" in pix_code.upper()

    order_bubble = sim.locator(
        ".sim-msg[data-direction='out'][data-type='interactive']", has=sim.get_by_test_id("sim-order-total")
    )
    expect(order_bubble).to_have_count(1, timeout=TIMEOUT_MS)
    expect(order_bubble.get_by_test_id("sim-order-total")).to_have_text("TotalBRL 72.90")
    expect(order_bubble.locator(".sim-order-line").first).to_have_text("1 \u00d7 Pizza MargheritaBRL 59.90")
    expect(order_bubble.locator(".sim-text").first).to_have_text(
        in_portuguese("Order #%(number)s: review it and pay here.", number=1)
    )
    expect(order_bubble.locator(".sim-ticks")).to_have_attribute("data-status", "read", timeout=TIMEOUT_MS)

    # The agent goes back to the conversation and stays there: what follows reaches it without a reload.
    page.get_by_role("link", name=f"Conversation #{conversation.display_id}").click()
    expect(page.locator("[data-live-state][data-state=live]")).to_be_visible(timeout=TIMEOUT_MS)
    expect(card).to_have_attribute("data-order-status", "awaiting_payment")
    payment_bubble = page.locator("article[data-type='payment_request']")
    expect(payment_bubble).to_have_count(1)
    expect(payment_bubble.locator(".msg-order-total")).to_have_text("R$72.90")
    money_cells = lines_of_text(payment_bubble.locator(".msg-order-items td:not(:first-child)"))
    assert money_cells and set(money_cells) == {1}, money_cells
    page.evaluate("window.__sameDocument = true")

    # --- The customer copies the Pix code and pays it in their bank app.
    order_bubble.get_by_test_id("sim-pix-copy").click()
    expect(order_bubble.get_by_test_id("sim-pix-copy")).to_have_text("Pix code copied")
    copied = order_bubble.get_by_test_id("sim-pix-code")
    expect(copied).to_have_text(pix_code)
    bank = sim.context.new_page()
    browser_errors.watch(bank)
    bank.goto(f"{stack.psp_url}/payer/")
    bank.locator("#code").fill(copied.inner_text())
    bank.get_by_role("button", name="Find the charge").click()
    expect(bank.locator("#amount")).to_have_text("R$ 72,90")
    expect(bank.locator("#merchant")).to_have_text("PIZZARIA BELLA")
    expect(bank.locator("#status")).to_have_text("ATIVA")
    bank.get_by_role("button", name="Pay", exact=True).click()
    expect(bank.locator("#result")).to_contain_text("The charge is CONCLUIDA.")
    expect(bank.locator("#status")).to_have_text("CONCLUIDA")

    # --- The bank's callback reaches the server: the order turns paid on the agent's page, no reload.
    expect(card).to_have_attribute("data-order-status", "paid", timeout=TIMEOUT_MS)
    expect(card.locator(".badge")).to_have_text("Paid")
    assert page.evaluate("window.__sameDocument") is True, "the agent's page reloaded"
    # Through the bank's one callback (no sweeper ran yet), which our server took at once.
    callback = (f"{stack.web_url}/webhooks/payments/{account.webhook_key}/pix", "delivered")
    wait_for(
        lambda: [(d["url"], d["state"]) for d in stack.psp.deliveries("pix")] == [callback],
        timeout=TIMEOUT_MS / 1000,
        message="the bank recorded its callback as delivered",
    )
    payment = Payment.objects.get(tenant=stack.tenant)
    assert (payment.amount, payment.request.order_id, payment.flagged) == (7290, order.pk, "")

    # The customer's phone says it is paid: the order's status message, and the order itself follows it.
    status_bubble = sim.locator(".sim-msg[data-type='interactive']", has=sim.get_by_test_id("sim-order")).last
    expect(status_bubble.locator(".sim-text").first).to_have_text(
        in_portuguese("Payment received for order #%(number)s. Thank you!", number=1), timeout=TIMEOUT_MS
    )
    expect(status_bubble.get_by_test_id("sim-order-status")).to_have_text("Paid")
    expect(order_bubble.get_by_test_id("sim-order-status")).to_have_text("Paid · Processing")
    expect(order_bubble.get_by_test_id("sim-pix-copy")).to_have_count(0)  # paid: no code to copy any more
    expect(page.locator("article[data-type='order_status']")).to_have_count(1, timeout=TIMEOUT_MS)

    # --- The admin gives part of it back from the order's page; the customer is told.
    admin.goto(f"/t/{SLUG}/orders/1/")
    expect(admin.locator("[data-order-status]")).to_have_text("Paid")
    refund_form = admin.locator(f"[data-payment='{payment.pk}'] form")
    expect(refund_form.locator("[name=amount]")).to_have_value("72.90")
    refund_form.locator("[name=amount]").fill("10.00")
    refund_form.locator("[name=reason]").fill("Refrigerante em falta")
    admin.once("dialog", lambda dialog: dialog.accept())
    refund_form.get_by_role("button", name="Refund").click()
    expect(admin.get_by_text("Refund requested.")).to_be_visible()
    # Processing until the bank's callback is read back (at once here): either may be on the page.
    expect(admin.locator("[data-refunds] li")).to_have_text(
        [re.compile(r"^(Processing|Refunded) R\$10\.00 · Refrigerante em falta$")]
    )
    expect(admin.locator(f"[data-payment='{payment.pk}']")).to_contain_text("R$10.00 given back")
    expect(admin.locator("[data-order-status]")).to_have_text("Paid")  # a part: the order stays paid

    # The bank settled it and called back: read back, the devolução is done and the customer told (no sweeper).
    told = in_portuguese(
        "A refund of %(amount)s for order #%(number)s is on its way to you.",
        amount=amount_format(1000, language="pt-br"),
        number=1,
    )
    told_bubble = sim.locator(".sim-msg[data-direction='out'][data-type='text']").last
    expect(told_bubble.locator(".sim-text")).to_have_text(told, timeout=TIMEOUT_MS)
    expect(page.locator("article[data-type='text'].msg-out").last).to_contain_text(told, timeout=TIMEOUT_MS)
    admin.reload()
    expect(admin.locator("[data-refunds] li")).to_have_text(["Refunded R$10.00 · Refrigerante em falta"])
    expect(admin.locator("[data-order-status]")).to_have_text("Paid")
    # The history names the way of payment and shows amounts as money (not "bcb_pix", "7290").
    history = admin.locator("[data-order-history] li")
    expect(history.filter(has_text="Payment requested")).to_contain_text(
        "way of payment Pix through the bank's API · reference 1-1 · total R$72.90"
    )
    expect(history.filter(has_text="Refund requested")).to_contain_text("reason Refrigerante em falta · total R$10.00")
    refund = Refund.objects.get(tenant=stack.tenant)
    payment.refresh_from_db()
    order.refresh_from_db()
    assert (refund.status, refund.amount, payment.refunded_amount, order.status) == ("done", 1000, 1000, "paid")
    assert refund.settled_at is not None and refund.settled_at <= timezone.now()
    browser_errors.assert_none()
