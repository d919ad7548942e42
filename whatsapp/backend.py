"""The WhatsApp implementation of the core's channel backend (registered when the app loads)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings

from conversations.models import Inbox, Message


class WhatsAppBackend:
    channel_type = "whatsapp"

    def reply_window(self, inbox: Inbox) -> timedelta | None:
        return timedelta(hours=settings.WHATSAPP_REPLY_WINDOW_HOURS)

    def enqueue_delivery(self, message: Message) -> None:
        from whatsapp.tasks import message_deliver

        message_deliver.delay(message.pk)

    def prepare_outbound(self, *, conversation: Any, spec: Any) -> dict[str, Any]:
        from whatsapp.services import outbound_prepare

        return outbound_prepare(conversation=conversation, spec=spec)
