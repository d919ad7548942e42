"""The WhatsApp implementation of the core's channel backend (registered when the app loads)."""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.utils.translation import gettext as _

from conversations.channels import CatalogItem, CatalogSyncResult
from conversations.models import Inbox, Message
from helpdesk.exceptions import ApplicationError
from helpdesk.jobs import BROKER_ERRORS
from whatsapp import catalog, messaging_limits, processing, selectors
from whatsapp.coordination import task
from whatsapp.models import WhatsAppChannel
from whatsapp.sender import WhatsAppSendSession
from whatsapp.services import outbound_prepare, outbound_prepare_many
from whatsapp.templates_validation import TemplateParamError, parameter_examples, parameter_spec

logger = logging.getLogger(__name__)


class WhatsAppBackend:
    channel_type = "whatsapp"
    display_name = "WhatsApp"  # the product's name, in every language
    send_related: tuple[str, ...] = ("inbox__whatsapp_channel",)
    # Of the kinds only some channels send: Meta's order_details and order_status (Brazil, CONTRACT §7), and
    # product, product_list and catalog_message from the number's catalog (COMMERCE §2).
    optional_types = frozenset(
        {
            Message.Type.PAYMENT_REQUEST.value,
            Message.Type.ORDER_STATUS.value,
            Message.Type.PRODUCT.value,
            Message.Type.PRODUCT_LIST.value,
            Message.Type.CATALOG.value,
        }
    )

    # The optional catalog capability (``conversations.channels.CatalogSyncBackend``), in ``whatsapp.catalog``.
    def catalog_of(self, inbox: Inbox) -> str | None:
        return catalog.catalog_of(inbox)

    def catalog_sync(self, inbox: Inbox, items: Sequence[CatalogItem], deleted: Sequence[str]) -> CatalogSyncResult:
        return catalog.catalog_sync(inbox, items, deleted)

    def catalog_sync_check(self, inbox: Inbox, handles: Sequence[str]) -> CatalogSyncResult:
        return catalog.catalog_sync_check(inbox, handles)

    # The optional phone-number capability (``conversations.channels.PhoneNumberBackend``).
    def phone_number_of(self, inbox: Inbox) -> str | None:
        channel = WhatsAppChannel.objects.filter(inbox=inbox).only("display_phone_number").first()
        return channel.phone_e164 if channel is not None else None

    # The optional messaging-limit capability (``conversations.channels.MessagingLimitBackend``).
    def messaging_limit_of(self, inbox: Inbox) -> int | None:
        tier = WhatsAppChannel.objects.filter(inbox=inbox).values_list("messaging_limit_tier", flat=True).first()
        return messaging_limits.limit_for_tier(tier or "")

    def quality_of(self, inbox: Inbox) -> str:
        quality = WhatsAppChannel.objects.filter(inbox=inbox).values_list("quality_rating", flat=True).first()
        return quality if quality in messaging_limits.QUALITIES else "UNKNOWN"

    # The optional capability of applying stored reports (``conversations.channels.reports_settle``).
    def reports_settle(self, *, inbox_ids: Collection[int]) -> set[int]:
        return processing.webhook_events_settle(inbox_ids=inbox_ids)

    def reply_window(self, inbox: Inbox) -> timedelta | None:
        return timedelta(hours=settings.WHATSAPP_REPLY_WINDOW_HOURS)

    def send_session(self) -> WhatsAppSendSession:
        return WhatsAppSendSession()

    def enqueue_read_receipt(self, message: Message) -> None:
        try:
            task("message_mark_read").delay(message.pk)
        except BROKER_ERRORS as exc:
            # A read receipt is a courtesy: lost with the broker, never an error for the agent who replied.
            logger.warning("Read receipt for message %s not enqueued: %s", message.pk, type(exc).__name__)

    def prepare_outbound(self, *, conversation: Any, spec: Any) -> dict[str, Any]:
        return outbound_prepare(conversation=conversation, spec=spec)

    def prepare_outbound_many(self, *, items: Sequence[tuple[Any, Any]]) -> list[dict[str, Any] | ApplicationError]:
        return outbound_prepare_many(items=items)

    def templates_for(self, inbox: Inbox) -> list[dict[str, Any]]:
        channel = selectors.channel_for_inbox(inbox=inbox)
        if channel is None:
            return []
        templates = selectors.template_list_approved(channel=channel)
        result = []
        for template in templates:
            try:
                spec = parameter_spec(template.components, template.parameter_format)
            except TemplateParamError:
                continue  # a definition we cannot fill in is not offered
            footer = next((c.get("text", "") for c in template.components if c.get("type") == "FOOTER"), "")
            examples = parameter_examples(template.components, spec.parameter_format)
            buttons: list[dict[str, Any]] = next(
                (c.get("buttons", []) for c in template.components if c.get("type") == "BUTTONS"), []
            )
            result.append(
                {
                    "name": template.name,
                    "language": template.language,
                    "category": template.category,
                    "parameter_format": spec.parameter_format,
                    "header_format": spec.header_format,
                    "header_text": spec.header_text,
                    "header_placeholders": list(spec.header_placeholders),
                    "body_text": spec.body_text,
                    "body_placeholders": list(spec.body_placeholders),
                    "header_params": _param_fields("header", spec.header_placeholders, examples["header"]),
                    "body_params": _param_fields("body", spec.body_placeholders, examples["body"]),
                    "footer_text": footer,
                    "buttons": [
                        {"index": i, "text": b.get("text", ""), "type": b.get("type", ""), "needs": spec.buttons.get(i)}
                        for i, b in enumerate(buttons)
                    ],
                }
            )
        return result


def _param_fields(part: str, placeholders: tuple[str, ...], examples: dict[str, str]) -> list[dict[str, str]]:
    """How the template picker labels each value: a named placeholder by its name, a numbered one by its
    position, each with the example Meta approved as the hint (and in the accessible name)."""
    fields = []
    for name in placeholders:
        if not name.isdigit():
            label = name.replace("_", " ")
        elif part == "header":
            label = _("Header value %(number)s") % {"number": name}
        else:
            label = _("Value %(number)s") % {"number": name}
        example = examples.get(name, "")
        accessible = label
        if example:
            accessible = _("%(label)s, for example %(example)s") % {"label": label, "example": example}
        fields.append({"name": name, "label": label, "example": example, "accessible_name": accessible})
    return fields
