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

import redis
from django.conf import settings

from conversations.channels import (
    Accepted,
    Ambiguous,
    Paced,
    PermanentFailure,
    SendResult,
    TransientFailure,
)
from conversations.content import (
    CatalogContent,
    ContactsContent,
    ContentInvalid,
    InteractiveContent,
    LocationContent,
    MediaContent,
    OrderStatusContent,
    PaymentRequestContent,
    ProductContent,
    ProductListContent,
    ReactionContent,
    TemplateContent,
    TextContent,
    content_from_dict,
    is_current,
)
from conversations.media import is_media
from conversations.models import Attachment, Message
from whatsapp import limiter, outbound_payloads
from whatsapp.client import client_for
from whatsapp.content import INTERACTIVE_STYLES, meta_contact_card, meta_header, neutral_from_meta
from whatsapp.errors import AmbiguousSendError, CloudApiError, PermanentError, TransientError
from whatsapp.models import WhatsAppChannel
from whatsapp.processing import callback_data_for

# Waiting this long for a throughput slot inside one send is fine; beyond it, the message is requeued.
MAX_INLINE_THROUGHPUT_WAIT = 5.0
# A send whose pacing could not be reached (Redis down) is tried again this soon.
PACING_UNAVAILABLE_RETRY_SECONDS = 1.0


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
    """Meta's request body for ``message``, from its neutral content (uploads its file first when it has one)."""
    callback = callback_data_for(message.pk)
    reply_to = message.reply_to_external_id or None
    stored, raw = message.content, message.raw
    if not is_current(stored):
        # Queued before its row was converted (during the deploy that converts them): read Meta's shape.
        stored, raw = neutral_from_meta(message.type, stored, text=message.text), stored
    try:
        content = content_from_dict(stored)
    except ContentInvalid as exc:
        raise PermanentError(code=None, title=f"The message's content cannot be sent: {exc.message}") from exc
    if isinstance(content, TextContent):
        return outbound_payloads.text(
            to, message.text, preview_url=content.preview_url, reply_to=reply_to, callback_data=callback
        )
    if isinstance(content, MediaContent) and is_media(message.type):
        attachment = message.attachments.first()
        media_id = _upload_media(client, channel, attachment) if attachment and attachment.file else None
        return outbound_payloads.media(
            to,
            message.type,
            media_id=media_id,
            link=content.link or None,
            caption=message.text or None,
            filename=(attachment.filename if attachment and message.type == "document" else content.filename or None),
            reply_to=reply_to,
            callback_data=callback,
        )
    if isinstance(content, TemplateContent):
        # The components were built from the approved template when the message was queued.
        return outbound_payloads.template(
            to,
            content.name,
            content.language,
            (raw or {}).get("components", []),
            callback_data=callback,
            reply_to=reply_to,
        )
    if isinstance(content, ReactionContent):
        return outbound_payloads.reaction(to, content.target_id, content.emoji, callback_data=callback)
    if isinstance(content, InteractiveContent):
        return interactive_payload(to, content, reply_to=reply_to, callback=callback)
    if isinstance(content, LocationContent):
        return outbound_payloads.location(
            to,
            float(content.latitude),
            float(content.longitude),
            name=content.name or None,
            address=content.address or None,
            reply_to=reply_to,
            callback_data=callback,
        )
    if isinstance(content, ContactsContent):
        cards = [meta_contact_card(card) for card in content.cards]
        return outbound_payloads.contacts(to, cards, reply_to=reply_to, callback_data=callback)
    if isinstance(content, PaymentRequestContent):
        return payment_request_payload(to, content, reply_to=reply_to, callback=callback)
    if isinstance(content, OrderStatusContent):
        return order_status_payload(to, content, reply_to=reply_to, callback=callback)
    if isinstance(content, ProductContent | ProductListContent | CatalogContent):
        return product_payload(to, content, catalog_id=channel.catalog_id, reply_to=reply_to, callback=callback)
    raise PermanentError(code=None, title=f"Messages of type {message.type} cannot be sent.")


INTERACTIVE_TYPES = INTERACTIVE_STYLES


def interactive_payload(
    to: str, content: InteractiveContent, *, reply_to: str | None, callback: str | None
) -> dict[str, Any]:
    """Meta's request body for an interactive message (checked against WhatsApp's limits)."""
    common: dict[str, Any] = {
        "header": meta_header(content.header),
        "footer": content.footer or None,
        "reply_to": reply_to,
        "callback_data": callback,
    }
    if content.style == "button":
        buttons = [(b.id, b.title) for b in content.buttons]
        return outbound_payloads.interactive_buttons(to, content.body, buttons, **common)
    if content.style == "list":
        sections = [
            {
                **({"title": section.title} if section.title else {}),
                "rows": [
                    {"id": row.id, "title": row.title, **({"description": row.description} if row.description else {})}
                    for row in section.rows
                ],
            }
            for section in content.sections
        ]
        return outbound_payloads.interactive_list(to, content.body, content.list_button, sections, **common)
    if content.style == "cta_url":
        return outbound_payloads.interactive_cta_url(to, content.body, content.cta_text, content.cta_url, **common)
    raise PermanentError(code=None, title=f"Unknown interactive message type {content.style!r}.")


def payment_request_payload(
    to: str, content: PaymentRequestContent, *, reply_to: str | None = None, callback: str | None = None
) -> dict[str, Any]:
    """Meta's ``order_details`` request (review and pay, Brazil) for a payment request."""
    ways: list[dict[str, Any]] = []
    if content.pix is not None:
        pix = content.pix
        ways.append(
            outbound_payloads.pix_dynamic_code(
                pix.code, merchant_name=pix.merchant_name, key=pix.key, key_type=pix.key_type
            )
        )
    if content.link:
        ways.append(outbound_payloads.payment_link(content.link))
    items = [
        # A free amount has no catalogue product; Meta needs an id for every line all the same.
        outbound_payloads.order_item(
            item.sku or f"custom-{position}", item.name, item.unit_price, item.quantity, position=position
        )
        for position, item in enumerate(content.items, start=1)
    ]
    return outbound_payloads.interactive_order_details(
        to,
        content.body,
        reference_id=content.reference,
        goods_type=f"{content.goods}-goods",
        currency=content.currency,
        payment_settings=ways,
        items=items,
        subtotal=content.subtotal,
        tax=content.tax,
        shipping=content.shipping,
        discount=content.discount,
        total=content.total,
        expiration=(content.expires_at, content.expiry_description) if content.expires_at is not None else None,
        footer=content.footer or None,
        reply_to=reply_to,
        callback_data=callback,
    )


def order_status_payload(
    to: str, content: OrderStatusContent, *, reply_to: str | None = None, callback: str | None = None
) -> dict[str, Any]:
    """Meta's ``order_status`` request (review order) for an order's status."""
    return outbound_payloads.interactive_order_status(
        to,
        content.body,
        reference_id=content.reference,
        order_status=content.status or None,
        description=content.description or None,
        payment_status=content.payment_status or None,
        payment_timestamp=content.payment_at,
        footer=content.footer or None,
        reply_to=reply_to,
        callback_data=callback,
    )


def product_payload(
    to: str,
    content: ProductContent | ProductListContent | CatalogContent,
    *,
    catalog_id: str,
    reply_to: str | None = None,
    callback: str | None = None,
) -> dict[str, Any]:
    """Meta's ``product``, ``product_list`` or ``catalog_message`` (COMMERCE §2) for a product message, with
    the catalog connected to the number (a number without one cannot send them)."""
    if not catalog_id:
        raise PermanentError(code=None, title="The WhatsApp number has no catalog connected.")
    if isinstance(content, CatalogContent):
        return outbound_payloads.interactive_catalog(
            to,
            content.body,
            thumbnail_retailer_id=content.thumbnail_sku or None,
            footer=content.footer or None,
            reply_to=reply_to,
            callback_data=callback,
        )
    if isinstance(content, ProductContent):
        return outbound_payloads.interactive_product(
            to,
            catalog_id,
            content.sku,
            body=content.body or None,
            footer=content.footer or None,
            reply_to=reply_to,
            callback_data=callback,
        )
    return outbound_payloads.interactive_product_list(
        to,
        catalog_id,
        content.header,
        content.body,
        [(section.title, section.skus) for section in content.sections],
        footer=content.footer or None,
        reply_to=reply_to,
        callback_data=callback,
    )


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
            try:
                reserved = self._slot(channel, to, while_waiting)
            except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError):
                # Redis is down (a restart, a failover): nothing was sent; try again shortly rather than leave
                # the claim to run out its lease.
                return Paced(
                    after=PACING_UNAVAILABLE_RETRY_SECONDS,
                    reason="unavailable",
                    note="Paused: the send pacing is unavailable",
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

    def _slot(self, channel: WhatsAppChannel, to: str, while_waiting: Callable[[], None]) -> limiter.Reservation:
        return limiter.send_slot_acquire(
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

    def close(self) -> None:
        # Its request reached Meta before this answer: the slots after it count from then.
        if self.answered:
            limiter.throughput_stamp(key=self.number, slot=self.answered.slot, at=self.answered.at)
            self.answered = None
