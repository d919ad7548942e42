"""The agent inbox, live, in Chromium: customers write through the fake Cloud API, agents answer.

Real processes on the test database: the ASGI server (uvicorn, WebSockets through Redis), a Celery
worker on Redis, and the fake WhatsApp Cloud API, which signs webhooks into our server and receives
our sends. Customers write through the fake's simulator page (a second browser page) or its admin
API; nothing here reloads the agent's page or sleeps on the wall clock: every wait is Playwright's
``expect`` or a poll with a timeout.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Page, WebSocket, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from conversations.models import Conversation, Message, QuickReply
from tenants.models import Tenant, User
from tenants.permissions import BuiltinRole
from tests.e2e.conftest import BrowserErrors, redis_processes_env, start_fake_web_worker
from tests.e2e.harness import ServerProcess
from tests.e2e.ui import log_in
from tests.factories import add_member, make_tenant, make_user, owner_of
from whatsapp.fake import FakeAdminClient, wait_for
from whatsapp.models import MessageTemplate, WhatsAppChannel

pytestmark = pytest.mark.e2e

SLUG = "acme"
PASSWORD = "Live-inbox-password-42"
TIMEOUT_MS = 15_000  # two shared cores: generous, never a sleep
PNID_A, WABA_A, TOKEN_A, SECRET_A = "106540352243001", "102290129343001", "live-token-a", "live-secret-a"
PNID_B, WABA_B, TOKEN_B, SECRET_B = "106540352243002", "102290129343002", "live-token-b", "live-secret-b"
REDIS_DB = "13"  # its own Redis database: broker and channel layer of these processes only


@dataclass
class Stack:
    web_url: str
    fake_url: str
    fake: FakeAdminClient
    tenant: Tenant
    channel_a: WhatsAppChannel
    channel_b: WhatsAppChannel


@pytest.fixture
def live_env(server_env: dict[str, str]) -> dict[str, str]:
    return redis_processes_env(server_env, redis_db=REDIS_DB, needs="The live inbox tests")


@pytest.fixture
def stack(live_env: dict[str, str], start_process: Callable[..., ServerProcess], tmp_path: Path) -> Iterator[Stack]:
    """Tenant ``acme`` with WhatsApp channels A and B on the fake; the fake, the server and a worker running."""
    from conversations.selectors import audience_cache_clear
    from whatsapp.services import channel_create

    audience_cache_clear()
    tenant = make_tenant(
        "Acme", slug=SLUG, owner=make_user("owner@acme.example", name="Olivia Owner", password=PASSWORD)
    )
    channels = []
    for name, pnid, waba, token, secret, phone in (
        ("Support", PNID_A, WABA_A, TOKEN_A, SECRET_A, "+55 11 90000-3001"),
        ("Sales", PNID_B, WABA_B, TOKEN_B, SECRET_B, "+55 11 90000-3002"),
    ):
        channels.append(
            channel_create(
                actor=owner_of(tenant),
                name=name,
                display_phone_number=phone,
                phone_number_id=pnid,
                waba_id=waba,
                access_token=token,
                app_secret=secret,
                verify=False,
            )
        )
    fake_url, web_url = start_fake_web_worker(start_process, live_env, tmp_path, worker_name="live-worker")
    fake = FakeAdminClient(fake_url)
    fake.settings(sent_delay_s=0.05, delivered_delay_s=0.1)
    for channel, (pnid, waba, token, secret, verified) in zip(
        channels,
        ((PNID_A, WABA_A, TOKEN_A, SECRET_A, "Acme Support"), (PNID_B, WABA_B, TOKEN_B, SECRET_B, "Acme Sales")),
        strict=True,
    ):
        fake.register_number(
            phone_number_id=pnid,
            display_phone_number=re.sub(r"\D", "", channel.display_phone_number),
            waba_id=waba,
            access_token=token,
            app_secret=secret,
            webhook_url=f"{web_url}/webhooks/whatsapp/{channel.webhook_key}/",
            verified_name=verified,
        )
    yield Stack(web_url, fake_url, fake, tenant, channels[0], channels[1])
    fake.close()


@pytest.fixture
def live_server_url(stack: Stack) -> str:
    """Pages open on this module's server (the one wired to Redis, the worker and the fake)."""
    return stack.web_url


def member(stack: Stack, email: str, name: str, role: str = BuiltinRole.AGENT, *, inboxes=("a",)) -> User:
    user = make_user(email, name=name, password=PASSWORD)
    add_member(stack.tenant, role, user=user)
    for key in inboxes:
        (stack.channel_a if key == "a" else stack.channel_b).inbox.members.add(user)
    return user


def open_inbox(page: Page, user: User, path: str = "") -> None:
    log_in(page, email=user.email, password=PASSWORD)
    page.goto(f"/t/{SLUG}/inbox/{path}")
    expect(page.locator("#inbox[data-live='1']")).to_be_attached(timeout=TIMEOUT_MS)
    expect(page.locator("[data-live-state][data-state=live]")).to_be_visible(timeout=TIMEOUT_MS)


def row_of(page: Page, conversation: Conversation):
    return page.locator(f"li.row#c-{conversation.pk}")


def simulator(page: Page, stack: Stack, *, customer: str, name: str, pnid: str = PNID_A) -> Page:
    """The fake's customer-phone page, preset to this customer (auto-read off: the test decides)."""
    page.goto(f"{stack.fake_url}/simulator/?pnid={pnid}&customer={customer}&name={name}&autoread=0")
    expect(page.get_by_test_id("sim-business")).to_have_value(pnid, timeout=TIMEOUT_MS)
    return page


def customer_says(sim: Page, text: str) -> None:
    sim.get_by_test_id("sim-text").fill(text)
    sim.get_by_test_id("sim-send").click()
    expect(sim.get_by_test_id("sim-messages")).to_contain_text(text, timeout=TIMEOUT_MS)


def stored(text: str) -> Message:
    wait_for(lambda: Message.objects.filter(text=text).exists(), timeout=TIMEOUT_MS / 1000, message=f"{text!r} stored")
    return Message.objects.select_related("conversation").get(text=text)


def pump_until(page: Page, predicate: Callable[[], bool], what: str, timeout_ms: int = TIMEOUT_MS) -> None:
    """Poll ``predicate`` about Playwright events (e.g. WebSocket frames), which the sync API only
    delivers while it is called: each pause is a Playwright call, so the frames keep arriving."""
    deadline = time.monotonic() + timeout_ms / 1000
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"Timed out waiting for {what}.")
        page.wait_for_timeout(50)


# --- (a) + (b) ---------------------------------------------------------------------------------------


def test_customer_message_appears_live_and_quick_reply_turns_read(
    stack: Stack, page: Page, open_page: Callable[[], Page], browser_errors: BrowserErrors
) -> None:
    agent = member(stack, "ana@acme.example", "Ana Agent")
    QuickReply.objects.create(
        tenant=stack.tenant, shortcut="ola", text="Olá {{contact.name}}, já vamos verificar o seu pedido."
    )
    # The customer writes once, so the agent has a conversation to keep open.
    stack.fake.inbound(
        phone_number_id=PNID_A, **{"from": "5511987650001"}, name="Maria Souza", type="text", text="Primeira mensagem"
    )
    conversation = stored("Primeira mensagem").conversation
    sockets: list[WebSocket] = []
    page.on("websocket", lambda ws: sockets.append(ws))
    open_inbox(page, agent, f"c/{conversation.display_id}/")
    pane = page.locator(f"[data-pane] .pane[data-conversation='{conversation.display_id}']")
    expect(pane).to_have_attribute("data-window-open", "1")
    expect(row_of(page, conversation).locator(".row-preview")).to_contain_text("Primeira mensagem")

    # (a) The customer writes on the simulator page: the open conversation and its row update, no reload.
    sim = simulator(open_page(), stack, customer="5511987650001", name="Maria Souza")
    page.evaluate("window.__sameDocument = true")
    customer_says(sim, "Meu cartão não recarrega")
    message = stored("Meu cartão não recarrega")
    incoming = page.locator(f"article.msg.msg-in#m-{message.pk}")
    expect(incoming).to_contain_text("Meu cartão não recarrega", timeout=TIMEOUT_MS)
    expect(row_of(page, conversation).locator(".row-preview")).to_contain_text("Meu cartão não recarrega")

    # A second customer, new conversation: a new row appears in the list, unread.
    stack.fake.inbound(
        phone_number_id=PNID_A, **{"from": "5511987650002"}, name="João Lima", type="text", text="Olá, alguém aí?"
    )
    other = stored("Olá, alguém aí?").conversation
    expect(row_of(page, other).locator(".row-name")).to_have_text("João Lima", timeout=TIMEOUT_MS)
    expect(row_of(page, other).locator(".row-preview")).to_contain_text("Olá, alguém aí?")
    expect(row_of(page, other).locator(".unread")).to_have_text("1")
    assert page.evaluate("window.__sameDocument") is True, "the page reloaded"

    # (b) A quick reply: "/" opens the pop-up with the variables filled in; Enter picks, Enter sends.
    text_box = page.locator("[data-text]")
    text_box.click()
    text_box.press_sequentially("/ola")
    popup = page.locator("[data-popup]")
    expect(popup).to_be_visible()
    expect(popup.locator(".popup-item").first).to_contain_text("Olá Maria Souza, já vamos verificar")
    text_box.press("Enter")
    expect(text_box).to_have_value("Olá Maria Souza, já vamos verificar o seu pedido.")
    expect(popup).to_be_hidden()
    text_box.press("Enter")
    expected = "Olá Maria Souza, já vamos verificar o seu pedido."
    wait_for(
        lambda: any(
            m["payload"].get("text", {}).get("body") == expected
            for m in stack.fake.messages(direction="out", to="5511987650001")
        ),
        timeout=TIMEOUT_MS / 1000,
        message="the quick reply reached the fake",
    )
    reply = Message.objects.get(conversation=conversation, direction="out")
    assert reply.text == expected
    outgoing = page.locator(f"article.msg.msg-out#m-{reply.pk}")
    expect(outgoing).to_contain_text(expected)
    expect(outgoing.locator(".ticks")).to_have_attribute("data-ticks", "delivered", timeout=TIMEOUT_MS)
    expect(sim.get_by_test_id("sim-messages")).to_contain_text(expected, timeout=TIMEOUT_MS)

    # The customer reads it (the simulator's "Mark read": /_fake/read): the ticks turn blue, live.
    sim.get_by_test_id("sim-mark-read").click()
    expect(outgoing.locator(".ticks")).to_have_attribute("data-ticks", "read", timeout=TIMEOUT_MS)
    expect(outgoing.locator(".ticks")).to_have_class(re.compile(r"\bticks-read\b"))
    expect(outgoing).to_have_attribute("data-status", "read")
    assert page.evaluate("window.__sameDocument") is True, "the page reloaded"
    # All of it over the one WebSocket the page opened: it never had to reconnect.
    assert len(sockets) == 1, [ws.url for ws in sockets]
    assert not sockets[0].is_closed()
    browser_errors.assert_none()


# --- (c) ---------------------------------------------------------------------------------------------


def test_second_agent_sees_assignment_changes_live(
    stack: Stack, page: Page, open_page: Callable[[], Page], browser_errors: BrowserErrors
) -> None:
    sam = member(stack, "sam@acme.example", "Sam Supervisor", BuiltinRole.SUPERVISOR)
    ana = member(stack, "ana@acme.example", "Ana Agent")
    stack.fake.inbound(
        phone_number_id=PNID_A, **{"from": "5511987650003"}, name="Carla Dias", type="text", text="Preciso de ajuda"
    )
    conversation = stored("Preciso de ajuda").conversation
    path = f"c/{conversation.display_id}/"
    open_inbox(page, sam, path)
    ana_page = open_page()
    open_inbox(ana_page, ana, path)
    ana_row = row_of(ana_page, conversation)
    expect(ana_row).to_be_visible()
    expect(ana_row.locator(".row-assignee")).to_have_count(0)
    expect(ana_page.locator("select[data-assign]")).to_have_value("")

    # Sam assigns the conversation to Ana: her open pane and her row follow without a reload.
    page.locator("select[data-assign]").select_option(str(ana.pk))
    expect(ana_page.locator("select[data-assign]")).to_have_value(str(ana.pk), timeout=TIMEOUT_MS)
    expect(ana_row.locator(".row-assignee")).to_have_text("Ana Agent", timeout=TIMEOUT_MS)
    expect(row_of(page, conversation).locator(".row-assignee")).to_have_text("Ana Agent")
    assert Conversation.objects.get(pk=conversation.pk).assignee_id == ana.pk

    # Sam takes it: it is no longer Ana's to see; her row goes and the pane closes, live.
    page.locator("select[data-assign]").select_option(str(sam.pk))
    expect(ana_row).to_have_count(0, timeout=TIMEOUT_MS)
    expect(ana_page.locator(f"[data-pane] .pane[data-conversation='{conversation.display_id}']")).to_have_count(0)
    expect(row_of(page, conversation).locator(".row-assignee")).to_have_text("Sam Supervisor")
    browser_errors.assert_none()


# --- (d) ---------------------------------------------------------------------------------------------

TEMPLATE_COMPONENTS = [
    {
        "type": "BODY",
        "text": "Olá {{1}}, o seu pedido {{2}} está pronto para retirada.",
        "example": {"body_text": [["Maria", "A-100"]]},
    },
    {"type": "FOOTER", "text": "Acme"},
]


def test_closed_window_offers_templates_and_sends_one(stack: Stack, page: Page, browser_errors: BrowserErrors) -> None:
    agent = member(stack, "ana@acme.example", "Ana Agent")
    # The template exists at the fake (Meta) and, synced, here.
    stack.fake.add_template(
        waba_id=WABA_A,
        name="pedido_pronto",
        language="pt_BR",
        category="UTILITY",
        components=TEMPLATE_COMPONENTS,
        status="APPROVED",
    )
    MessageTemplate.objects.create(
        tenant=stack.tenant,
        waba_id=WABA_A,
        name="pedido_pronto",
        language="pt_BR",
        category="UTILITY",
        status=MessageTemplate.Status.APPROVED,
        components=TEMPLATE_COMPONENTS,
        meta_id="1",
    )
    # The customer wrote 25 hours ago (the fake's clock stamps the webhook), so the window is closed.
    now = time.time()
    stack.fake.set_clock(now - 25 * 3600)
    stack.fake.inbound(
        phone_number_id=PNID_A, **{"from": "5511987650004"}, name="Rita Alves", type="text", text="Mensagem de ontem"
    )
    stack.fake.set_clock(time.time())
    conversation = stored("Mensagem de ontem").conversation
    assert conversation.last_inbound_at.timestamp() < now - 24 * 3600

    open_inbox(page, agent)
    row_of(page, conversation).locator("a.row-link").click()
    pane = page.locator(f"[data-pane] .pane[data-conversation='{conversation.display_id}']")
    expect(pane).to_have_attribute("data-window-open", "0", timeout=TIMEOUT_MS)
    picker = page.locator("[data-template-picker]")
    expect(picker).to_be_visible()
    expect(page.locator("[data-text]")).to_be_hidden()
    select = picker.locator("select[data-template-select]")
    expect(select.locator("option", has_text="pedido_pronto (pt_BR)")).to_have_count(1, timeout=TIMEOUT_MS)
    select.select_option(label="pedido_pronto (pt_BR)")
    inputs = picker.locator("[data-template-params] input")
    expect(inputs).to_have_count(2)
    # Each value is named by its position, with the example Meta approved as hint and in its name.
    expect(picker.get_by_role("textbox", name="Value 2, for example A-100")).to_have_attribute("placeholder", "A-100")
    expect(picker.locator("[data-template-params] label").nth(0)).to_have_text("Value 1 ")
    expect(inputs.nth(0)).to_have_value("Rita Alves")  # {{1}} prefilled with the contact's name
    inputs.nth(1).fill("B-2024")
    expect(picker.locator("[data-template-preview]")).to_contain_text(
        "Olá Rita Alves, o seu pedido B-2024 está pronto para retirada."
    )
    picker.locator("[data-template-send]").click()

    def sent() -> list[dict]:
        return [m for m in stack.fake.messages(direction="out", to="5511987650004") if m["type"] == "template"]

    wait_for(lambda: bool(sent()), timeout=TIMEOUT_MS / 1000, message="the template reached the fake")
    (at_fake,) = sent()
    assert at_fake["payload"]["template"]["name"] == "pedido_pronto"
    assert json.dumps(at_fake["payload"]["template"]["components"], ensure_ascii=False).count("B-2024") == 1
    out = Message.objects.get(conversation=conversation, direction="out")
    assert out.type == "template"
    expect(page.locator(f"article.msg.msg-out#m-{out.pk} .ticks")).to_have_attribute(
        "data-ticks", re.compile(r"sent|delivered"), timeout=TIMEOUT_MS
    )
    browser_errors.assert_none()


# --- (e) ---------------------------------------------------------------------------------------------


def test_messages_sent_while_the_socket_is_down_show_after_reconnect(
    stack: Stack, page: Page, browser_errors: BrowserErrors
) -> None:
    agent = member(stack, "ana@acme.example", "Ana Agent")
    stack.fake.inbound(
        phone_number_id=PNID_A, **{"from": "5511987650005"}, name="Paulo Reis", type="text", text="Oi de novo"
    )
    conversation = stored("Oi de novo").conversation
    open_inbox(page, agent, f"c/{conversation.display_id}/")
    page.evaluate("window.__sameDocument = true")
    # The socket is up first: one still connecting when the network goes would not be the one dropped.
    expect(page.locator("[data-live-state]")).to_have_attribute("data-state", "live", timeout=TIMEOUT_MS)

    # The network goes away and the socket with it; reconnecting fails until it comes back.
    page.context.set_offline(True)
    page.evaluate("window.inboxDebug.dropSocket()")
    expect(page.locator("[data-live-state]")).to_have_attribute("data-state", "offline", timeout=TIMEOUT_MS)
    texts = [f"Enquanto você estava fora {i}" for i in range(3)]
    for text in texts:
        stack.fake.inbound(
            phone_number_id=PNID_A, **{"from": "5511987650005"}, name="Paulo Reis", type="text", text=text
        )
    stack.fake.inbound(
        phone_number_id=PNID_A,
        **{"from": "5511987650006"},
        name="Nova Cliente",
        type="text",
        text="Conversa nova durante a queda",
    )
    missed = [stored(text) for text in texts]
    newcomer = stored("Conversa nova durante a queda").conversation
    # Nothing can have reached the page: it is offline.
    expect(page.locator("[data-live-state]")).to_have_attribute("data-state", "offline")
    assert page.locator(f"article.msg#m-{missed[0].pk}").count() == 0
    assert row_of(page, newcomer).count() == 0

    page.context.set_offline(False)
    expect(page.locator("[data-live-state]")).to_have_attribute("data-state", "live", timeout=TIMEOUT_MS)
    for message in missed:
        expect(page.locator(f"article.msg.msg-in#m-{message.pk}")).to_contain_text(message.text, timeout=TIMEOUT_MS)
    expect(row_of(page, newcomer).locator(".row-preview")).to_contain_text(
        "Conversa nova durante a queda", timeout=TIMEOUT_MS
    )
    expect(row_of(page, conversation).locator(".row-preview")).to_contain_text(texts[-1])
    # In order, each once.
    ids = [
        int(x) for x in page.locator("[data-messages] > article.msg").evaluate_all("els => els.map(e => e.dataset.id)")
    ]
    assert ids == sorted(ids) and len(ids) == len(set(ids))
    assert page.evaluate("window.__sameDocument") is True, "the page reloaded"

    # A plain drop (no outage): the page reconnects by itself and keeps receiving.
    page.evaluate("window.inboxDebug.dropSocket()")
    stack.fake.inbound(
        phone_number_id=PNID_A, **{"from": "5511987650005"}, name="Paulo Reis", type="text", text="Depois da reconexão"
    )
    after = stored("Depois da reconexão")
    expect(page.locator(f"article.msg.msg-in#m-{after.pk}")).to_contain_text("Depois da reconexão", timeout=TIMEOUT_MS)
    expect(page.locator("[data-live-state]")).to_have_attribute("data-state", "live", timeout=TIMEOUT_MS)
    # Offline fetches and socket attempts fail by design; nothing else may.
    assert not browser_errors.page_errors and not browser_errors.server_errors, str(browser_errors)
    unexpected = [
        e
        for e in browser_errors.console_errors
        if not re.search(r"WebSocket|ERR_INTERNET_DISCONNECTED|Failed to fetch|net::", e)
    ]
    assert not unexpected, unexpected


def test_idle_socket_stays_open(stack: Stack, page: Page, browser_errors: BrowserErrors) -> None:
    """An agent who just watches the inbox keeps one WebSocket: quiet minutes are the normal case."""
    agent = member(stack, "ana@acme.example", "Ana Agent")
    sockets: list[WebSocket] = []
    page.on("websocket", lambda ws: sockets.append(ws))
    open_inbox(page, agent)
    assert len(sockets) == 1
    # Longer than any read timeout of the channel layer (5 s by default since redis-py 8): no close.
    with pytest.raises(PlaywrightTimeoutError):
        sockets[0].wait_for_event("close", timeout=8_000)
    stack.fake.inbound(
        phone_number_id=PNID_A, **{"from": "5511987650010"}, name="Depois do Silêncio", type="text", text="Ainda aí?"
    )
    conversation = stored("Ainda aí?").conversation
    expect(row_of(page, conversation).locator(".row-preview")).to_contain_text("Ainda aí?", timeout=TIMEOUT_MS)
    assert len(sockets) == 1, [ws.url for ws in sockets]
    browser_errors.assert_none()


# --- visibility ----------------------------------------------------------------------------------------


def test_hidden_conversations_never_reach_the_agents_browser(
    stack: Stack, page: Page, open_page: Callable[[], Page], browser_errors: BrowserErrors
) -> None:
    """Ana belongs to inbox A only; a conversation of inbox B and one of A assigned to Bob are not hers."""
    ana = member(stack, "ana@acme.example", "Ana Agent", inboxes=("a",))
    bob = member(stack, "bob@acme.example", "Bob Agent", inboxes=("a", "b"))
    stack.fake.inbound(
        phone_number_id=PNID_A, **{"from": "5511987650007"}, name="Cliente do Bob", type="text", text="Assunto do Bob"
    )
    bobs = stored("Assunto do Bob").conversation
    Conversation.objects.filter(pk=bobs.pk).update(assignee=bob)  # before Ana arrives: no event needed

    def capture(target: Page) -> list[str]:
        received: list[str] = []

        def on_websocket(ws: WebSocket) -> None:
            ws.on(
                "framereceived",
                lambda payload: received.append(payload if isinstance(payload, str) else payload.decode()),
            )

        target.on("websocket", on_websocket)
        return received

    frames = capture(page)
    open_inbox(page, ana)
    expect(row_of(page, bobs)).to_have_count(0)
    # Bob, who may see both, proves the hidden events were really published.
    bob_page = open_page()
    bob_frames = capture(bob_page)
    open_inbox(bob_page, bob)

    # Events on the hidden conversations: a new one in inbox B, a message in Bob's.
    stack.fake.inbound(
        phone_number_id=PNID_B,
        **{"from": "5511987650008"},
        name="Cliente de Vendas",
        type="text",
        text="Segredo de vendas",
    )
    secret_b = stored("Segredo de vendas")
    stack.fake.inbound(
        phone_number_id=PNID_A, **{"from": "5511987650007"}, name="Cliente do Bob", type="text", text="Segredo do Bob"
    )
    secret_bob = stored("Segredo do Bob")
    expect(row_of(bob_page, bobs).locator(".row-preview")).to_contain_text("Segredo do Bob", timeout=TIMEOUT_MS)
    pump_until(bob_page, lambda: sum("Segredo" in f for f in bob_frames) >= 2, "Bob's frames of both events")
    # Then an event she may see; once it has arrived, the earlier ones would have too.
    stack.fake.inbound(
        phone_number_id=PNID_A,
        **{"from": "5511987650009"},
        name="Cliente da Ana",
        type="text",
        text="Pergunta para a Ana",
    )
    visible = stored("Pergunta para a Ana")
    expect(row_of(page, visible.conversation).locator(".row-preview")).to_contain_text(
        "Pergunta para a Ana", timeout=TIMEOUT_MS
    )
    pump_until(page, lambda: any("Pergunta para a Ana" in f for f in frames), "the visible event's frame")

    hidden = {secret_b.conversation_id, bobs.pk}
    events = [json.loads(f) for f in frames]
    mentioned = set()
    for event in events:
        conv = event.get("conversation") or {}
        mentioned.add(conv.get("id"))
        mentioned.add((event.get("message") or {}).get("conversation_id"))
        mentioned.add(((event.get("notification") or {}).get("conversation") or {}).get("id"))
    assert not hidden & mentioned, f"hidden conversations in Ana's frames: {hidden & mentioned}"
    assert not [f for f in frames if "Segredo" in f], "hidden text reached Ana's browser"
    assert visible.conversation_id in mentioned
    assert secret_bob.conversation_id == bobs.pk
    expect(row_of(page, bobs)).to_have_count(0)
    expect(page.locator(f"li.row#c-{secret_b.conversation_id}")).to_have_count(0)
    # Nor can she open them by address.
    for conversation_id in hidden:
        display_id = Conversation.objects.get(pk=conversation_id).display_id
        response = page.request.get(f"/t/{SLUG}/inbox/c/{display_id}/pane/")
        assert response.status == 404, (display_id, response.status)
    browser_errors.assert_none()
