"""The second demo workspace, "Recarga Fácil", as ``make run`` seeds it: with the fake Cloud API and the fake PSP
in-process, run twice, it is there once with its number, payment accounts, keys, the recharge flow (published and
on) and the flyer's wa.me link, and the second run changes nothing; a customer who writes "recarregar" to its number
is answered by the bot in Portuguese."""

from __future__ import annotations

import json
from collections.abc import Iterator
from io import StringIO
from urllib.parse import quote

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from conversations.services.inbound import InboundSpec, message_receive
from flows.links import wa_me_urls
from flows.management.commands.seed_demo_flows import MERCADOPAGO, NUMBER, PIX_RECEIVER
from flows.models import EntryLink, Flow, FlowSession, FlowSettings
from payments.fake import FakePspServer
from payments.models import PaymentAccount
from tenants.models import AuditLogEntry, Membership, Tenant
from tests.isolation import snapshot_changes, tenant_snapshot
from whatsapp import client as wa_client
from whatsapp.fake import AdjustableClock, FakeAdminClient, FakeCloudApiServer
from whatsapp.models import WhatsAppChannel

pytestmark = pytest.mark.django_db

SITE = "http://127.0.0.1:8000"


@pytest.fixture
def cloud_api(settings) -> Iterator[FakeAdminClient]:
    """The fake Cloud API in-process, reached as the product reaches Meta."""
    with FakeCloudApiServer(clock=AdjustableClock()) as server:
        settings.WHATSAPP_API_BASE_URL = server.base_url
        wa_client._transport_override.pop("transport", None)
        with FakeAdminClient(server.base_url) as admin:
            admin.reset()
            yield admin
            admin.reset()


@pytest.fixture
def psp(settings) -> Iterator[FakePspServer]:
    """The fake PSP in-process, offered as the deployment's "fake" API Pix provider and as Mercado Pago."""
    server = FakePspServer().start()
    settings.PAYMENTS_PIX_PROVIDERS = {
        "fake": {"name": "Banco Fake (demo)", "api_url": server.pix_api_url, "token_url": server.pix_token_url}
    }
    settings.MERCADOPAGO_API_URL = server.mercadopago_url
    settings.PAYMENTS_ALLOW_PLAIN_HTTP = True
    settings.SITE_URL = SITE
    yield server
    server.stop()


def seed(**options) -> str:
    out = StringIO()
    call_command("seed_demo_flows", stdout=out, **options)
    return out.getvalue()


def test_the_recarga_facil_workspace_is_seeded_once_with_its_number_accounts_keys_flow_and_link(
    cloud_api, psp, tmp_path
):
    call_command("seed_demo", stdout=StringIO())
    config = tmp_path / "fake-cloud-api.json"
    config.write_text(json.dumps([{"phone_number_id": "100000000000001", "display_phone_number": "5511900000001"}]))

    first = seed(site_url=SITE, fake_config=str(config), register=True)
    tenant = Tenant.objects.get(slug="recarga-facil")
    before = tenant_snapshot(tenant)
    audit = AuditLogEntry.objects.count()
    second = seed(site_url=SITE, fake_config=str(config), register=True)

    assert snapshot_changes(before, tenant_snapshot(tenant)) == []
    assert AuditLogEntry.objects.count() == audit
    assert sorted(Tenant.objects.values_list("slug", flat=True)) == ["demo", "recarga-facil"]
    assert (tenant.name, tenant.locale) == ("Recarga Fácil", "pt-br")
    assert list(Membership.objects.filter(tenant=tenant).values_list("user__email", "role__key")) == [
        ("owner@demo.example", "owner")
    ]

    channel = WhatsAppChannel.objects.get(tenant=tenant)
    assert (channel.phone_number_id, channel.display_phone_number) == ("100000000000002", "5511900000002")
    assert list(channel.inbox.members.values_list("email", flat=True)) == ["owner@demo.example"]
    webhook = f"{SITE}/webhooks/whatsapp/{channel.webhook_key}/"
    registered = {n["phone_number_id"]: n for n in cloud_api.phone_numbers()}
    assert registered[NUMBER["phone_number_id"]]["display_phone_number"] == "5511900000002"
    assert [(n["phone_number_id"], n.get("webhook_url")) for n in json.loads(config.read_text())] == [
        ("100000000000001", None),
        ("100000000000002", webhook),
    ]

    flow = Flow.objects.get(tenant=tenant)
    assert (flow.name, flow.template_key, flow.inbox_id, flow.enabled) == (
        "Recarga de cartão de transporte",
        "transit_recharge",
        channel.inbox_id,
        True,
    )
    assert (flow.published.number, flow.published.status) == (1, "published")
    assert flow.versions.count() == 1
    assert FlowSettings.objects.get(tenant=tenant).secrets == {"transit_api_key": "demo-transit-key"}

    link = EntryLink.objects.get(tenant=tenant)
    assert (link.name, link.kind, link.text, link.flow_id, link.inbox_id, link.archived) == (
        "Panfleto da estação",
        "flyer",
        "Quero recarregar meu cartão",
        flow.pk,
        channel.inbox_id,
        False,
    )
    url = wa_me_urls([link])[link.pk]
    assert url == f"https://wa.me/5511900000002?text={quote(f'Quero recarregar meu cartão [#{link.ref}]')}"

    accounts = {a.kind: a for a in PaymentAccount.objects.filter(tenant=tenant)}
    assert sorted(accounts) == ["bcb_pix", "mercadopago"]
    pix = accounts["bcb_pix"]
    assert (pix.provider, pix.pix_key, pix.client_id, pix.webhook_problem) == (
        "fake",
        PIX_RECEIVER["keys"][0],
        "recarga-facil-pix-client",
        "",
    )
    assert pix.secrets == {"client_secret": "recarga-facil-pix-secret"}
    assert accounts["mercadopago"].secrets == {k: MERCADOPAGO[k] for k in ("access_token", "webhook_secret")}
    # Its own receiver and Mercado Pago account at the fake: the main demo's Pix key keeps its own webhook.
    assert psp.state.pix.receivers["recarga-facil"].keys == PIX_RECEIVER["keys"]
    assert psp.state.pix.webhooks[PIX_RECEIVER["keys"][0]].url == f"{SITE}/webhooks/payments/{pix.webhook_key}"
    assert MERCADOPAGO["access_token"] in psp.state.mercadopago.accounts

    assert first.splitlines() == [
        "Demo workspace 'Recarga Fácil' at /t/recarga-facil/ (the demo's owner)",
        "  WhatsApp number +5511900000002 (fake Cloud API)",
        "  payment accounts added: bcb_pix, mercadopago",
        f"  wa.me link 'Panfleto da estação': {url}",
        f'  try it: {cloud_api.base_url}/simulator/ → the Recarga Fácil number, write "recarregar", card 123456789012',
        f"  bot flows: {SITE}/t/recarga-facil/settings/flows/",
    ]
    assert second.splitlines()[2] == "  payment accounts added: none"


def test_a_flow_turned_off_and_a_link_changed_stay_so(cloud_api):
    from flows.links import entry_link_update
    from flows.services import FlowSpec, flow_update

    call_command("seed_demo", stdout=StringIO())
    seed()
    tenant = Tenant.objects.get(slug="recarga-facil")
    owner = Membership.objects.get(tenant=tenant)
    flow = Flow.objects.get(tenant=tenant)
    flow_update(membership=owner, flow=flow, spec=FlowSpec(name="Recarga", inbox_id=flow.inbox_id, enabled=False))
    link = EntryLink.objects.get(tenant=tenant)
    entry_link_update(actor=owner, link=link, name=link.name, kind=link.kind, text="Recarga!", flow=None)

    seed()

    assert list(Flow.objects.filter(tenant=tenant).values_list("name", "enabled")) == [("Recarga", False)]
    assert list(EntryLink.objects.filter(tenant=tenant).values_list("text", "flow_id")) == [("Recarga!", None)]


def test_a_customer_who_writes_recarregar_to_its_number_is_answered_by_the_bot_in_portuguese(
    cloud_api, django_capture_on_commit_callbacks
):
    call_command("seed_demo", stdout=StringIO())
    seed()
    channel = WhatsAppChannel.objects.get(phone_number_id=NUMBER["phone_number_id"])
    spec = InboundSpec(
        source_id="5511987650001",
        external_id="wamid.recarga-1",
        occurred_at=timezone.now(),
        type="text",
        text="Oi, quero recarregar",
        profile_name="Maria",
    )
    with django_capture_on_commit_callbacks(execute=True):
        message, _created = message_receive(inbox=channel.inbox, spec=spec)

    session = FlowSession.objects.get(conversation=message.conversation)
    assert (session.trigger, session.step, session.status) == ("keyword", "ask_card", "active")
    bot = message.conversation.messages.filter(sender_type="bot").exclude(type="system").get()
    assert (
        bot.text == "Olá! Vamos recarregar seu cartão de transporte. Qual é o número do cartão? (12 dígitos, no verso)"
    )


def test_without_the_demo_workspace_it_says_so():
    with pytest.raises(CommandError) as caught:
        seed()
    assert str(caught.value) == "No demo workspace: run seed_demo first."
    assert not Tenant.objects.filter(slug="recarga-facil").exists()
