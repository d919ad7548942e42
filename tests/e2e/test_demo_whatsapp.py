"""The demo of ``make run``, end to end: a customer writes from the simulator and reads the API's reply.

As ``make run`` does it: the real ``seed_demo`` and ``seed_demo_whatsapp --register`` commands, the
fake Cloud API as its own process with the config file they write, and the web server with jobs run
in-process and the embedded beat (no Redis, no worker). The person opens the fake's customer
simulator in Chromium, writes to the demo number, and reads the reply an API client sends.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from conversations.models import Contact, Conversation, Message
from tenants.models import Membership, Tenant
from tenants.permissions import BuiltinRole
from tests.e2e.conftest import BrowserErrors
from tests.e2e.harness import PROJECT_ROOT, VENV_BIN, ServerProcess, free_port
from tests.factories import make_tenant, owner_of
from whatsapp.fake import FakeAdminClient, wait_for
from whatsapp.management.commands.seed_demo_whatsapp import DEMO
from whatsapp.models import WhatsAppChannel

pytestmark = pytest.mark.e2e

TIMEOUT_MS = 15_000  # two shared cores: generous, never a sleep
CUSTOMER = "5511987654321"
CUSTOMER_NAME = "Marina Costa"
READ_BLUE = "rgb(83, 189, 235)"  # simulator.css: .sim-ticks[data-status="read"]


@dataclass
class Demo:
    web_url: str
    fake_url: str
    tenant: Tenant
    channel: WhatsAppChannel


def manage(env: dict[str, str], *args: str) -> str:
    """Run a management command as ``make run`` does, in its own process; returns its output."""
    done = subprocess.run(
        [str(VENV_BIN / "python"), "manage.py", *args],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"manage.py {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture
def demo_env(server_env: dict[str, str]) -> dict[str, str]:
    # The embedded default of `make run`: no Redis, jobs in-process, delayed jobs on a thread.
    env = {key: value for key, value in server_env.items() if key != "REDIS_URL"}
    env.update({"CELERY_TASK_ALWAYS_EAGER": "true", "HELPDESK_EAGER_DELAYED_TASKS": "thread"})
    return env


@pytest.fixture
def demo(demo_env: dict[str, str], start_process: Callable[..., ServerProcess], tmp_path: Path) -> Demo:
    """The `make run` sequence on this test's database: seed, fake, seed WhatsApp and register, server."""
    fake_port, web_port = free_port(), free_port()
    fake_url, web_url = f"http://127.0.0.1:{fake_port}", f"http://127.0.0.1:{web_port}"
    # As `make run` sets it: the fake is the Cloud API, and its media may be fetched on this machine.
    demo_env = demo_env | {
        "WHATSAPP_API_BASE_URL": fake_url,
        "WHATSAPP_MEDIA_ALLOWED_HOSTS": "127.0.0.1",
        "WHATSAPP_MEDIA_ALLOW_LOOPBACK": "true",
    }
    manage(demo_env, "seed_demo")
    config = tmp_path / "var" / "fake-cloud-api.json"
    config.parent.mkdir()
    config.write_text("[]")
    start_process(
        name="fake",
        command=[
            VENV_BIN / "python",
            *("-m", "whatsapp.fake", "--host", "127.0.0.1", "--port", str(fake_port), "--config", str(config)),
        ],
        env=demo_env,
        ready=f"{fake_url}/_fake/health",
    )
    manage(
        demo_env,
        "seed_demo_whatsapp",
        *("--site-url", web_url, "--fake-config", str(config), "--register"),
    )
    start_process(
        name="web",
        command=[
            VENV_BIN / "uvicorn",
            "helpdesk.asgi:application",
            *("--host", "127.0.0.1", "--port", str(web_port), "--lifespan", "off"),
        ],
        env={**demo_env, "HELPDESK_EMBEDDED_BEAT": "1"},
        ready=f"{web_url}/healthz/",
    )
    tenant = Tenant.objects.get(slug="demo")
    channel = WhatsAppChannel.objects.select_related("inbox").get(phone_number_id=DEMO["phone_number_id"])
    assert channel.tenant_id == tenant.pk
    return Demo(web_url, fake_url, tenant, channel)


@pytest.fixture
def live_server_url(demo: Demo) -> str:
    """Pages open on the demo's server."""
    return demo.web_url


@pytest.fixture
def other_tenant(server_env: dict[str, str]) -> Tenant:
    """Another workspace with a WhatsApp number of its own, seeded before the demo."""
    from whatsapp.services import channel_create

    tenant = make_tenant("Globex", slug="globex")
    channel_create(
        actor=owner_of(tenant),
        name="Globex WhatsApp",
        display_phone_number="+55 11 90000-0002",
        phone_number_id="100000000000002",
        waba_id="200000000000002",
        access_token="globex-access-token",
        app_secret="globex-app-secret",
        verify=False,
    )
    return tenant


def test_customer_writes_to_the_demo_number_and_reads_the_api_reply_with_blue_ticks(
    other_tenant: Tenant, demo: Demo, page: Page, browser_errors: BrowserErrors
) -> None:
    from tenants.services import api_token_create, role_builtin

    # The customer opens the simulator, picks the demo number, a phone number and a name, and writes.
    page.goto(f"{demo.fake_url}/simulator/")
    business = page.get_by_test_id("sim-business")
    business.select_option(DEMO["phone_number_id"])
    expect(page.get_by_test_id("sim-chat-title")).to_have_text(
        f"{DEMO['verified_name']} · +{DEMO['display_phone_number']}", timeout=TIMEOUT_MS
    )
    page.get_by_test_id("sim-customer-phone").fill(CUSTOMER)
    page.get_by_test_id("sim-customer-name").fill(CUSTOMER_NAME)
    # The customer reads by hand below, with the page's "Mark read" button.
    page.get_by_test_id("sim-auto-read").uncheck()
    page.get_by_test_id("sim-text").fill("Olá, meu pedido ainda não chegou")
    page.get_by_test_id("sim-send").click()
    incoming = page.locator('.sim-msg[data-direction="in"]')
    expect(incoming.locator(".sim-text")).to_have_text(["Olá, meu pedido ainda não chegou"], timeout=TIMEOUT_MS)

    wait_for(
        lambda: Message.objects.filter(text="Olá, meu pedido ainda não chegou").exists(),
        timeout=TIMEOUT_MS / 1000,
        message="the customer's message was stored",
    )
    inbound = Message.objects.select_related("conversation__contact").get(text="Olá, meu pedido ainda não chegou")
    conversation = inbound.conversation
    assert (inbound.tenant_id, inbound.inbox_id, inbound.direction, inbound.type) == (
        demo.tenant.pk,
        demo.channel.inbox.pk,
        "in",
        "text",
    )
    assert (conversation.tenant_id, conversation.inbox_id, conversation.status) == (
        demo.tenant.pk,
        demo.channel.inbox.pk,
        Conversation.Status.OPEN,
    )
    contact = conversation.contact
    identity = contact.identities.get()
    assert (contact.tenant_id, identity.channel_type, identity.address, contact.phone_e164, contact.profile_name) == (
        demo.tenant.pk,
        "whatsapp",
        CUSTOMER,
        f"+{CUSTOMER}",
        CUSTOMER_NAME,
    )
    # The other workspace got nothing: no message, conversation or contact of this customer.
    assert not Message.objects.filter(tenant=other_tenant).exists()
    assert not Conversation.objects.filter(tenant=other_tenant).exists()
    assert not Contact.objects.filter(tenant=other_tenant).exists()

    # An admin of the demo workspace creates an API token; an API client replies with it.
    owner = Membership.objects.select_related("tenant", "role", "user").get(
        tenant=demo.tenant, user__email="owner@demo.example"
    )
    _token, raw_token = api_token_create(
        actor=owner, name="Simulator test", role=role_builtin(tenant=demo.tenant, key=BuiltinRole.ADMIN)
    )
    with httpx.Client(base_url=demo.web_url, headers={"Authorization": f"Bearer {raw_token}"}, timeout=10) as api:
        response = api.post(
            f"/api/v1/t/demo/conversations/{conversation.display_id}/messages/",
            json={"type": "text", "text": "Oi Marina! Vou verificar agora mesmo."},
        )
    assert response.status_code == 201, response.text
    reply = Message.objects.get(pk=response.json()["id"])
    assert (reply.conversation_id, reply.direction, reply.text) == (
        conversation.pk,
        "out",
        "Oi Marina! Vou verificar agora mesmo.",
    )

    # It reaches the simulator, delivered and not yet read: grey ticks.
    outgoing = page.locator('.sim-msg[data-direction="out"]')
    expect(outgoing.locator(".sim-text")).to_have_text(["Oi Marina! Vou verificar agora mesmo."], timeout=TIMEOUT_MS)
    ticks = outgoing.locator(".sim-ticks")
    expect(ticks).to_have_attribute("data-status", "delivered", timeout=TIMEOUT_MS)
    assert ticks.evaluate("node => getComputedStyle(node).color") != READ_BLUE
    wait_for(
        lambda: Message.objects.get(pk=reply.pk).status == "delivered",
        timeout=TIMEOUT_MS / 1000,
        message="the reply was delivered",
    )

    # The customer reads it: the ticks turn blue there, and the product learns it was read.
    page.get_by_test_id("sim-mark-read").click()
    expect(ticks).to_have_attribute("data-status", "read", timeout=TIMEOUT_MS)
    expect(ticks).to_have_css("color", READ_BLUE)
    wait_for(
        lambda: Message.objects.get(pk=reply.pk).status == "read",
        timeout=TIMEOUT_MS / 1000,
        message="the product saw the read receipt",
    )
    reply.refresh_from_db()
    assert reply.external_id is not None and reply.external_id.startswith("wamid.")
    assert outgoing.get_attribute("data-wamid") == reply.external_id
    assert Message.objects.filter(conversation=conversation).count() == 2
    assert not Message.objects.filter(tenant=other_tenant).exists()
    fake = FakeAdminClient(demo.fake_url)
    sent = fake.messages(direction="out", to=CUSTOMER)
    fake.close()
    assert [m["payload"]["text"]["body"] for m in sent] == ["Oi Marina! Vou verificar agora mesmo."]
    browser_errors.assert_none()
