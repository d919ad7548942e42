"""The inbox worked in Portuguese and in English, in Chromium, on a Portuguese workspace.

An agent who reads Portuguese signs in from a browser that asks for pt-BR, takes a conversation,
labels it, writes a private note, answers with a quick reply, and sends a template where the 24-hour
window has closed; an agent who reads English does the same on conversations of their own. On the way,
what each sees (the page's text, tooltips, accessible names, placeholders, toasts and dates) is in their
language and holds none of the other language's terms (``tests.languages``). Then the first agent
switches to English from the user menu.

Real processes on the test database, as in ``test_inbox_live``: the ASGI server, a Celery worker and
the fake WhatsApp Cloud API (customers write through it; our sends reach it). Needs PostgreSQL and Redis.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone, translation
from playwright.sync_api import Page, expect

from conversations.models import Conversation, Label, Message, QuickReply
from tenants.models import Tenant, User
from tenants.permissions import BuiltinRole
from tenants.templatetags.dates import local_date, local_datetime
from tests.e2e.conftest import BrowserErrors, redis_processes_env, start_fake_web_worker
from tests.e2e.harness import ServerProcess
from tests.e2e.ui import log_in
from tests.factories import add_member, make_tenant, make_user, owner_of
from tests.languages import ENGLISH, PORTUGUESE, terms_in
from whatsapp.fake import FakeAdminClient, wait_for
from whatsapp.models import MessageTemplate, WhatsAppChannel

pytestmark = pytest.mark.e2e

SLUG = "aurora"
PASSWORD = "Idiomas-senha-forte-42"
TIMEOUT_MS = 15_000  # two shared cores: generous, never a sleep
PNID, WABA, TOKEN, SECRET = "106540352244001", "102290129344001", "idiomas-token", "idiomas-secret"
REDIS_DB = "9"  # its own Redis database: broker and channel layer of these processes only
ZONE = ZoneInfo("America/Sao_Paulo")  # the workspace's
TEMPLATE_COMPONENTS = [
    {
        "type": "BODY",
        "text": "Olá {{1}}, seu pedido {{2}} foi enviado.",
        "example": {"body_text": [["Maria", "A-100"]]},
    }
]
# What the customers, the team and the workspace wrote: left out when looking for the other language.
DATA = [
    "Loja Aurora",
    "Suporte",
    "VIP",
    "pedido_enviado",
    "pt_BR",
    "Olá {{1}}, seu pedido {{2}} foi enviado.",
    "Conferir o endereço de entrega",
    "Seu pedido sai amanhã cedo.",
]


@dataclass
class Stack:
    web_url: str
    fake: FakeAdminClient
    tenant: Tenant
    channel: WhatsAppChannel


@pytest.fixture
def live_env(server_env: dict[str, str]) -> dict[str, str]:
    return redis_processes_env(server_env, redis_db=REDIS_DB, needs="The language browser tests")


@pytest.fixture
def stack(live_env: dict[str, str], start_process: Callable[..., ServerProcess], tmp_path: Path) -> Iterator[Stack]:
    """Workspace ``aurora`` in Portuguese with one WhatsApp number on the fake, a label, a quick reply and
    an approved template; the fake, the server and a worker running."""
    from conversations.selectors import audience_cache_clear
    from whatsapp.services import channel_create

    audience_cache_clear()
    owner = make_user("beatriz@aurora.example", name="Beatriz Almeida", password=PASSWORD)
    with translation.override("pt-br"):
        tenant = make_tenant("Loja Aurora", slug=SLUG, owner=owner, locale="pt-br")
        channel = channel_create(
            actor=owner_of(tenant),
            name="Suporte",
            display_phone_number="+55 11 90000-4001",
            phone_number_id=PNID,
            waba_id=WABA,
            access_token=TOKEN,
            app_secret=SECRET,
            verify=False,
        )
    Label.objects.create(tenant=tenant, name="VIP", color="#aabbcc")
    QuickReply.objects.create(tenant=tenant, shortcut="prazo", text="Seu pedido sai amanhã cedo.")
    MessageTemplate.objects.create(
        tenant=tenant,
        waba_id=WABA,
        name="pedido_enviado",
        language="pt_BR",
        category="UTILITY",
        status=MessageTemplate.Status.APPROVED,
        components=TEMPLATE_COMPONENTS,
        meta_id="1",
    )
    fake_url, web_url = start_fake_web_worker(start_process, live_env, tmp_path, worker_name="languages-worker")
    fake = FakeAdminClient(fake_url)
    fake.settings(sent_delay_s=0.05, delivered_delay_s=0.1)
    fake.register_number(
        phone_number_id=PNID,
        display_phone_number="5511900004001",
        waba_id=WABA,
        access_token=TOKEN,
        app_secret=SECRET,
        webhook_url=f"{web_url}/webhooks/whatsapp/{channel.webhook_key}/",
        verified_name="Loja Aurora",
    )
    fake.add_template(
        waba_id=WABA,
        name="pedido_enviado",
        language="pt_BR",
        category="UTILITY",
        components=TEMPLATE_COMPONENTS,
        status="APPROVED",
    )
    yield Stack(web_url, fake, tenant, channel)
    fake.close()


@pytest.fixture
def live_server_url(stack: Stack) -> str:
    """Pages open on this module's server (the one wired to Redis, the worker and the fake)."""
    return stack.web_url


# --- the people -----------------------------------------------------------------------------------


def agent(stack: Stack, email: str, name: str, language: str) -> User:
    user = make_user(email, name=name, password=PASSWORD, language=language)
    add_member(stack.tenant, BuiltinRole.AGENT, user=user)
    stack.channel.inbox.members.add(user)
    DATA.append(name)
    return user


def local_noon(days_ago: int) -> datetime:
    """Noon in the workspace's zone, ``days_ago`` days back: always a day label of its own, whatever the hour."""
    day = timezone.now().astimezone(ZONE).date() - timedelta(days=days_ago)
    return datetime(day.year, day.month, day.day, 12, tzinfo=ZONE)


def customer_writes(stack: Stack, wa_id: str, name: str, text: str, at: datetime | None = None) -> Conversation:
    """A customer's message through the fake (stamped ``at`` by its clock), stored by our worker."""
    # The approved template is Portuguese whoever sends it: its preview for this customer is data too.
    DATA.extend([name, text, f"Olá {name}, seu pedido B-2024 foi enviado."])
    stack.fake.set_clock((at or timezone.now()).timestamp())
    stack.fake.inbound(phone_number_id=PNID, **{"from": wa_id}, name=name, type="text", text=text)
    stack.fake.set_clock(time.time())
    wait_for(lambda: Message.objects.filter(text=text).exists(), timeout=TIMEOUT_MS / 1000, message=f"{text!r} stored")
    return Message.objects.select_related("conversation").get(text=text).conversation


def sent_to(stack: Stack, wa_id: str, kind: str) -> list[dict]:
    return [m for m in stack.fake.messages(direction="out", to=wa_id) if m["type"] == kind]


# --- what a person reads --------------------------------------------------------------------------

SHOWN = """() => {
  const texts = document.body.innerText.split("\\n");
  for (const element of document.querySelectorAll("[title], [aria-label], [placeholder], [alt]")) {
    for (const name of ["title", "aria-label", "placeholder", "alt"]) {
      const value = element.getAttribute(name);
      if (value) texts.push(value);
    }
  }
  return texts.map((t) => t.trim()).filter(Boolean);
}"""


def other_language(page: Page, language: str) -> dict[str, list[str]]:
    """The other language's terms on the page: in its visible text and in its tooltips, accessible
    names, placeholders and alternative texts. Messages are left out: what customers and the team wrote
    (a template as sent), and history lines, written once in the language of whoever acted."""
    written = [text for text in Message.objects.values_list("text", flat=True) if text]
    pattern = ENGLISH if language == "pt-br" else PORTUGUESE
    return terms_in(page.evaluate(SHOWN), pattern, [*DATA, *written])


# What each language says at each step (the Portuguese as the catalog reads it, written out here).
WORDS = {
    "pt-br": {
        "sign_in": "Entrar",
        "heading": "Conversas",
        "note_mode": "Nota privada",
        "note_placeholder": "Nota privada para a equipe… (@ para mencionar)",
        "note_by": "Nota · {name}",
        "remove_label": "Remover etiqueta VIP",
        "more": "Mais",
        "snooze": "Adiar",
        "snooze_toast": "Escolha até quando adiar.",
        "today": "Hoje",
        "yesterday": "Ontem",
        "window_closed": "Janela de resposta fechada: apenas modelos",
        "choose_template": "Escolha um modelo…",
        "value_2": "Valor 2, por exemplo A-100",
        "template": "Modelo pedido_enviado (pt_BR)",
        "account_menu": "Menu da conta",
    },
    "en": {
        "sign_in": "Sign In",
        "heading": "Conversations",
        "note_mode": "Private note",
        "note_placeholder": "Private note for the team… (@ to mention)",
        "note_by": "Note · {name}",
        "remove_label": "Remove label VIP",
        "more": "More",
        "snooze": "Snooze",
        "snooze_toast": "Choose a time to snooze until.",
        "today": "Today",
        "yesterday": "Yesterday",
        "window_closed": "Reply window closed: templates only",
        "choose_template": "Choose a template…",
        "value_2": "Value 2, for example A-100",
        "template": "Template pedido_enviado (pt_BR)",
        "account_menu": "Account menu",
    },
}


def a_date(moment: datetime, language: str) -> str:
    """How a day older than yesterday is labelled: 04/12/2026 in Portuguese, the English date otherwise."""
    if language == "pt-br":
        return moment.astimezone(ZONE).strftime("%d/%m/%Y")
    with translation.override("en"), timezone.override(ZONE):
        return local_date(moment)


def a_moment(moment: datetime, language: str) -> str:
    """A date and time: 04/12/2026 12:00 in Portuguese, the English date and time otherwise."""
    if language == "pt-br":
        return moment.astimezone(ZONE).strftime("%d/%m/%Y %H:%M")
    with translation.override("en"), timezone.override(ZONE):
        return local_datetime(moment)


# --- the flow -------------------------------------------------------------------------------------


def work_the_inbox(
    page: Page, stack: Stack, user: User, language: str, open_one: Conversation, closed_one: Conversation
):
    """Sign in, take ``open_one`` (label, note, quick reply), then send a template on ``closed_one``."""
    words = WORDS[language]
    page.goto("/accounts/login/")
    expect(page.locator("html")).to_have_attribute("lang", language)
    expect(page.get_by_role("button", name=words["sign_in"], exact=True)).to_be_visible()
    assert other_language(page, language) == {}
    log_in(page, email=user.email, password=PASSWORD)

    page.goto(f"/t/{SLUG}/inbox/")
    expect(page.locator("#inbox[data-live='1']")).to_be_attached(timeout=TIMEOUT_MS)
    expect(page.locator("html")).to_have_attribute("lang", language)
    expect(page.locator("#inbox-list-heading")).to_have_text(words["heading"])
    page.locator(f"li.row#c-{open_one.pk} a.row-link").click()
    pane = page.locator(f"[data-pane] .pane[data-conversation='{open_one.display_id}']")
    expect(pane).to_have_attribute("data-window-open", "1", timeout=TIMEOUT_MS)
    # The customer wrote yesterday and today: the history's day separators say so.
    expect(pane.locator(".msg-day")).to_have_text([words["yesterday"], words["today"]])

    # Take the conversation.
    page.locator("select[data-assign]").select_option(str(user.pk))
    wait_for(
        lambda: Conversation.objects.get(pk=open_one.pk).assignee_id == user.pk,
        timeout=TIMEOUT_MS / 1000,
        message="the assignment stored",
    )
    expect(page.locator("select[data-assign]")).to_have_value(str(user.pk))

    # Label it: the chip's remove button is named in the reader's language.
    page.locator("select[data-label-add]").select_option(label="VIP")
    expect(pane.locator(".pane-labels .chip-x")).to_have_attribute("aria-label", words["remove_label"])

    # A private note for the team.
    page.get_by_role("button", name=words["note_mode"], exact=True).click()
    text_box = page.locator("[data-text]")
    expect(text_box).to_have_attribute("placeholder", words["note_placeholder"])
    text_box.fill("Conferir o endereço de entrega")
    text_box.press("Enter")
    note = pane.locator("article.msg-note", has_text="Conferir o endereço de entrega")
    expect(note).to_contain_text(words["note_by"].format(name=user.display_name))

    # A quick reply, sent to the customer.
    page.locator("[data-mode='reply']").click()
    text_box.click()
    text_box.press_sequentially("/prazo")
    expect(page.locator("[data-popup] .popup-item").first).to_contain_text("Seu pedido sai amanhã cedo.")
    text_box.press("Enter")
    expect(text_box).to_have_value("Seu pedido sai amanhã cedo.")
    text_box.press("Enter")
    wa_id = open_one.contact_inbox.source_id
    wait_for(lambda: bool(sent_to(stack, wa_id, "text")), timeout=TIMEOUT_MS / 1000, message="the reply sent")
    reply = pane.locator("article.msg-out", has_text="Seu pedido sai amanhã cedo.")
    expect(reply.locator(".ticks")).to_have_attribute("data-ticks", "delivered", timeout=TIMEOUT_MS)
    # The reply answered the customer: once the header says so, no live change re-renders it any more.
    expect(pane.locator("[data-waiting-since]")).to_have_count(0, timeout=TIMEOUT_MS)

    # A toast: snoozing without a time says what is missing.
    pane.locator("details.more-status summary").click()
    expect(pane.locator("details.more-status summary")).to_have_text(words["more"])
    pane.get_by_role("button", name=words["snooze"], exact=True).click()
    expect(page.locator(".toasts .toast")).to_have_text(words["snooze_toast"])
    assert other_language(page, language) == {}

    # A template where the 24-hour window has closed.
    page.locator(f"li.row#c-{closed_one.pk} a.row-link").click()
    pane = page.locator(f"[data-pane] .pane[data-conversation='{closed_one.display_id}']")
    expect(pane).to_have_attribute("data-window-open", "0", timeout=TIMEOUT_MS)
    expect(pane.locator("[data-window]")).to_have_text(words["window_closed"])
    first = Message.objects.filter(conversation=closed_one).earliest("id")
    expect(pane.locator(".msg-day").first).to_have_text(a_date(first.occurred_at, language))
    # A message's time says its full date in its tooltip: 04/12/2026 12:00 in Portuguese.
    expect(pane.locator(f"article#m-{first.pk} time").first).to_have_attribute(
        "title", a_moment(first.occurred_at, language)
    )
    picker = page.locator("[data-template-picker]")
    select = picker.locator("select[data-template-select]")
    expect(select.locator("option").first).to_have_text(words["choose_template"])
    expect(select.locator("option", has_text="pedido_enviado (pt_BR)")).to_have_count(1, timeout=TIMEOUT_MS)
    select.select_option(label="pedido_enviado (pt_BR)")
    picker.get_by_role("textbox", name=words["value_2"]).fill("B-2024")
    assert other_language(page, language) == {}
    picker.locator("[data-template-send]").click()
    closed_wa_id = closed_one.contact_inbox.source_id
    wait_for(
        lambda: bool(sent_to(stack, closed_wa_id, "template")), timeout=TIMEOUT_MS / 1000, message="the template sent"
    )
    expect(pane.locator("article.msg-out .msg-template-name")).to_have_text(words["template"])
    assert other_language(page, language) == {}


def switch_to_english(page: Page, user: User) -> None:
    """The user menu's language switcher: the page comes back in English, and stays so."""
    page.locator("summary", has_text=WORDS["pt-br"]["account_menu"]).click()
    expect(page.locator(".language-switcher button[aria-pressed='true']")).to_have_text("Português (Brasil)")
    page.locator(".language-switcher").get_by_role("button", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("#inbox-list-heading")).to_have_text(WORDS["en"]["heading"])
    expect(page.locator("#inbox[data-live='1']")).to_be_attached(timeout=TIMEOUT_MS)
    assert other_language(page, "en") == {}
    user.refresh_from_db()
    assert user.language == "en"


def test_an_agent_works_the_inbox_in_portuguese_then_an_agent_in_english(
    stack: Stack, open_page: Callable[..., Page], browser_errors: BrowserErrors
) -> None:
    carla = agent(stack, "carla@aurora.example", "Carla Pereira", "pt-br")
    ellen = agent(stack, "ellen@aurora.example", "Ellen Smith", "en")
    joao = "5511987650101"
    customer_writes(stack, joao, "João Silva", "Oi, bom dia", at=local_noon(1))
    for_carla = customer_writes(stack, joao, "João Silva", "Meu pedido chegou?")
    for_carla_closed = customer_writes(stack, "5511987650102", "Ana Costa", "Obrigada!", at=local_noon(3))
    maria = "5511987650103"
    customer_writes(stack, maria, "Maria Souza", "Boa tarde", at=local_noon(1))
    for_ellen = customer_writes(stack, maria, "Maria Souza", "Quando chega?")
    for_ellen_closed = customer_writes(stack, "5511987650104", "Pedro Lima", "Valeu", at=local_noon(3))

    pt_page = open_page(locale="pt-BR")
    work_the_inbox(pt_page, stack, carla, "pt-br", for_carla, for_carla_closed)
    switch_to_english(pt_page, carla)
    en_page = open_page(locale="en-US")
    work_the_inbox(en_page, stack, ellen, "en", for_ellen, for_ellen_closed)

    taken = Conversation.objects.filter(pk__in=[for_carla.pk, for_ellen.pk])
    stored = {c.pk: (c.assignee_id, sorted(c.labels.values_list("name", flat=True))) for c in taken}
    assert stored == {for_carla.pk: (carla.pk, ["VIP"]), for_ellen.pk: (ellen.pk, ["VIP"])}
    notes = Message.objects.filter(private=True, type=Message.Type.TEXT).order_by("id")
    assert [(n.conversation_id, n.sender_user_id) for n in notes] == [
        (for_carla.pk, carla.pk),
        (for_ellen.pk, ellen.pk),
    ]
    browser_errors.assert_none()
