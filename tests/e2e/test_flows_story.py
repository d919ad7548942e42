"""The transit-card recharge bot, end to end in Chromium: four customers of one workspace at once.

Real processes on the test database, as in ``test_payments_story``: the ASGI server, a Celery worker, the fake
WhatsApp Cloud API (its phone simulator is each customer's phone), the fake PSP (its API Pix is the workspace's
bank, its ``/payer/`` page the customers' bank app, its Mercado Pago checkout the card link) and the fake transit
operator (the bus-card company the bot looks cards up at and credits), each in its own process. The workspace is
set up through the product's services: the ready-made "transit recharge" flow installed and turned on, the
operator's key, Pix through the bank's API and Mercado Pago. Then, in four simulator pages side by side:

- Carla recharges R$ 20 with Pix, pays the code in her bank app, and gets "paid" and the receipt with the new
  balance; the operator credited her card once;
- Bruno does the same with a card link (Mercado Pago's checkout, Approve);
- Dora pays with Pix but the operator refuses the credit: the payment goes back and she is told; her card is
  not credited;
- Edu asks for a person at the amount step: an agent who has his conversation open sees it move to open, with a
  private note of what he answered.

Every wait is Playwright's ``expect`` or a poll with a timeout, never a sleep.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.utils import translation
from django.utils.translation import gettext
from playwright.sync_api import Locator, Page, expect

from conversations.models import Conversation
from flows.fake import FakeTransitAdminClient
from flows.models import FlowSession
from payments.fake import FakePspAdminClient
from payments.models import Order, Refund
from payments.money import amount_format
from tenants.models import Tenant, User
from tenants.permissions import BuiltinRole
from tests.e2e.conftest import BrowserErrors
from tests.e2e.harness import VENV_BIN, ServerProcess, free_port
from tests.e2e.ui import log_in
from tests.factories import add_member, make_tenant, make_user, owner_of
from tests.prerequisites import skip_or_fail
from whatsapp.fake import FakeAdminClient, wait_for
from whatsapp.models import WhatsAppChannel

pytestmark = pytest.mark.e2e

SLUG = "recarga"
PASSWORD = "Flows-story-password-42"
TIMEOUT_MS = 20_000  # two shared cores, five processes and five pages: generous, never a sleep
PNID, WABA, TOKEN, SECRET = "106540352249301", "102290129349301", "flows-story-token", "flows-story-app-secret"
TRANSIT_KEY = "recarga-facil-transit-key"
# The workspace's receiving account at the fake bank (its API Pix), and its Mercado Pago application.
PIX = {"client_id": "recarga-pix-client", "client_secret": "recarga-pix-secret", "key": "pix@recarga.example.com"}
MERCADOPAGO = {"access_token": "TEST-recarga-access-token", "webhook_secret": "recarga-mercadopago-secret"}
AMOUNT = 2000


@dataclass(frozen=True)
class Card:
    number: str
    holder: str  # the full name the operator keeps
    shown: str  # the name the operator tells anyone who looks the number up
    balance: int


MARIA = Card("123456789012", "Maria Souza", "Maria S.", 1250)
JOAO = Card("987654321098", "João Lima", "João L.", 0)
LUCAS = Card("444455556666", "Lucas Prado", "Lucas P.", 500)


@dataclass
class Stack:
    web_url: str
    wa_url: str
    psp_url: str
    wa: FakeAdminClient
    psp: FakePspAdminClient
    transit: FakeTransitAdminClient
    tenant: Tenant
    channel: WhatsAppChannel


@pytest.fixture
def processes_env(server_env: dict[str, str]) -> dict[str, str]:
    """The product's processes on PostgreSQL and this test process's own Redis database (their broker and channel
    layer, emptied first), as ``test_event_worker_crash`` does."""
    from django.db import connection

    url = os.environ.get("REDIS_URL")
    if connection.vendor != "postgresql" or not url:
        skip_or_fail("The recharge bot's story needs PostgreSQL (DATABASE_URL) and Redis (REDIS_URL).")
        raise AssertionError("unreachable")
    import redis

    redis.Redis.from_url(url).flushdb()
    return server_env | {
        "REDIS_URL": url,
        "CELERY_BROKER_URL": url,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "LOG_LEVEL": "INFO",
    }


@pytest.fixture
def stack(
    processes_env: dict[str, str],
    start_process: Callable[..., ServerProcess],
    tmp_path: Path,
    settings: Any,
) -> Iterator[Stack]:
    """Workspace ``recarga`` (in Portuguese, as its customers) with a WhatsApp number; the transit recharge flow
    installed and on, the operator's key, Pix through the bank's API and Mercado Pago card links; the fakes, the
    web server and a worker running."""
    from conversations.selectors import audience_cache_clear
    from flows.services import FlowSpec, flow_settings_save, flow_update, template_install
    from payments.accounts import payment_account_save, pix_webhook_ensure
    from whatsapp.services import channel_create

    wa_port, psp_port, transit_port, web_port = free_port(), free_port(), free_port(), free_port()
    wa_url, psp_url, transit_url, web_url = (
        f"http://127.0.0.1:{port}" for port in (wa_port, psp_port, transit_port, web_port)
    )
    providers = {
        "fakebank": {
            "name": "Banco Fake",
            "api_url": f"{psp_url}/pix/api/v2",
            "token_url": f"{psp_url}/pix/oauth/token",
        }
    }
    # As `make run` wires them: the fake Cloud API is Meta, the fake PSP the bank and Mercado Pago, the fake
    # operator the bus-card company, this server the site.
    env = processes_env | {
        "WHATSAPP_API_BASE_URL": wa_url,
        "PAYMENTS_PIX_PROVIDERS": json.dumps(providers),
        "MERCADOPAGO_API_URL": f"{psp_url}/mercadopago",
        "PAYMENTS_ALLOW_PLAIN_HTTP": "true",
        "HELPDESK_SITE_URL": web_url,
        "TRANSIT_OPERATOR_BASE_URL": transit_url,
    }
    # This process sets the workspace up through the same services, so it sees the same providers.
    settings.PAYMENTS_PIX_PROVIDERS = providers
    settings.MERCADOPAGO_API_URL = f"{psp_url}/mercadopago"
    settings.PAYMENTS_ALLOW_PLAIN_HTTP = True
    settings.SITE_URL = web_url
    settings.TRANSIT_OPERATOR_BASE_URL = transit_url

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
        name="fake-transit-operator",
        command=[python, "-m", "flows.fake", "--host", "127.0.0.1", "--port", str(transit_port)],
        env=env,
        ready=f"{transit_url}/_fake/health",
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
            *("-A", "helpdesk", "worker", "--loglevel=INFO", "--concurrency=2", "-n", "flows-story-worker@%h"),
            *("--without-gossip", "--without-mingle"),
        ],
        env=env,
        ready=lambda: log.exists() and " ready." in log.read_text(errors="replace"),
        startup_timeout=60,
    )

    # The providers' side: the bank account and the Mercado Pago application, the operator's key and cards.
    psp = FakePspAdminClient(psp_url)
    psp.add_pix_receiver(
        id="recarga",
        client_id=PIX["client_id"],
        client_secret=PIX["client_secret"],
        keys=[PIX["key"]],
        merchant_name="RECARGA FACIL",
        merchant_city="SAO PAULO",
    )
    psp.add_mercadopago_account(**MERCADOPAGO, name="Recarga Facil")
    # The bank settles a devolução as soon as it takes it and calls back; callbacks retry fast.
    psp.settings(devolucao_auto_settle="DEVOLVIDO", delivery_retry_delays_s=[0.2, 0.5, 1.0])
    transit = FakeTransitAdminClient(transit_url)
    transit.add_key(TRANSIT_KEY, "Recarga Fácil")
    for card in (MARIA, JOAO, LUCAS):
        transit.add_card(card.number, card.holder, balance=card.balance)

    # The workspace, through the product's services.
    audience_cache_clear()
    tenant = make_tenant(
        "Recarga Fácil",
        slug=SLUG,
        locale="pt-br",
        owner=make_user("owner@recarga.example", name="Olivia Owner", password=PASSWORD, language="en"),
    )
    owner = owner_of(tenant)
    channel = channel_create(
        actor=owner,
        name="Recargas",
        display_phone_number="+55 11 90000-9301",
        phone_number_id=PNID,
        waba_id=WABA,
        access_token=TOKEN,
        app_secret=SECRET,
        verify=False,
    )
    pix = payment_account_save(
        actor=owner,
        tenant=tenant,
        kind="bcb_pix",
        values={
            "provider": "fakebank",
            "pix_key": PIX["key"],
            "pix_key_type": "EMAIL",
            "merchant_name": "Recarga Facil",
            "client_id": PIX["client_id"],
        },
        secrets={"client_secret": PIX["client_secret"]},
    )
    assert pix_webhook_ensure(pix), pix.webhook_problem  # the bank posts the key's payments to us
    payment_account_save(actor=owner, tenant=tenant, kind="mercadopago", values={}, secrets=dict(MERCADOPAGO))
    flow_settings_save(membership=owner, transit_api_key=TRANSIT_KEY)
    flow = template_install(membership=owner, key="transit_recharge", inbox_id=channel.inbox_id)
    flow_update(
        membership=owner,
        flow=flow,
        spec=FlowSpec(
            name=flow.name,
            description=flow.description,
            inbox_id=flow.inbox_id,
            enabled=True,
            trigger_keywords=list(flow.trigger_keywords),
            handover_keywords=list(flow.handover_keywords),
            timeout_minutes=flow.timeout_minutes,
        ),
    )

    wa = FakeAdminClient(wa_url)
    wa.register_number(
        phone_number_id=PNID,
        display_phone_number="5511900009301",
        waba_id=WABA,
        access_token=TOKEN,
        app_secret=SECRET,
        webhook_url=f"{web_url}/webhooks/whatsapp/{channel.webhook_key}/",
        verified_name="Recarga Fácil",
    )
    yield Stack(web_url, wa_url, psp_url, wa, psp, transit, tenant, channel)
    wa.close()
    psp.close()
    transit.close()


@pytest.fixture
def live_server_url(stack: Stack) -> str:
    """Pages open on this module's server (the one wired to Redis, the worker and the fakes)."""
    return stack.web_url


def in_portuguese(text: str, **values: object) -> str:
    """What the customer reads: the product's text in the workspace's language (Portuguese), its ``{{name}}`` and
    ``{{name|money}}`` placeholders filled with ``values`` (dots of a name as underscores)."""
    with translation.override("pt-br"):
        text = gettext(text)
    for name, value in values.items():
        dotted = name.replace("__", ".")
        text = text.replace(f"{{{{{dotted}|money}}}}", str(value)).replace(f"{{{{{dotted}}}}}", str(value))
    return text % values if "%(" in text else text


def money(amount: int) -> str:
    return amount_format(amount, language="pt-br")


@dataclass
class Customer:
    """A customer's WhatsApp: the fake Cloud API's phone simulator, in a browser context of its own."""

    name: str
    phone: str
    card: Card
    page: Page
    stack: Stack

    @property
    def business(self) -> Locator:
        """The business's messages on the phone, oldest first."""
        return self.page.locator(".sim-msg[data-direction='out']")

    def says(self, text: str) -> Locator:
        """The business's message whose text is exactly ``text``: there must be one, and one only."""
        bubble = self.business.filter(has=self.page.locator(".sim-text").get_by_text(text, exact=True))
        expect(bubble).to_have_count(1, timeout=TIMEOUT_MS)
        return bubble

    def write(self, text: str) -> None:
        self.page.get_by_test_id("sim-text").fill(text)
        self.page.get_by_test_id("sim-send").click()
        mine = self.page.locator(".sim-msg[data-direction='in'] .sim-text")
        expect(mine.last).to_have_text(text, timeout=TIMEOUT_MS)

    def press(self, bubble: Locator, title: str) -> None:
        """Tap a reply button of ``bubble`` once it is read (the simulator draws a bubble anew at each status)."""
        expect(bubble.locator(".sim-ticks")).to_have_attribute("data-status", "read", timeout=TIMEOUT_MS)
        bubble.get_by_role("button", name=title, exact=True).click()
        expect(self.page.locator(".sim-msg[data-direction='in']").last).to_contain_text(title, timeout=TIMEOUT_MS)

    def session(self) -> FlowSession:
        return FlowSession.objects.select_related("order", "conversation").get(
            tenant=self.stack.tenant, contact__phone_e164=f"+{self.phone}"
        )

    def order(self) -> Order:
        wait_for(
            lambda: self.session().order_id is not None,
            timeout=TIMEOUT_MS / 1000,
            interval=0.1,
            message=f"the bot made {self.name}'s order",
        )
        order = self.session().order
        assert order is not None
        return order

    def payment_bubble(self, order: Order) -> Locator:
        """The order to pay (order_details), read."""
        bubble = self.says(in_portuguese("Order #%(number)s: review it and pay here.", number=order.number))
        expect(bubble.get_by_test_id("sim-order-total")).to_have_text("TotalBRL 20.00")
        expect(bubble.locator(".sim-ticks")).to_have_attribute("data-status", "read", timeout=TIMEOUT_MS)
        return bubble

    def is_told_paid(self, order: Order) -> None:
        """WhatsApp's order_status: payment captured, in the customer's language."""
        status = self.says(in_portuguese("Payment received for order #%(number)s. Thank you!", number=order.number))
        expect(status.get_by_test_id("sim-order-status")).to_have_text("Paid")


def open_phone(open_page: Callable[..., Page], stack: Stack, *, name: str, phone: str, card: Card) -> Customer:
    page = open_page(locale="pt-BR")
    page.goto(f"{stack.wa_url}/simulator/?pnid={PNID}&customer={phone}&name={name}")
    expect(page.get_by_test_id("sim-business")).to_have_value(PNID, timeout=TIMEOUT_MS)
    return Customer(name=name, phone=phone, card=card, page=page, stack=stack)


def pay_pix(customer: Customer, order_bubble: Locator, browser_errors: BrowserErrors) -> None:
    """The customer copies the Pix code and pays it in their bank app."""
    order_bubble.get_by_test_id("sim-pix-copy").click()
    code = order_bubble.get_by_test_id("sim-pix-code")
    expect(code).to_be_visible()
    bank = customer.page.context.new_page()
    browser_errors.watch(bank)
    bank.goto(f"{customer.stack.psp_url}/payer/")
    bank.locator("#code").fill(code.inner_text())
    bank.get_by_role("button", name="Find the charge").click()
    expect(bank.locator("#amount")).to_have_text("R$ 20,00")
    expect(bank.locator("#merchant")).to_have_text("RECARGA FACIL")
    expect(bank.locator("#status")).to_have_text("ATIVA")
    bank.get_by_role("button", name="Pay", exact=True).click()
    expect(bank.locator("#status")).to_have_text("CONCLUIDA", timeout=TIMEOUT_MS)


def member(stack: Stack, email: str, name: str, role: str) -> User:
    user = make_user(email, name=name, password=PASSWORD, language="en")
    add_member(stack.tenant, role, user=user)
    stack.channel.inbox.members.add(user)
    return user


def test_customers_recharge_cards_with_pix_or_a_card_link_get_refunded_or_ask_for_a_person(
    stack: Stack, open_page: Callable[..., Page], browser_errors: BrowserErrors
) -> None:
    def phone(name: str, number: str, card: Card) -> Customer:
        return open_phone(open_page, stack, name=name, phone=number, card=card)

    carla = phone("Carla", "5511987659301", MARIA)  # Pix
    bruno = phone("Bruno", "5511987659302", JOAO)  # a card link
    dora = phone("Dora", "5511987659303", LUCAS)  # Pix, and the operator refuses the credit
    edu = phone("Edu", "5511987659304", MARIA)  # asks for a person
    everyone = (carla, bruno, dora, edu)
    ask_card = in_portuguese(
        "Hi! Let's recharge your transit card. What is the card's number? (12 digits, on the back)"
    )

    # --- Each writes the keyword; the bot asks for the card and looks the number up at the operator.
    for customer in everyone:
        customer.write("recarregar")
    for customer in everyone:
        customer.says(ask_card)
        customer.write(customer.card.number)
    amount_asked = {
        customer.name: customer.says(
            in_portuguese(
                "Card of {{card.holder_name}}, balance {{card.balance|money}}. How much do you want to add? "
                "Choose or type an amount from R$ 5 to R$ 200.",
                card__holder_name=customer.card.shown,
                card__balance=money(customer.card.balance),
            )
        )
        for customer in (carla, bruno, dora)
    }
    edu_amount = edu.business.last
    expect(edu_amount.get_by_role("button", name="R$ 20", exact=True)).to_be_visible(timeout=TIMEOUT_MS)
    edu_conversation = edu.session().conversation
    assert edu_conversation.status == Conversation.Status.PENDING  # the bot has it

    # --- An agent has Edu's conversation open; he asks for a person at the amount step.
    agent = member(stack, "ana@recarga.example", "Ana Agent", BuiltinRole.AGENT)
    inbox = open_page()
    log_in(inbox, email=agent.email, password=PASSWORD)
    inbox.goto(f"/t/{SLUG}/inbox/c/{edu_conversation.display_id}/")
    expect(inbox.locator("[data-live-state][data-state=live]")).to_be_visible(timeout=TIMEOUT_MS)
    expect(inbox.locator("[data-status-badge]")).to_have_text("Pending")
    expect(inbox.locator("article.msg-note")).to_have_count(0)
    edu.write("quero falar com um atendente")

    # --- The others choose R$ 20 and a way of payment.
    for customer in (carla, bruno, dora):
        customer.press(amount_asked[customer.name], "R$ 20")
    method_asked = in_portuguese("Recharge of {{amount|money}}. How do you want to pay?", amount=money(AMOUNT))
    carla.press(carla.says(method_asked), "Pix")
    bruno.press(bruno.says(method_asked), in_portuguese("Card"))
    # The operator will refuse the credit of Dora's card (only hers), whatever comes before it.
    stack.transit.fail("reject", number=LUCAS.number)
    dora.press(dora.says(method_asked), "Pix")

    # --- Edu's conversation is the team's now: open, with what he answered in a private note, live.
    expect(inbox.locator("[data-status-badge]")).to_have_text("Open", timeout=TIMEOUT_MS)
    note = inbox.locator("article.msg-note")
    expect(note).to_have_count(1, timeout=TIMEOUT_MS)
    flow_name = in_portuguese("Transit card recharge")
    expect(note.locator(".msg-text")).to_have_text(
        "\n".join(
            [
                in_portuguese("The bot “%(flow)s” handed this conversation over.", flow=flow_name),
                in_portuguese("What the customer answered:"),
                f"• {in_portuguese('Card number')}: {MARIA.number}",
            ]
        ),
        use_inner_text=True,
    )
    edu.says(in_portuguese("One moment, please: a person from our team will answer you here."))

    # --- Carla pays her Pix code in her bank app; Dora too; Bruno opens his link and approves the card payment.
    orders = {customer.name: customer.order() for customer in (carla, bruno, dora)}
    carla_bubble = carla.payment_bubble(orders["Carla"])
    dora_bubble = dora.payment_bubble(orders["Dora"])
    bruno_bubble = bruno.payment_bubble(orders["Bruno"])
    expect(bruno_bubble.get_by_test_id("sim-pix-copy")).to_have_count(0)  # a card link, not a Pix code
    pay_pix(carla, carla_bubble, browser_errors)
    pay_pix(dora, dora_bubble, browser_errors)
    with bruno.page.context.expect_page() as opened:
        bruno_bubble.get_by_test_id("sim-pay").click()
    checkout = opened.value
    browser_errors.watch(checkout)
    expect(checkout.get_by_role("heading", name="Mercado Pago checkout")).to_be_visible()
    expect(checkout.locator(".total")).to_have_text("Total R$ 20,00")
    checkout.get_by_role("button", name="Approve").click()
    expect(checkout.locator("#result")).to_contain_text("Payment approved.")

    # --- Carla and Bruno: paid, and the receipt with the card's new balance.
    for customer in (carla, bruno):
        order = orders[customer.name]
        customer.is_told_paid(order)
        customer.says(
            in_portuguese(
                "Done! {{payment.amount|money}} added to the card {{card_number}}. New balance: "
                "{{credit.balance|money}}. Thank you!",
                payment__amount=money(AMOUNT),
                card_number=customer.card.number,
                credit__balance=money(customer.card.balance + AMOUNT),
            )
        )
        expect(customer.payment_bubble(order).get_by_test_id("sim-order-status")).to_have_text("Paid · Processing")

    # --- Dora: paid, the credit refused, the money back and a person to follow up.
    dora.is_told_paid(orders["Dora"])
    dora.says(
        in_portuguese(
            "We received your payment but the operator could not credit the card, so we are giving the money "
            "back. A person from our team will follow up here."
        )
    )
    dora.says(
        in_portuguese(
            "A refund of %(amount)s for order #%(number)s is on its way to you.",
            amount=money(AMOUNT),
            number=orders["Dora"].number,
        )
    )
    wait_for(
        lambda: Order.objects.get(pk=orders["Dora"].pk).status == Order.Status.REFUNDED,
        timeout=TIMEOUT_MS / 1000,
        interval=0.1,
        message="Dora's order refunded",
    )
    refund = Refund.objects.get(tenant=stack.tenant)
    assert (refund.payment.request.order_id, refund.amount, refund.status) == (orders["Dora"].pk, AMOUNT, "done")

    # --- How each session ended, and the operator's books: each card paid for credited once, Dora's never.
    assert {c.name: (c.session().status, c.session().ended_step) for c in everyone} == {
        "Carla": ("completed", "receipt"),
        "Bruno": ("completed", "receipt"),
        "Dora": ("handed_over", "credit_failed"),
        "Edu": ("handed_over", "ask_amount"),
    }
    assert [c.session().conversation.status for c in (dora, edu)] == ["open", "open"]
    assert not Order.objects.filter(conversation=edu_conversation).exists()
    for card in (MARIA, JOAO):
        kept = stack.transit.card(card.number)
        assert (kept["balance"], [credit["amount"] for credit in kept["credits"]]) == (card.balance + AMOUNT, [AMOUNT])
    kept = stack.transit.card(LUCAS.number)
    assert (kept["balance"], kept["credits"]) == (LUCAS.balance, [])
    refused = [
        (r["method"], r["status_code"])
        for r in stack.transit.requests()
        if r["path"] == f"/v1/cards/{LUCAS.number}/credits"
    ]
    assert refused == [("POST", 422)]  # the bot did ask, and the operator said no
    assert {name: Order.objects.get(pk=order.pk).status for name, order in orders.items()} == {
        "Carla": "paid",
        "Bruno": "paid",
        "Dora": "refunded",
    }
    browser_errors.assert_none()
