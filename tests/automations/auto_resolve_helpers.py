"""What the auto-resolve tests build, through the real services: a WhatsApp inbox, a settable clock, a
customer who writes and an agent who answers, and an inbox's auto-resolve."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.utils import timezone

from automations.auto_resolve import AutoResolveSpec, auto_resolve_update
from automations.models import AutoResolveSettings
from conversations.models import Conversation, Inbox, Message
from conversations.services.inbound import InboundSpec, message_receive
from conversations.services.outbound import OutboundSpec, message_send
from tenants.models import Membership, Tenant
from tests.factories import owner_of
from whatsapp.services import channel_create

# Monday 7 December 2026, 15:00 UTC.
NOW = datetime(2026, 12, 7, 15, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)

_numbers = itertools.count(1)


@dataclass
class Clock:
    """``timezone.now()`` for the services, moved by the test."""

    now: datetime = NOW

    def __call__(self) -> datetime:
        return self.now

    def set(self, moment: datetime) -> datetime:
        self.now = moment
        return moment


def whatsapp_inbox(tenant: Tenant, *, name: str = "Suporte", phone_number_id: str = "") -> Inbox:
    n = next(_numbers)
    channel = channel_create(
        actor=owner_of(tenant),
        name=name,
        display_phone_number=f"+55 11 90000-{n:04d}",
        phone_number_id=phone_number_id or f"10654035224{n:04d}",
        waba_id="102290129340398",
        access_token="test-access-token",
        app_secret="test-app-secret",
        verify=False,
    )
    return channel.inbox


def customer_writes(inbox: Inbox, clock: Clock, *, at: datetime, customer: str, text: str = "Oi") -> Conversation:
    """The customer's message arrives at ``at`` (the clock is set there)."""
    clock.set(at)
    message, _created = message_receive(
        inbox=inbox,
        spec=InboundSpec(
            source_id=customer,
            external_id=f"wamid.{customer}.{at.timestamp():.0f}",
            occurred_at=at,
            type="text",
            text=text,
            profile_name="Maria Souza",
        ),
    )
    return Conversation.objects.get(pk=message.conversation_id)


def agent_answers(conversation: Conversation, clock: Clock, *, at: datetime, text: str = "Resolvido?") -> Message:
    clock.set(at)
    message, _created = message_send(
        actor=owner_of(conversation.tenant), conversation=conversation, spec=OutboundSpec(type="text", text=text)
    )
    return message


def auto_resolve_on(actor: Membership, inbox: Inbox, **fields: Any) -> AutoResolveSettings:
    spec = AutoResolveSpec(**{"enabled": True, "after_hours": 24, **fields})
    auto_resolve_update(actor=actor, inbox=inbox, spec=spec)
    return AutoResolveSettings.objects.get(inbox=inbox)


def set_now(monkeypatch: Any, clock: Clock) -> Clock:
    monkeypatch.setattr(timezone, "now", clock)
    return clock
