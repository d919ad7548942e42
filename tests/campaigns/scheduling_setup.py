"""A WhatsApp inbox with approved templates and a customer who wrote, for the scheduled messages' and one-time
codes' tests."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from conversations.models import Conversation
from conversations.services.inbound import InboundSpec, message_receive
from tests.whatsapp.conftest import make_channel
from whatsapp.models import MessageTemplate, WhatsAppChannel

REMINDER_BODY = "Olá {{1}}, sua consulta é amanhã às {{2}}."


def make_whatsapp(tenant, *, phone_number_id: str = "106540352242922") -> WhatsAppChannel:
    channel = make_channel(tenant, phone_number_id=phone_number_id)
    make_template(channel, "appointment_reminder", category="UTILITY", body=REMINDER_BODY)
    make_template(channel, "spring_sale", category="MARKETING", body="Promoção de primavera, {{1}}!")
    return channel


def make_template(
    channel: WhatsAppChannel,
    name: str,
    *,
    category: str,
    body: str = "",
    buttons: list[dict] | None = None,
    status: str = "APPROVED",
) -> MessageTemplate:
    components: list[dict] = [{"type": "BODY", "text": body}] if body else [{"type": "BODY"}]
    if buttons:
        components.append({"type": "BUTTONS", "buttons": buttons})
    return MessageTemplate.objects.create(
        tenant=channel.tenant,
        waba_id=channel.waba_id,
        meta_id=f"{name}-{channel.pk}",
        name=name,
        language="pt_BR",
        category=category,
        status=status,
        components=components,
    )


def customer_wrote(
    channel: WhatsAppChannel, *, source_id: str = "5511987654321", minutes_ago: float = 1.0, wamid: str = ""
) -> Conversation:
    """The customer's message ``minutes_ago``: their conversation, open, with its reply window from then."""
    message, _created = message_receive(
        inbox=channel.inbox,
        spec=InboundSpec(
            source_id=source_id,
            external_id=wamid or f"wamid.{source_id}.{minutes_ago}",
            occurred_at=timezone.now() - timedelta(minutes=minutes_ago),
            type="text",
            text="Oi",
            profile_name="Cliente",
        ),
    )
    return Conversation.objects.select_related("contact", "inbox").get(pk=message.conversation_id)
