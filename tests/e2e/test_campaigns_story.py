"""A first campaign, end to end in Chromium, through real processes: an admin authors a marketing template with an
image header and a link button and Meta (the fake Cloud API) approves it; the admin imports the shop's contacts
from a spreadsheet with their consent, builds the segment of those who said yes, and schedules a broadcast; when
it is due the progress bar fills live as the customers' phones (the fake's simulator) receive it, paced by the
number. A customer answers PARAR: they are told they are out, and the next broadcast skips them.

Real processes on the test database, as in ``test_payments_story``: the ASGI server, a Celery worker and beat, and
the fake Cloud API. Every wait is Playwright's ``expect`` or a poll with a timeout, never a sleep.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import Locator, Page, expect

from campaigns.models import Broadcast, BroadcastRecipient, ConsentEvent, Segment
from conversations.models import Contact
from tenants.models import Tenant
from tests.e2e.conftest import BrowserErrors, redis_processes_env, start_fake_web_worker
from tests.e2e.harness import VENV_BIN, ServerProcess
from tests.e2e.ui import log_in
from tests.factories import make_tenant, make_user, owner_of
from whatsapp.fake import FakeAdminClient, wait_for
from whatsapp.models import MessageTemplate, WhatsAppChannel

pytestmark = pytest.mark.e2e

SLUG = "loja"
PASSWORD = "Campaigns-story-password-42"
TIMEOUT_MS = 20_000  # two shared cores: generous, never a sleep
REDIS_DB = "11"  # its own Redis database: broker and channel layer of these processes only
PNID, WABA, TOKEN, SECRET = "106540352248801", "102290129348801", "campaigns-story-token", "campaigns-story-secret"
DEMO_CSV = Path(__file__).resolve().parents[2] / "campaigns" / "demo" / "contatos-demo.csv"
# The four customers of the demo file who said yes; Carlos said no; one row has a wrong number.
CONSENTING = {"5511987654321": "Maria Souza", "5511976543210": "João Pereira", "5511965432109": "Ana Lima",
              "5531943210987": "Beatriz Rocha"}  # fmt: skip
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
    b"\x00\x00\x00\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\x00\x05\x00\x01\xff\x89\x99=\x1d\x00\x00\x00\x00IEND\xaeB`\x82"
)


@dataclass
class Stack:
    web_url: str
    wa_url: str
    wa: FakeAdminClient
    tenant: Tenant
    channel: WhatsAppChannel


@pytest.fixture
def stack(server_env: dict[str, str], start_process: Callable[..., ServerProcess], tmp_path: Path) -> Iterator[Stack]:
    from whatsapp.services import channel_create

    env = redis_processes_env(server_env, redis_db=REDIS_DB, needs="The campaigns story's server, worker and beat")
    env = env | {"WHATSAPP_APP_ID": "1000000000000001", "CAMPAIGNS_SWEEP_INTERVAL_SECONDS": "1"}
    tenant = make_tenant(
        "Loja Verão",
        slug=SLUG,
        locale="pt-br",
        owner=make_user("owner@loja.example", name="Olivia Owner", password=PASSWORD, language="en"),
    )
    channel = channel_create(
        actor=owner_of(tenant),
        name="Loja",
        display_phone_number="+55 11 90000-8801",
        phone_number_id=PNID,
        waba_id=WABA,
        access_token=TOKEN,
        app_secret=SECRET,
        verify=False,
        throughput_per_second=2,  # paced: the bar fills step by step
    )
    wa_url, web_url = start_fake_web_worker(start_process, env, tmp_path, worker_name="campaigns-story")
    start_process(
        name="beat",
        command=[VENV_BIN / "celery", "-A", "helpdesk", "beat", "--loglevel=INFO", "-s", str(tmp_path / "beat")],
        env=env,
        ready=lambda: (tmp_path / "logs" / "beat.log").exists(),
    )
    wa = FakeAdminClient(wa_url)
    wa.settings(review_delay_s=None)  # Meta reviews when the test says so
    wa.register_number(
        phone_number_id=PNID,
        display_phone_number="5511900008801",
        waba_id=WABA,
        access_token=TOKEN,
        app_secret=SECRET,
        webhook_url=f"{web_url}/webhooks/whatsapp/{channel.webhook_key}/",
        verified_name="Loja Verão",
        throughput_per_s=2,
    )
    WhatsAppChannel.objects.filter(pk=channel.pk).update(messaging_limit_tier="TIER_2K", quality_rating="GREEN")
    yield Stack(web_url, wa_url, wa, tenant, channel)
    wa.close()


@pytest.fixture
def live_server_url(stack: Stack) -> str:
    return stack.web_url


def author_template(page: Page, stack: Stack) -> MessageTemplate:
    page.goto(f"/t/{SLUG}/settings/whatsapp/{stack.channel.pk}/")
    page.get_by_role("link", name="New template").click()
    form = page.locator("[data-template-form]")
    preview = page.locator("[data-preview]")
    form.get_by_label("Name", exact=True).fill("liquidacao_verao")
    form.get_by_label("Category").select_option("MARKETING")
    form.get_by_label("Header", exact=True).select_option("IMAGE")
    form.get_by_label("Sample file").set_input_files({"name": "praia.png", "mimeType": "image/png", "buffer": PNG})
    form.get_by_label("Message text").fill("Olá {{1}}, a liquidação de verão vai até domingo!")
    form.get_by_label("Examples of the variables").fill("Maria")
    expect(preview.locator("[data-preview-body]")).to_have_text("Olá Maria, a liquidação de verão vai até domingo!")
    form.get_by_role("button", name="Add a button").click()
    row = form.locator("[data-button-row]").first
    row.locator("select[name$='-type']").select_option("URL")
    row.get_by_label("Button text").fill("Ver ofertas")
    row.get_by_label("Website address").fill("https://loja.example.com/ofertas/{{1}}")
    row.get_by_label("Example address").fill("https://loja.example.com/ofertas/verao")
    form.get_by_role("button", name="Send for review").click()
    expect(page.locator("tr[data-template='liquidacao_verao']")).to_contain_text("In review")

    template = MessageTemplate.objects.get(tenant=stack.tenant, name="liquidacao_verao")
    stack.wa.approve_template(template.meta_id)
    wait_for(
        lambda: MessageTemplate.objects.get(pk=template.pk).status == MessageTemplate.Status.APPROVED,
        timeout=TIMEOUT_MS / 1000,
        message="Meta's approval reached the product",
    )
    page.reload()
    expect(page.locator("tr[data-template='liquidacao_verao']")).to_contain_text("Approved")
    return template


def import_contacts(page: Page) -> None:
    page.goto(f"/t/{SLUG}/campaigns/contacts/import/")
    page.get_by_label("File").set_input_files(str(DEMO_CSV))
    page.get_by_role("button", name="Upload").click()
    page.locator("#consent_purpose").select_option(label="Marketing messages")
    page.locator("#consent_proof").fill("Cadastro na loja com a caixa de promoções marcada.")
    page.get_by_role("button", name="Import").click()
    card = page.locator("#import-progress")
    expect(card).to_have_attribute("data-import-status", "done", timeout=TIMEOUT_MS)
    expect(page.locator("[data-import-error='7']")).to_be_visible()


def build_segment(page: Page) -> None:
    page.goto(f"/t/{SLUG}/campaigns/segments/new/")
    page.locator("#consent_state").select_option("opted_in")
    expect(page.locator("#segment-count [data-count]")).to_have_attribute("data-count", "4")
    page.fill("#name", "Aceitaram promoções")
    page.get_by_role("button", name="Save").click()


def draft_broadcast(page: Page, name: str, *, segment: str, audience: int) -> Locator:
    page.goto(f"/t/{SLUG}/campaigns/broadcasts/new/")
    form = page.locator("#broadcast-form")
    form.get_by_label("Name", exact=True).fill(name)
    form.get_by_label("Template").select_option("liquidacao_verao|pt_BR")
    expect(form.locator("[data-template='liquidacao_verao']")).to_be_visible()
    form.locator("[data-parameter='header.link'] select").select_option("value")
    form.locator("[data-parameter='header.link'] input").first.fill("https://loja.example.com/praia.png")
    form.locator("[data-parameter='button.0'] select").select_option("value")
    form.locator("[data-parameter='button.0'] input").first.fill("verao")
    form.locator("select[name=segment]").select_option(label=segment)
    expect(page.locator("#broadcast-summary [data-audience-count]")).to_contain_text(f"{audience} contacts")
    return form


def test_an_admin_runs_a_first_campaign_and_a_customer_who_says_parar_gets_no_more(
    stack: Stack, page: Page, open_page: Callable[..., Page], browser_errors: BrowserErrors
):
    log_in(page, email="owner@loja.example", password=PASSWORD)
    author_template(page, stack)
    import_contacts(page)
    assert dict(Contact.objects.filter(tenant=stack.tenant, marketing_consent="opted_in").values_list(
        "phone_e164", "name")) == {f"+{phone}": name for phone, name in CONSENTING.items()}  # fmt: skip
    build_segment(page)

    # Scheduled for tomorrow morning, then (as if the night had passed) due now: beat starts it.
    form = draft_broadcast(page, "Liquidação de verão", segment="Aceitaram promoções", audience=4)
    form.get_by_label("At a set time").check()
    tomorrow = timezone.localdate() + timezone.timedelta(days=1)
    form.locator("#id_send_date").fill(tomorrow.isoformat())
    form.locator("#id_send_time").fill("09:00")
    form.get_by_role("button", name="Save the draft").click()
    broadcast = Broadcast.objects.get(tenant=stack.tenant, name="Liquidação de verão")
    page.goto(f"/t/{SLUG}/campaigns/broadcasts/{broadcast.pk}/")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Schedule").click()
    live = page.locator("#broadcast-live")
    expect(live).to_have_attribute("data-status", "scheduled")
    Broadcast.objects.filter(pk=broadcast.pk).update(scheduled_at=timezone.now())

    # The page, left open, follows it to the end (its polling swaps the progress in: no reload), all four reached.
    # (Whether a poll lands while it is still sending depends on the machine: two a second take about two seconds.)
    expect(live.locator("[data-processed]")).to_have_text("4 of 4 (100%)", timeout=TIMEOUT_MS)
    expect(live).to_have_attribute("data-status", "completed", timeout=TIMEOUT_MS)
    expect(live.locator("[data-count='delivered']")).to_contain_text("4", timeout=TIMEOUT_MS)
    sent = Counter(m["wa_id"] for m in stack.wa.messages(direction="out", phone_number_id=PNID))
    assert sent == {phone: 1 for phone in CONSENTING}

    # Maria's phone shows the offer; she answers PARAR and is told she is out.
    maria = open_page(locale="pt-BR")
    maria.goto(f"{stack.wa_url}/simulator/?pnid={PNID}&customer=5511987654321&name=Maria")
    offer = maria.locator(".sim-msg[data-direction='out']").filter(has_text="Olá Maria Souza")
    expect(offer).to_have_count(1, timeout=TIMEOUT_MS)
    maria.get_by_test_id("sim-text").fill("PARAR")
    maria.get_by_test_id("sim-send").click()
    expect(maria.locator(".sim-msg[data-direction='out']")).to_have_count(2, timeout=TIMEOUT_MS)
    wait_for(
        lambda: Contact.objects.get(tenant=stack.tenant, phone_e164="+5511987654321").marketing_consent == "opted_out",
        timeout=TIMEOUT_MS / 1000,
        message="Maria's PARAR opted her out",
    )
    assert list(ConsentEvent.objects.filter(tenant=stack.tenant, contact__phone_e164="+5511987654321").values_list(
        "kind", "source")) == [("opt_out", "keyword"), ("opt_in", "import")]  # fmt: skip

    # The next broadcast, to every customer and started at once, goes to the three others who said yes only.
    Segment.objects.create(tenant=stack.tenant, name="Todos os clientes", filters={})
    form = draft_broadcast(page, "Última chance", segment="Todos os clientes", audience=5)
    form.get_by_role("button", name="Save the draft").click()
    second = Broadcast.objects.get(tenant=stack.tenant, name="Última chance")
    page.goto(f"/t/{SLUG}/campaigns/broadcasts/{second.pk}/")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Start sending").click()
    live = page.locator("#broadcast-live")
    expect(live).to_have_attribute("data-status", "completed", timeout=TIMEOUT_MS)
    expect(live.locator("[data-count='delivered']")).to_contain_text("3", timeout=TIMEOUT_MS)
    outcomes = {
        phone: (status, reason)
        for phone, status, reason in BroadcastRecipient.objects.filter(broadcast=second).values_list(
            "phone", "status", "skip_reason"
        )
    }
    assert outcomes == {
        "+5511987654321": ("skipped", "opted_out"),
        "+5511976543210": ("delivered", ""),
        "+5511965432109": ("delivered", ""),
        "+5531943210987": ("delivered", ""),
        "+5521954321098": ("skipped", "no_consent"),
    }
    sent = Counter(m["wa_id"] for m in stack.wa.messages(direction="out", phone_number_id=PNID)
                   if m["type"] == "template")  # fmt: skip
    assert sent == {phone: 1 if phone == "5511987654321" else 2 for phone in CONSENTING}
    browser_errors.assert_none()
