"""Seeds the demo workspace's catalog (after ``seed_demo``): a transit operator's card recharges and monthly
pass, priced in centavos, and its ways of payment: a static Pix key, and, when ``make run`` offers the fake
PSP (provider "fake"), Pix through its API and a Mercado Pago card link with the fake's demo credentials.
The products are then synced to the demo number's Meta catalog (the fake Cloud API's, see seed_demo_whatsapp).
Safe to run again: what is already there (a product by SKU, an account by kind) is left as it is."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

from payments.accounts import payment_account_save, pix_providers, pix_webhook_ensure
from payments.catalog import ProductSpec, product_create
from payments.catalog_sync import catalog_inboxes, catalog_sync_run
from payments.models import PaymentAccount, Product
from tenants.demo import demo_owner

DEMO_PRODUCTS = (
    ProductSpec(
        retailer_id="RECARGA-10",
        name="Recarga de R$ 10",
        price=1000,
        category="Recargas",
        description="Crédito de R$ 10 no cartão de transporte, na hora.",
    ),
    ProductSpec(
        retailer_id="RECARGA-25",
        name="Recarga de R$ 25",
        price=2500,
        category="Recargas",
        description="Crédito de R$ 25 no cartão de transporte, na hora.",
    ),
    ProductSpec(
        retailer_id="RECARGA-50",
        name="Recarga de R$ 50",
        price=5000,
        category="Recargas",
        description="Crédito de R$ 50 no cartão de transporte, na hora.",
    ),
    ProductSpec(
        retailer_id="PASSE-MENSAL",
        name="Passe mensal",
        price=19800,
        category="Passes",
        description="Viagens à vontade por 30 dias, a partir da primeira viagem.",
    ),
)


# The fake PSP's demo receiver (``python -m payments.fake --demo``) holds this key.
DEMO_PIX = {
    "pix_key": "2a5c4f1e-9b3d-4c7a-8e6f-1d2b3c4d5e6f",
    "pix_key_type": "EVP",
    "merchant_name": "Transporte Exemplo",
}


class Command(BaseCommand):
    help = "Seed the demo workspace's catalog (transit card recharges); safe to run again."

    def handle(self, *args: Any, **options: Any) -> None:
        owner = demo_owner()
        tenant = owner.tenant
        known = set(Product.objects.filter(tenant=tenant).values_list("retailer_id", flat=True))
        added = 0
        with transaction.atomic():
            for spec in DEMO_PRODUCTS:
                if spec.retailer_id not in known:
                    product_create(actor=owner, tenant=tenant, spec=spec)
                    added += 1
        self.stdout.write(f"Demo catalog: {added} products added, {len(DEMO_PRODUCTS) - added} already there.")
        self._accounts(owner)
        if catalog_inboxes(tenant_id=tenant.pk):
            # Now rather than a few seconds after the changes: this command's process ends before then.
            sync = catalog_sync_run(tenant.pk)
            if sync is not None:
                outcomes = ", ".join(f"{o['catalog'] or o['inboxes']}: {o['status']}" for o in sync.outcomes)
                self.stdout.write(f"Demo catalog synced to WhatsApp: {sync.status} ({outcomes}).")

    def _accounts(self, owner: Any) -> None:
        tenant = owner.tenant
        have = set(PaymentAccount.objects.filter(tenant=tenant).values_list("kind", flat=True))
        wanted: list[tuple[str, dict[str, str], dict[str, str]]] = [
            ("static_pix", {**DEMO_PIX, "merchant_city": "Sao Paulo"}, {})
        ]
        if "fake" in pix_providers():
            wanted += [
                ("bcb_pix", {**DEMO_PIX, "provider": "fake", "client_id": "demo-pix-client"},
                 {"client_secret": "demo-pix-secret"}),
                ("mercadopago", {}, {"access_token": "TEST-demo-access-token",
                                     "webhook_secret": "demo-mercadopago-webhook-secret"}),
            ]  # fmt: skip
        added = []
        for kind, values, secrets in wanted:
            if kind in have:
                continue
            account = payment_account_save(actor=owner, tenant=tenant, kind=kind, values=values, secrets=secrets)
            added.append(kind)
            if kind == "bcb_pix" and not pix_webhook_ensure(account):
                self.stderr.write(f"The fake PSP did not take the Pix webhook address: {account.webhook_problem}")
        self.stdout.write(f"Demo payment accounts added: {', '.join(added) or 'none'}.")
