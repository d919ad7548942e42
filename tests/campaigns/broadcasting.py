"""Broadcasts' test data: a channel whose inboxes offer two approved templates (a marketing one with a URL
button, a utility one with a named placeholder), contacts, segments and recipients in every state."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from campaigns.broadcasts import BroadcastSpec, broadcast_create
from campaigns.models import Broadcast, BroadcastRecipient, Segment
from conversations import channels
from conversations.models import Contact, Inbox
from tenants.models import Tenant
from tests.factories import owner_of

CHANNEL = "broadcast-test"

PROMO = {
    "name": "promo",
    "language": "pt_BR",
    "category": "MARKETING",
    "parameter_format": "POSITIONAL",
    "header_format": "TEXT",
    "header_text": "Oferta {{1}}",
    "header_placeholders": ["1"],
    "body_text": "Olá {{1}}, use o cupom {{2}}!",
    "body_placeholders": ["1", "2"],
    "header_params": [{"name": "1", "label": "Header value 1", "example": "VIP", "accessible_name": ""}],
    "body_params": [
        {"name": "1", "label": "Value 1", "example": "Maria", "accessible_name": ""},
        {"name": "2", "label": "Value 2", "example": "BF10", "accessible_name": ""},
    ],
    "footer_text": "Loja Aurora",
    "buttons": [
        {"index": 0, "text": "Ver oferta", "type": "URL", "needs": "url"},
        {"index": 1, "text": "Parar", "type": "QUICK_REPLY", "needs": "quick_reply"},
    ],
}
SHIPPED = {
    "name": "order_shipped",
    "language": "en_US",
    "category": "UTILITY",
    "parameter_format": "NAMED",
    "header_format": None,
    "header_text": "",
    "header_placeholders": [],
    "body_text": "Your order {{order}} has shipped.",
    "body_placeholders": ["order"],
    "header_params": [],
    "body_params": [{"name": "order", "label": "order", "example": "A-1", "accessible_name": ""}],
    "footer_text": "",
    "buttons": [],
}
PROMO_VARIABLES = {
    "header.1": {"value": "VIP"},
    "body.1": {"attribute": "name", "fallback": "cliente"},
    "body.2": {"attribute": "attr:coupon", "fallback": "BEMVINDO"},
    "button.0": {"value": "promo-2026"},
}


class FakeBackend:
    channel_type = CHANNEL
    display_name = "Test channel"
    send_related: tuple[str, ...] = ()
    limit: int | None = 250

    def templates_for(self, inbox: Inbox) -> list[dict[str, Any]]:
        return [PROMO, SHIPPED]

    def messaging_limit_of(self, inbox: Inbox) -> int | None:
        return self.limit

    def reply_window(self, inbox: Inbox) -> None:
        return None


@contextlib.contextmanager
def fake_channel() -> Iterator[FakeBackend]:
    backend = FakeBackend()
    channels.register(backend)  # type: ignore[arg-type]
    try:
        yield backend
    finally:
        channels.unregister(CHANNEL)


def make_inbox(tenant: Tenant, name: str = "Vendas") -> Inbox:
    return Inbox.objects.create(tenant=tenant, name=name, channel_type=CHANNEL)


def make_contact(tenant: Tenant, name: str, phone: str, **attributes: str) -> Contact:
    return Contact.objects.create(tenant=tenant, name=name, phone_e164=phone, custom_attributes=attributes)


def make_segment(tenant: Tenant, name: str = "Everyone", filters: dict[str, Any] | None = None) -> Segment:
    return Segment.objects.create(tenant=tenant, name=name, filters=filters or {})


def promo_spec(inbox: Inbox, segment: Segment | None, **changes: Any) -> BroadcastSpec:
    values: dict[str, Any] = {
        "name": "Black Friday",
        "inbox_id": inbox.pk,
        "template_name": "promo",
        "template_language": "pt_BR",
        "segment_id": segment.pk if segment is not None else None,
        "variables": dict(PROMO_VARIABLES),
    }
    return BroadcastSpec(**{**values, **changes})


def make_draft(tenant: Tenant, inbox: Inbox, segment: Segment, **changes: Any) -> Broadcast:
    owner = owner_of(tenant)
    return broadcast_create(actor=owner, tenant=tenant, spec=promo_spec(inbox, segment, **changes))


def add_recipient(broadcast: Broadcast, phone: str, status: str, **fields: Any) -> BroadcastRecipient:
    return BroadcastRecipient.objects.create(
        tenant_id=broadcast.tenant_id, broadcast=broadcast, phone=phone, status=status, **fields
    )


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)
