"""Seeds a second demo workspace, "Recarga Fácil" (after ``seed_demo``; ``make run``): a transit card recharge sold
by a bot with no person involved. The demo's owner owns it too; it has a WhatsApp number of its own at the fake
Cloud API, API Pix at the fake bank and a Mercado Pago card link at the fake PSP (each with credentials of its
own there), the key of the fake transit operator (``python -m flows.fake --demo``), the ready-made recharge flow
installed for its number and turned on, and a wa.me link for a station's flyer that starts the flow.

Safe to run again: what is already there is left as it is (a flow turned off or a link changed on the settings
pages stays so). The fakes forget everything when they stop, so ``--register`` tells them again on every run.
"""

from __future__ import annotations

import json
import time
from dataclasses import fields
from pathlib import Path
from typing import Any

import httpx
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.urls import reverse

from conversations.models import Inbox
from flows.library import TRANSIT_RECHARGE
from flows.links import entry_link_create, wa_me_urls
from flows.models import EntryLink, Flow, FlowSettings
from flows.services import FlowSpec, flow_settings_save, flow_update, template_install
from payments.accounts import payment_account_save, pix_providers, pix_webhook_ensure
from payments.models import PaymentAccount
from tenants.demo import demo_owner
from tenants.models import Membership, Tenant
from tenants.permissions import BuiltinRole
from tenants.services import tenant_create

# Channels are not the flows app's to know: this seed alone wires the demo's number (pyproject.toml says so).
from whatsapp.models import WhatsAppChannel
from whatsapp.services import channel_create

SLUG = "recarga-facil"
NAME = "Recarga Fácil"
NUMBER = {
    "name": "Recarga Fácil WhatsApp",
    "display_phone_number": "5511900000002",
    "phone_number_id": "100000000000002",
    "waba_id": "200000000000002",
    "access_token": "recarga-facil-access-token",
    "app_secret": "recarga-facil-app-secret",
    "verified_name": "Recarga Fácil",
}
# Its own receiver at the fake bank (a Pix key's webhook is the key's alone) and its own Mercado Pago account.
PIX_RECEIVER: dict[str, Any] = {
    "id": "recarga-facil",
    "client_id": "recarga-facil-pix-client",
    "client_secret": "recarga-facil-pix-secret",
    "keys": ["7d0e2c1a-4b5f-4e8a-9c3d-2f1e0d9c8b7a"],
    "merchant_name": "RECARGA FACIL",
    "merchant_city": "SAO PAULO",
}
MERCADOPAGO: dict[str, str] = {
    "access_token": "TEST-recarga-facil-access-token",
    "webhook_secret": "recarga-facil-mercadopago-webhook-secret",
    "name": "Recarga Fácil",
}
# The fake transit operator's demo key (flows/fake/admin.py DEMO), and a card of its demo to try.
TRANSIT_API_KEY = "demo-transit-key"
DEMO_CARD = "123456789012"
LINK_NAME = "Panfleto da estação"
LINK_TEXT = "Quero recarregar meu cartão"


class Command(BaseCommand):
    help = 'Seed the second demo workspace "Recarga Fácil" (a bot sells transit card recharges); safe to run again.'

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--site-url", default="http://127.0.0.1:8000")
        parser.add_argument("--fake-config", default="", help="also add the number to this config of the fake")
        parser.add_argument(
            "--register",
            action="store_true",
            help="also register the number with the running fake Cloud API and the payment accounts with the "
            "fake PSP (waits for them)",
        )

    def handle(self, *args: Any, site_url: str, fake_config: str, register: bool, **options: Any) -> None:
        demo = demo_owner()
        api_base_url = settings.WHATSAPP_API_BASE_URL.rstrip("/")
        psp_base_url = self._psp_base_url()
        if register:
            _wait_for(f"{api_base_url}/_fake/health", "The fake Cloud API")
            if psp_base_url:
                _wait_for(f"{psp_base_url}/_fake/health", "The fake PSP")
                _post(f"{psp_base_url}/_fake/pix/receivers", PIX_RECEIVER)
                _post(f"{psp_base_url}/_fake/mercadopago/accounts", MERCADOPAGO)
        with transaction.atomic():
            owner = self._workspace(demo)
            channel = self._number(owner)
            config = self._fake_config(channel, site_url)
            if register:
                # Before this transaction commits, so the template sync it triggers finds the number.
                _post(f"{api_base_url}/_fake/phone_numbers", config)
            flow = self._flow(owner, channel.inbox)
            link = self._link(owner, channel.inbox, flow)
        if fake_config:
            self._write_fake_config(Path(fake_config), config)
        accounts = self._accounts(owner, bool(psp_base_url))
        self._report(owner.tenant, link, accounts, site_url, api_base_url)

    def _workspace(self, demo: Membership) -> Membership:
        tenant = Tenant.objects.filter(slug=SLUG).first()
        if tenant is None:
            tenant = tenant_create(name=NAME, slug=SLUG, owner=demo.user, locale="pt-br")
        owner = (
            Membership.objects.select_related("user", "role", "tenant")
            .filter(tenant=tenant, user=demo.user, role__key=BuiltinRole.OWNER)
            .first()
        )
        if owner is None:
            raise CommandError(f"The workspace /t/{SLUG}/ exists but the demo's owner does not own it.")
        return owner

    def _number(self, owner: Membership) -> WhatsAppChannel:
        channel = WhatsAppChannel.objects.filter(phone_number_id=NUMBER["phone_number_id"]).first()
        if channel is None:
            channel = channel_create(
                actor=owner,
                name=NUMBER["name"],
                display_phone_number=NUMBER["display_phone_number"],
                phone_number_id=NUMBER["phone_number_id"],
                waba_id=NUMBER["waba_id"],
                access_token=NUMBER["access_token"],
                app_secret=NUMBER["app_secret"],
                verify=False,
            )
        elif channel.tenant_id != owner.tenant_id:
            raise CommandError(f"The number {NUMBER['phone_number_id']} belongs to another workspace.")
        members = Membership.objects.filter(tenant=owner.tenant, active=True).values_list("user_id", flat=True)
        channel.inbox.members.add(*members)
        return channel

    def _fake_config(self, channel: WhatsAppChannel, site_url: str) -> dict[str, Any]:
        webhook = reverse("whatsapp_webhook", kwargs={"webhook_key": channel.webhook_key})
        return {
            "phone_number_id": NUMBER["phone_number_id"],
            "display_phone_number": NUMBER["display_phone_number"],
            "waba_id": NUMBER["waba_id"],
            "access_token": NUMBER["access_token"],
            "app_secret": NUMBER["app_secret"],
            "webhook_url": site_url.rstrip("/") + webhook,
            "verified_name": NUMBER["verified_name"],
            "seed_templates": True,
        }

    def _write_fake_config(self, path: Path, config: dict[str, Any]) -> None:
        """The fake's config (written by seed_demo_whatsapp) with this number beside the others."""
        try:
            numbers = json.loads(path.read_text()) if path.exists() else []
        except ValueError:
            numbers = []
        if not isinstance(numbers, list):
            numbers = []
        numbers = [
            n for n in numbers if not (isinstance(n, dict) and n.get("phone_number_id") == NUMBER["phone_number_id"])
        ]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps([*numbers, config], indent=2))

    def _flow(self, owner: Membership, inbox: Inbox) -> Flow:
        flow = Flow.objects.filter(tenant=owner.tenant, template_key=TRANSIT_RECHARGE).order_by("id").first()
        if flow is None:
            flow = template_install(membership=owner, key=TRANSIT_RECHARGE, inbox_id=inbox.pk)
            spec = FlowSpec(**{f.name: getattr(flow, f.name) for f in fields(FlowSpec)})
            spec.enabled = True
            flow = flow_update(membership=owner, flow=flow, spec=spec)
        if not _transit_key_set(owner.tenant):
            flow_settings_save(membership=owner, transit_api_key=TRANSIT_API_KEY)
        return flow

    def _link(self, owner: Membership, inbox: Inbox, flow: Flow) -> EntryLink:
        link = EntryLink.objects.filter(tenant=owner.tenant, name=LINK_NAME).order_by("id").first()
        if link is None:
            link = entry_link_create(
                actor=owner, inbox=inbox, name=LINK_NAME, kind=EntryLink.Kind.FLYER, text=LINK_TEXT, flow=flow
            )
        return link

    def _psp_base_url(self) -> str:
        """The fake PSP's address when the deployment offers it (``make run``: provider "fake"), else ""."""
        provider = pix_providers().get("fake")
        if not provider or "/pix/" not in provider.get("api_url", ""):
            return ""
        return provider["api_url"].rsplit("/pix/", 1)[0]

    def _accounts(self, owner: Membership, fake_psp: bool) -> list[str]:
        """API Pix at the fake bank and a Mercado Pago card link, when the fake PSP is offered."""
        if not fake_psp:
            return []
        tenant = owner.tenant
        have = set(PaymentAccount.objects.filter(tenant=tenant).values_list("kind", flat=True))
        pix: dict[str, str] = {
            "provider": "fake",
            "pix_key": PIX_RECEIVER["keys"][0],
            "pix_key_type": "EVP",
            "merchant_name": NAME,
            "merchant_city": "Sao Paulo",
            "client_id": PIX_RECEIVER["client_id"],
        }
        wanted: list[tuple[str, dict[str, str], dict[str, str]]] = [
            ("bcb_pix", pix, {"client_secret": PIX_RECEIVER["client_secret"]}),
            ("mercadopago", {}, {k: MERCADOPAGO[k] for k in ("access_token", "webhook_secret")}),
        ]
        added = []
        for kind, values, secrets in wanted:
            if kind in have:
                continue
            account = payment_account_save(actor=owner, tenant=tenant, kind=kind, values=values, secrets=secrets)
            added.append(kind)
            if kind == "bcb_pix" and not pix_webhook_ensure(account):
                self.stderr.write(f"The fake PSP did not take the Pix webhook address: {account.webhook_problem}")
        return added

    def _report(self, tenant: Tenant, link: EntryLink, accounts: list[str], site_url: str, api_url: str) -> None:
        self.stdout.write(self.style.SUCCESS(f"Demo workspace '{tenant.name}' at /t/{tenant.slug}/ (the demo's owner)"))
        self.stdout.write(f"  WhatsApp number +{NUMBER['display_phone_number']} (fake Cloud API)")
        self.stdout.write(f"  payment accounts added: {', '.join(accounts) or 'none'}")
        self.stdout.write(f"  wa.me link '{link.name}': {wa_me_urls([link])[link.pk] or '(no number)'}")
        self.stdout.write(
            f'  try it: {api_url}/simulator/ → the Recarga Fácil number, write "recarregar", card {DEMO_CARD}'
        )
        self.stdout.write(f"  bot flows: {site_url.rstrip('/')}/t/{tenant.slug}/settings/flows/")


def _transit_key_set(tenant: Tenant) -> bool:
    found = FlowSettings.objects.filter(tenant=tenant).first()
    return bool(found and found.secrets.get("transit_api_key"))


def _wait_for(url: str, what: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise CommandError(f"{what} at {url.rsplit('/_fake/', 1)[0]} did not start.")


def _post(url: str, body: Any) -> None:
    try:
        httpx.post(url, json=body, timeout=5).raise_for_status()
    except httpx.HTTPError as exc:
        raise CommandError(f"{url}: {exc}") from None
