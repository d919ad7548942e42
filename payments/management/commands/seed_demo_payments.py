"""Seeds the demo workspace's catalog (after ``seed_demo``): a transit operator's card recharges and monthly
pass, priced in centavos. Safe to run again: a product already there (by SKU) is left as it is, with what
was changed on the catalog page."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

from payments.catalog import ProductSpec, product_create
from payments.models import Product
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
