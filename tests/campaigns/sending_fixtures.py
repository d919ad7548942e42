"""What the broadcast-sending tests share: a WhatsApp number whose Cloud API is a recorder in this process,
approved templates, contacts with and without consent, and a broadcast ready to start."""

from __future__ import annotations

import itertools
import json
import threading
from collections import Counter
from typing import Any

import httpx
from django.core.files.base import ContentFile

from campaigns.models import Broadcast, Segment
from conversations.models import Contact
from tests.factories import owner_of
from whatsapp import client as wa_client
from whatsapp.models import MessageTemplate, WhatsAppChannel
from whatsapp.services import channel_create

PNID = "106540352249001"
WABA = "102290129349001"


_wamids = itertools.count(1)


class MetaRecorder:
    """Answers the Cloud API's sends as Meta does (a wamid each) and remembers them; answers the phone-number
    read with ``tier`` and ``quality``."""

    def __init__(self, *, tier: str = "TIER_UNLIMITED", quality: str = "GREEN") -> None:
        self.sends: list[dict[str, Any]] = []
        self.tier, self.quality = tier, quality
        self.lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path.endswith("/messages"):
            body = json.loads(request.content)
            if body.get("status") == "read":
                return httpx.Response(200, json={"success": True})
            with self.lock:
                self.sends.append(body)
                number = next(_wamids)
            return httpx.Response(
                200,
                json={
                    "messaging_product": "whatsapp",
                    "contacts": [{"input": body["to"], "wa_id": body["to"]}],
                    "messages": [{"id": f"wamid.BROADCAST{number:07d}"}],
                },
            )
        if request.method == "GET" and request.url.path.endswith(f"/{PNID}"):
            return httpx.Response(
                200,
                json={
                    "id": PNID,
                    "verified_name": "Loja",
                    "display_phone_number": "+55 11 90000-9001",
                    "quality_rating": self.quality,
                    "whatsapp_business_manager_messaging_limit": self.tier,
                },
            )
        return httpx.Response(404, json={"error": {"message": "Unknown path", "code": 100}})

    def per_recipient(self) -> Counter[str]:
        return Counter(send["to"] for send in self.sends)


def install(recorder: MetaRecorder) -> MetaRecorder:
    wa_client._transport_override["transport"] = httpx.MockTransport(recorder)
    return recorder


def make_number(tenant: Any, *, tier: str = "TIER_UNLIMITED", quality: str = "GREEN") -> WhatsAppChannel:
    channel = channel_create(
        actor=owner_of(tenant),
        name="Loja",
        display_phone_number="+55 11 90000-9001",
        phone_number_id=PNID,
        waba_id=WABA,
        access_token="token",
        app_secret="secret",
        verify=False,
        throughput_per_second=1000,
    )
    WhatsAppChannel.objects.filter(pk=channel.pk).update(messaging_limit_tier=tier, quality_rating=quality)
    for name, category, text in (
        ("promo", "MARKETING", "Oi {{1}}, seu cupom é {{2}}."),
        ("aviso", "UTILITY", "Olá {{1}}, seu pedido saiu."),
    ):
        MessageTemplate.objects.create(
            tenant=tenant,
            waba_id=WABA,
            name=name,
            language="pt_BR",
            category=category,
            status=MessageTemplate.Status.APPROVED,
            components=[{"type": "BODY", "text": text}],
        )
    return channel


def make_contacts(
    tenant: Any, count: int, *, consent: str = "opted_in", start: int = 0, **fields: Any
) -> list[Contact]:
    return Contact.objects.bulk_create(
        [
            Contact(
                tenant=tenant,
                name=f"Cliente {i}",
                phone_e164=f"+55119{i:08d}",
                marketing_consent=consent,
                **fields,
            )
            for i in range(start, start + count)
        ]
    )


def make_broadcast(
    tenant: Any,
    channel: WhatsAppChannel,
    *,
    template: str = "promo",
    filters: dict[str, Any] | None = None,
    variables: dict[str, Any] | None = None,
    csv_text: str | None = None,
    **fields: Any,
) -> Broadcast:
    segment = None
    if csv_text is None:
        segment = Segment.objects.create(tenant=tenant, name=f"Todos {Segment.objects.count()}", filters=filters or {})
    broadcast = Broadcast.objects.create(
        tenant=tenant,
        name="Black Friday",
        inbox=channel.inbox,
        template_name=template,
        template_language="pt_BR",
        segment=segment,
        variables=variables
        if variables is not None
        else (
            {"body.1": {"attribute": "name", "fallback": "cliente"}, "body.2": {"value": "BF10"}}
            if template == "promo"
            else {"body.1": {"attribute": "name", "fallback": "cliente"}}
        ),
        **fields,
    )
    if csv_text is not None:
        broadcast.audience_file.save("audience.csv", ContentFile(csv_text.encode()), save=True)
    return broadcast
