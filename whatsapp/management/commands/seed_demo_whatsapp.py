"""Connects the demo workspace to a WhatsApp number served by the fake Cloud API (``make run``), with a Meta
catalog (made in the fake as Commerce Manager would) that the demo's products are synced to.

The fake is reached at ``WHATSAPP_API_BASE_URL``, as every channel reaches the Cloud API.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.urls import reverse

from conversations.models import Label, QuickReply
from conversations.services.library import label_create, quick_reply_create
from tenants.demo import demo_owner
from tenants.models import ApiToken, Membership, Tenant
from tenants.permissions import BuiltinRole
from tenants.services import api_token_create, role_builtin
from whatsapp.catalog import channel_catalog_set
from whatsapp.models import WhatsAppChannel
from whatsapp.services import channel_create

DEMO = {
    "name": "Demo WhatsApp",
    "display_phone_number": "5511900000001",
    "phone_number_id": "100000000000001",
    "waba_id": "200000000000001",
    "access_token": "demo-access-token",
    "app_secret": "demo-app-secret",
    "verified_name": "Demo Store",
    "catalog_id": "300000000000001",
    "catalog_name": "Demo Store",
}


class Command(BaseCommand):
    help = "Connect the demo workspace to a number of the fake Cloud API and write the fake's config."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--site-url", default="http://127.0.0.1:8000")
        parser.add_argument("--fake-config", default="var/fake-cloud-api.json")
        parser.add_argument(
            "--register", action="store_true", help="also register the number with the running fake (waits for it)"
        )

    def handle(self, *args: Any, site_url: str, fake_config: str, register: bool, **options: Any) -> None:
        api_base_url = settings.WHATSAPP_API_BASE_URL
        if register:
            self._wait_for_fake(api_base_url)
        with transaction.atomic():
            config = self._seed(api_base_url=api_base_url, site_url=site_url, fake_config=fake_config)
            if register:
                # Registered before this transaction commits, so the template sync it triggers succeeds.
                httpx.post(f"{api_base_url.rstrip('/')}/_fake/phone_numbers", json=config, timeout=5).raise_for_status()
                # The catalog exists at "Meta" (the fake forgets everything when it stops): the products are
                # synced to it by seed_demo_payments.
                catalog = {"id": DEMO["catalog_id"], "name": DEMO["catalog_name"], "waba_id": DEMO["waba_id"]}
                httpx.post(f"{api_base_url.rstrip('/')}/_fake/catalogs", json=catalog, timeout=5).raise_for_status()

    def _wait_for_fake(self, api_base_url: str) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{api_base_url.rstrip('/')}/_fake/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise CommandError(f"The fake Cloud API at {api_base_url} did not start.")

    def _seed_inbox(self, *, tenant: Tenant, owner: Membership, channel: WhatsAppChannel) -> None:
        """Every demo member works in the demo number's inbox; a few labels and quick replies to try."""
        members = Membership.objects.filter(tenant=tenant, active=True).values_list("user_id", flat=True)
        channel.inbox.members.add(*members)
        for name, color in (("vip", "#b54708"), ("recarga", "#0f7b6c"), ("reclamação", "#c2352b")):
            if not Label.objects.filter(tenant=tenant, name=name).exists():
                label_create(membership=owner, name=name, color=color)
        replies = (
            ("ola", "Olá {{contact.first_name}}! Aqui é {{agent.first_name}}, da Demo Store. Como posso ajudar?"),
            ("pix", "Você pode pagar com Pix: enviamos o código em seguida. O pagamento cai na hora."),
            ("obrigado", "Obrigado pelo contato, {{contact.first_name}}! Qualquer coisa, é só chamar."),
        )
        for shortcut, text in replies:
            if not QuickReply.objects.filter(tenant=tenant, shortcut=shortcut, scope=QuickReply.Scope.TENANT).exists():
                quick_reply_create(membership=owner, shortcut=shortcut, text=text)

    def _seed(self, *, api_base_url: str, site_url: str, fake_config: str) -> list[dict[str, Any]]:
        owner = demo_owner()
        tenant = owner.tenant
        channel = WhatsAppChannel.objects.filter(phone_number_id=DEMO["phone_number_id"]).first()
        if channel is None:
            channel = channel_create(
                actor=owner,
                name=DEMO["name"],
                display_phone_number=DEMO["display_phone_number"],
                phone_number_id=DEMO["phone_number_id"],
                waba_id=DEMO["waba_id"],
                access_token=DEMO["access_token"],
                app_secret=DEMO["app_secret"],
                verify=False,
            )
        self._seed_inbox(tenant=tenant, owner=owner, channel=channel)
        if not channel.catalog_id:
            channel = channel_catalog_set(actor=owner, channel=channel, catalog_id=DEMO["catalog_id"])
        webhook_url = site_url.rstrip("/") + reverse("whatsapp_webhook", kwargs={"webhook_key": channel.webhook_key})
        config = [
            {
                "phone_number_id": DEMO["phone_number_id"],
                "display_phone_number": DEMO["display_phone_number"],
                "waba_id": DEMO["waba_id"],
                "access_token": DEMO["access_token"],
                "app_secret": DEMO["app_secret"],
                "webhook_url": webhook_url,
                "verified_name": DEMO["verified_name"],
                "seed_templates": True,
            }
        ]
        path = Path(fake_config)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(config, indent=2))
        # A fresh API token for trying the REST API; earlier demo tokens are revoked.
        ApiToken.objects.filter(tenant=tenant, name="Demo API token", revoked_at__isnull=True).delete()
        _token, raw = api_token_create(
            actor=owner, name="Demo API token", role=role_builtin(tenant=tenant, key=BuiltinRole.ADMIN)
        )
        self.stdout.write(self.style.SUCCESS(f"Demo WhatsApp number +{DEMO['display_phone_number']} (fake Cloud API)"))
        self.stdout.write(f"  customer simulator: {api_base_url.rstrip('/')}/simulator/")
        self.stdout.write(f"  API token (admin role): {raw}")
        self.stdout.write(f"  API docs: {site_url.rstrip('/')}/api/docs/")
        return config
