"""The WhatsApp side of sending: a core message turned into Meta's request, paced to the number's
throughput and the recipient's pair rate, and Meta's answer turned into the core's neutral
``SendResult``. The queue itself (claim, retry, sweep, record) is the core's
(``conversations/services/delivery.py``).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings

from conversations.channels import (
    Accepted,
    Ambiguous,
    Paced,
    PermanentFailure,
    SendResult,
    TransientFailure,
)
from conversations.media import is_media
from conversations.models import Attachment, Message
from whatsapp import limiter, outbound_payloads
from whatsapp.client import client_for
from whatsapp.errors import AmbiguousSendError, CloudApiError, PermanentError, TransientError
from whatsapp.models import WhatsAppChannel
from whatsapp.processing import callback_data_for

# Waiting this long for a throughput slot inside one send is fine; beyond it, the message is requeued.
MAX_INLINE_THROUGHPUT_WAIT = 5.0


def _upload_media(client: Any, channel: WhatsAppChannel, attachment: Attachment) -> str:
    if attachment.external_media_id:
        return attachment.external_media_id
    with attachment.file.open("rb") as fh:
        content = fh.read()
    media_id = client.upload_media(
        channel.phone_number_id, content, attachment.mime_type or "application/octet-stream", attachment.filename
    )
    Attachment.objects.filter(pk=attachment.pk).update(external_media_id=media_id)
    return str(media_id)


def build_payload(message: Message, *, to: str, client: Any, channel: WhatsAppChannel) -> dict[str, Any]:
    """Meta's request body for ``message`` (uploads its file first when it has one)."""
    callback = callback_data_for(message.pk)
    reply_to = message.reply_to_external_id or None
    content = message.content or {}
    if message.type == Message.Type.TEXT:
        return outbound_payloads.text(
            to, message.text, preview_url=bool(content.get("preview_url")), reply_to=reply_to, callback_data=callback
        )
    if is_media(message.type):
        attachment = message.attachments.first()
        media_id = _upload_media(client, channel, attachment) if attachment and attachment.file else None
        return outbound_payloads.media(
            to,
            message.type,
            media_id=media_id,
            link=content.get("link"),
            caption=message.text or None,
            filename=(attachment.filename if attachment and message.type == "document" else content.get("filename")),
            reply_to=reply_to,
            callback_data=callback,
        )
    if message.type == Message.Type.TEMPLATE:
        return outbound_payloads.template(
            to,
            content["name"],
            content["language"],
            content.get("components", []),
            callback_data=callback,
            reply_to=reply_to,
        )
    if message.type == Message.Type.REACTION:
        return outbound_payloads.reaction(to, content["message_id"], content.get("emoji", ""), callback_data=callback)
    if message.type == Message.Type.INTERACTIVE:
        return interactive_payload(to, content, reply_to=reply_to, callback=callback)
    if message.type == Message.Type.LOCATION:
        return outbound_payloads.location(
            to,
            content["latitude"],
            content["longitude"],
            name=content.get("name"),
            address=content.get("address"),
            reply_to=reply_to,
            callback_data=callback,
        )
    if message.type == Message.Type.CONTACTS:
        return outbound_payloads.contacts(to, content["contacts"], reply_to=reply_to, callback_data=callback)
    raise PermanentError(code=None, title=f"Messages of type {message.type} cannot be sent.")


INTERACTIVE_TYPES = ("button", "list", "cta_url")


def interactive_payload(
    to: str, content: dict[str, Any], *, reply_to: str | None, callback: str | None
) -> dict[str, Any]:
    kind = content.get("interactive_type")
    common = {
        "header": content.get("header"),
        "footer": content.get("footer"),
        "reply_to": reply_to,
        "callback_data": callback,
    }
    if kind == "button":
        buttons = [(b["id"], b["title"]) for b in content["buttons"]]
        return outbound_payloads.interactive_buttons(to, content["body"], buttons, **common)
    if kind == "list":
        return outbound_payloads.interactive_list(to, content["body"], content["button"], content["sections"], **common)
    if kind == "cta_url":
        return outbound_payloads.interactive_cta_url(
            to, content["body"], content["display_text"], content["url"], **common
        )
    raise PermanentError(code=None, title=f"Unknown interactive message type {kind!r}.")


class WhatsAppSendSession:
    """Sends of one thread through the Cloud API. It carries the thread's last throughput slot,
    re-stamped once Meta answered it (see ``limiter.throughput_reserve``)."""

    def __init__(self) -> None:
        self.answered: limiter.Answered | None = None
        self.number = ""

    def send(self, message: Message, *, while_waiting: Callable[[], None]) -> SendResult:
        channel: WhatsAppChannel = message.inbox.whatsapp_channel
        to = message.conversation.contact_inbox.source_id
        client = client_for(channel)
        try:
            # A file is uploaded here, before the send slot is taken, so that the send follows its slot at once.
            payload = build_payload(message, to=to, client=client, channel=channel)
            reserved = limiter.send_slot_acquire(
                key=channel.phone_number_id,
                rate=channel.throughput_per_second,
                max_wait=MAX_INLINE_THROUGHPUT_WAIT,
                pair=limiter.PairLimit(
                    key=f"{channel.phone_number_id}:{to}",
                    interval=settings.WHATSAPP_PAIR_INTERVAL_SECONDS,
                    burst=settings.WHATSAPP_PAIR_BURST,
                ),
                answered=self.answered if self.number == channel.phone_number_id else None,
                while_waiting=while_waiting,
            )
            if reserved.paced_by == "pair":
                return Paced(after=reserved.wait, reason="pair", note="Paced: many messages to this customer")
            if reserved.paced_by:
                return Paced(after=random.uniform(0.5, 2.0), reason="throughput")
            try:
                result = client.send_message(channel.phone_number_id, payload)
            finally:
                self.answered = limiter.Answered(slot=reserved.slot, at=time.monotonic())
                self.number = channel.phone_number_id
        except AmbiguousSendError:
            return Ambiguous(
                wait=settings.WHATSAPP_AMBIGUOUS_SEND_WAIT_SECONDS, note="Waiting for WhatsApp to confirm the send"
            )
        except TransientError as exc:
            return TransientFailure(
                code=exc.code, title=exc.title or str(exc), details=exc.details, retry_after=exc.retry_after
            )
        except (PermanentError, CloudApiError, outbound_payloads.PayloadError) as exc:
            return PermanentFailure(
                code=getattr(exc, "code", None),
                title=getattr(exc, "title", "") or str(exc),
                details=getattr(exc, "details", ""),
            )
        return Accepted(external_id=result.wamid)

    def close(self) -> None:
        # Its request reached Meta before this answer: the slots after it count from then.
        if self.answered:
            limiter.throughput_stamp(key=self.number, slot=self.answered.slot, at=self.answered.at)
            self.answered = None
