"""Seeds the demo workspace's campaigns (after ``seed_demo`` and ``seed_demo_whatsapp``): the segments a first
broadcast needs — everyone who agreed to marketing, and the VIPs among them. The contacts come from importing
``campaigns/demo/contatos-demo.csv`` (five customers, four of whom said yes to promotions, and one wrong number),
which is what the demo lets an admin try. Safe to run again: a segment already there by name is left as it is."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

from campaigns.consent import marketing_purpose
from campaigns.models import MARKETING, Segment
from campaigns.segments import segment_create
from conversations.models import Label
from tenants.demo import demo_owner


class Command(BaseCommand):
    help = "Seed the demo workspace's segments (run after seed_demo and seed_demo_whatsapp)."

    def handle(self, *args: Any, **options: Any) -> None:
        owner = demo_owner()
        tenant = owner.tenant
        opted_in = {"consent": {"purpose": MARKETING, "state": "opted_in"}}
        with transaction.atomic():
            marketing_purpose(tenant_id=tenant.pk)
            wanted: list[tuple[str, str, dict[str, Any]]] = [
                ("Aceitaram promoções", "Clientes que disseram sim às mensagens de marketing.", opted_in)
            ]
            vip = Label.objects.filter(tenant=tenant, name="vip").first()
            if vip is not None:
                wanted.append(
                    (
                        "VIPs com consentimento",
                        "Clientes VIP que aceitaram promoções.",
                        {**opted_in, "labels_any": [vip.pk]},
                    )
                )
            made = 0
            for name, description, filters in wanted:
                if Segment.objects.filter(tenant=tenant, name=name).exists():
                    continue
                segment_create(actor=owner, tenant=tenant, name=name, description=description, filters=filters)
                made += 1
        self.stdout.write(
            f"Campaigns: {made} segment(s) added. To try a broadcast, import campaigns/demo/contatos-demo.csv "
            "(Campaigns → Import contacts)."
        )
