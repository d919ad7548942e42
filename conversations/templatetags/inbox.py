"""Template helpers of the agent inbox: message formatting, ticks, and plain views of stored content.

Every helper here returns either escaped HTML from ``conversations.formatting`` or plain Python values
(strings, numbers, lists of dicts) for the template to escape. Stored ``content`` is the neutral content
of ``conversations.content``, read through ``message_content`` (validated, typed); its texts are still
what a customer wrote, so the template escapes every one.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from django import template
from django.urls import NoReverseMatch, reverse
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _
from django.utils.translation import pgettext, pgettext_lazy

from conversations import channels, extensions, formatting, media
from conversations.actors import message_sent_by
from conversations.content import (
    ContactsContent,
    Content,
    InteractiveContent,
    OrderContent,
    OrderStatusContent,
    PaymentRequestContent,
    ProductListContent,
    ReplyContent,
    TemplateContent,
    UnsupportedContent,
    content_read,
    content_skus,
    major_units,
)
from conversations.extensions import ProductCard
from conversations.models import Attachment, Conversation, Message
from conversations.services.outbound import (
    REPLY_WINDOW_CLOSED_TITLE,
    reply_window_closed_text,
    reply_window_closed_title,
)
from helpdesk.coerce import as_dict, as_list, as_str
from tenants.models import User

if TYPE_CHECKING:
    from tenants.models import Tenant

register = template.Library()

# The icon of each delivery status; CSS colours read (blue) and failed, keyed by ``ticks-<status>``.
TICKS: dict[str, str] = {
    Message.Status.QUEUED: "\U0001f552",
    Message.Status.SENDING: "\U0001f552",
    Message.Status.SENT: "\u2713",
    Message.Status.DELIVERED: "\u2713\u2713",
    Message.Status.READ: "\u2713\u2713",
    Message.Status.PLAYED: "\u2713\u2713",
    Message.Status.FAILED: "\u26a0",
}
PREVIEW_LENGTH = 120
# The kinds of phone number a shared contact card names (WhatsApp's codes), as people call them.
PHONE_KINDS = {
    "CELL": pgettext_lazy("phone kind", "mobile"),
    "MOBILE": pgettext_lazy("phone kind", "mobile"),
    "MAIN": pgettext_lazy("phone kind", "main"),
    "HOME": pgettext_lazy("phone kind", "home"),
    "WORK": pgettext_lazy("phone kind", "work"),
    "IPHONE": "iPhone",
}


# An order's status and its payment's, as sent in an order status message, in words.
ORDER_STATUS_WORDS = {
    "pending": pgettext_lazy("order status", "Pending"),
    "processing": pgettext_lazy("order status", "Processing"),
    "partially_shipped": pgettext_lazy("order status", "Partially shipped"),
    "shipped": pgettext_lazy("order status", "Shipped"),
    "completed": pgettext_lazy("order status", "Completed"),
    "canceled": pgettext_lazy("order status", "Canceled"),
}
PAYMENT_STATUS_WORDS = {
    "pending": pgettext_lazy("payment status", "Awaiting payment"),
    "captured": pgettext_lazy("payment status", "Paid"),
    "failed": pgettext_lazy("payment status", "Payment failed"),
}


@register.filter(name="wa_format")
def wa_format_filter(text: Any) -> SafeString:
    return formatting.wa_format(as_str(text))


@register.filter
def is_media(message_type: str) -> bool:
    return media.is_media(message_type)


@register.filter
def message_kind(message: Message) -> str:
    """in | out | note | system: the bubble's CSS modifier."""
    # The system's lines in the history are private; what it sends the customer is an outbound bubble.
    if message.type == Message.Type.SYSTEM or (message.sender_type == Message.SenderType.SYSTEM and message.private):
        return "system"
    if message.private:
        return "note"
    return "in" if message.direction == Message.Direction.INBOUND else "out"


@register.filter
def note_html(message: Message) -> SafeString:
    """A private note's text with ``@name`` of each mentioned member highlighted."""
    ids = [uid for uid in as_list(as_dict(message.content).get("mentions")) if isinstance(uid, int)]
    names: list[str] = []
    if ids:
        names = [user.display_name for user in User.objects.filter(pk__in=ids)]
    return formatting.wa_format(message.text, mentions=names)


@register.filter
def error_summary(message: Any) -> str:
    """ "code: title — details" of a failed send (or of a stored error dict)."""
    if isinstance(message, dict):
        code, title = message.get("code"), as_str(message.get("title") or message.get("message"))
        details = as_str(message.get("details"))
    else:
        code, title, details = message.error_code, message.error_title, message.error_details
        if code is None and title == REPLY_WINDOW_CLOSED_TITLE:
            # Our own failure, stored in English by the sender: said again in the viewer's language.
            title, details = reply_window_closed_title(), reply_window_closed_text()
    head = ": ".join(part for part in (as_str(code), title) if part)
    return " \u2014 ".join(part for part in (head, details) if part)


@register.filter
def status_label(status: str) -> str:
    """A message status's label ("Delivered") in the active language; an unknown status as given."""
    try:  # the label get_status_display() gives, without rebuilding the field's choices per message
        return str(Message.Status(status).label)
    except ValueError:
        return status


def message_ticks(message: Message) -> dict[str, Any]:
    """The delivery ticks of an outbound message: ``status``, ``icon``, ``label`` and ``title``."""
    icon = TICKS.get(message.status, "")
    label = status_label(message.status)
    title = label
    if message.status == Message.Status.FAILED:
        title = error_summary(message) or label
    return {"status": message.status, "icon": icon, "label": label, "title": title}


@register.filter
def maps_url(content: Any) -> str:
    """A Google Maps link for a location's coordinates, built from numbers only ("" when invalid)."""
    try:
        lat, lng = float(content.latitude), float(content.longitude)
    except (AttributeError, TypeError, ValueError):
        return ""
    if not (math.isfinite(lat) and math.isfinite(lng) and -90 <= lat <= 90 and -180 <= lng <= 180):
        return ""
    return f"https://www.google.com/maps?q={lat!r},{lng!r}"


@register.filter
def http_url(value: Any) -> str:
    """``value`` when it is an http(s) URL without spaces or quotes, else "" (for ``href``)."""
    url = as_str(value).strip()
    if not url.lower().startswith(("http://", "https://")) or len(url) > 2048:
        return ""
    if any(ch.isspace() or ch in "\"'<>`\\" or ord(ch) < 32 for ch in url):
        return ""
    return url


def attachment_href(attachment: Attachment, tenant: Tenant | None = None) -> str:
    """The download address of a stored attachment, under ``tenant`` (else the attachment's own)."""
    tenant = tenant or attachment.tenant
    try:
        return reverse("attachment_download", kwargs={"tenant_slug": tenant.slug, "attachment_id": attachment.pk})
    except NoReverseMatch:
        return ""


@register.simple_tag(takes_context=True)
def attachment_url(context: template.Context, attachment: Attachment) -> str:
    """The download address of a stored attachment, under the page's workspace."""
    return attachment_href(attachment, context.get("current_tenant") or getattr(context.get("request"), "tenant", None))


@register.filter
def message_preview(message: Message | None) -> str:
    """A one-line preview of a quoted message: its text, or what kind of message it is."""
    if message is None:
        return _("a message")
    text = " ".join(as_str(message.text).split())
    if not text:
        return _("%(type)s message") % {"type": message.get_type_display()}
    return text if len(text) <= PREVIEW_LENGTH else text[: PREVIEW_LENGTH - 1] + "\u2026"


@register.filter
def reaction_chips(message: Message) -> list[dict[str, Any]]:
    """The reactions to a message grouped by emoji, in order of first appearance."""
    counts = Counter(reaction.emoji for reaction in message.reactions.all())
    return [{"emoji": emoji, "count": count} for emoji, count in counts.items()]


@register.simple_tag(takes_context=True)
def sender_name(context: template.Context, message: Message) -> str:
    """Who wrote the message; the page's ``conversation`` (if it is this one) saves a query per message."""
    return message_sender(message, context.get("conversation"))


def message_sender(message: Message, conversation: Any = None) -> str:
    """Who wrote the message; ``conversation`` (if it is the message's) saves a query per message."""
    if message.direction == Message.Direction.INBOUND:
        if not isinstance(conversation, Conversation) or conversation.pk != message.conversation_id:
            conversation = message.conversation
        return conversation.contact.display_name
    if message.sender_user is not None:
        return message.sender_user.display_name
    return message_sent_by(message) or message.get_sender_type_display()


@register.filter
def message_content(message: Message) -> Content:
    """The typed, neutral content of a message; "unsupported" when what is stored cannot be read."""
    return content_read(message.content) or UnsupportedContent()


@register.filter
def contact_cards(content: Any) -> list[dict[str, Any]]:
    """Shared contact cards: name, organisation, phones, e-mails and web sites, as plain strings."""
    if not isinstance(content, ContactsContent):
        return []
    return [
        {
            "name": card.display_name,
            "org": " \u00b7 ".join(part for part in (card.company, card.department, card.job_title) if part),
            "phones": [
                {"number": phone.number or phone.messaging_id, "type": phone_kind(phone.type)}
                for phone in card.phones
                if phone.number or phone.messaging_id
            ],
            "emails": [{"email": email.address, "type": email.type} for email in card.emails if email.address],
            "urls": [url for url in card.urls if url],
        }
        for card in content.cards
    ]


def phone_kind(code: str) -> str:
    """A card's kind of phone in the viewer's language; a code we do not know, as sent (lower case)."""
    kind = PHONE_KINDS.get(code.upper())
    return str(kind) if kind is not None else code.lower()


@register.filter
def channel_name(channel_type: str) -> str:
    """A channel as people name it (its product's name, "WhatsApp"); a channel without one, by its type."""
    return channels.display_name(channel_type)


def message_cards(messages: Sequence[Message]) -> dict[int, list[SafeString]]:
    """What feature apps show under the messages of a render (``conversations.extensions``)."""
    return extensions.message_cards(messages)


PRODUCT_TYPES = frozenset({Message.Type.PRODUCT, Message.Type.PRODUCT_LIST, Message.Type.CATALOG, Message.Type.ORDER})


def message_products(messages: Sequence[Message]) -> dict[str, ProductCard]:
    """The catalogue's cards of the products the messages of a render show or ask about, by SKU (one
    provider call for the render; none when no message names a product)."""
    skus: set[str] = set()
    for message in messages:
        stored = message.content
        if message.type not in PRODUCT_TYPES and not (isinstance(stored, dict) and stored.get("product")):
            continue
        content = content_read(stored)
        if content is not None:
            skus.update(content_skus(content))
    if not skus:
        return {}
    return extensions.product_cards(messages[0].tenant_id, skus)


@register.filter
def product_sections(content: Any, products: Any = None) -> list[dict[str, Any]]:
    """A product list's sections, each product with its catalogue card (``None`` when the SKU is unknown)."""
    if not isinstance(content, ProductListContent):
        return []
    known = products if isinstance(products, dict) else {}
    return [
        {"title": section.title, "products": [{"sku": sku, "card": known.get(sku)} for sku in section.skus]}
        for section in content.sections
    ]


@register.filter
def order_summary(content: Any) -> dict[str, Any]:
    """An order's lines (product, quantity, unit price, subtotal) and a total per currency, in major units."""
    if not isinstance(content, OrderContent):
        return {"items": [], "totals": [], "catalog_id": "", "text": ""}
    items = [
        {
            "product": item.sku,
            "quantity": item.quantity,
            "price": None if item.unit_price is None else major_units(item.unit_price, item.currency),
            "currency": item.currency,
            "subtotal": None if item.subtotal is None else major_units(item.subtotal, item.currency),
        }
        for item in content.items
    ]
    return {
        "items": items,
        "totals": [
            {"currency": currency, "amount": major_units(amount, currency)}
            for currency, amount in content.totals().items()
        ],
        "catalog_id": content.catalog_id,
        "text": content.note,
    }


def _moment(seconds: int | None) -> datetime | None:
    """A Unix time as an aware datetime (shown in the viewer's time zone by the date filters)."""
    if seconds is None:
        return None
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


@register.filter
def payment_summary(content: Any) -> dict[str, Any]:
    """A payment request's lines, the amounts besides them (tax, shipping, discount: only those not 0),
    its total (minor units, for ``money``), how to pay and when it expires."""
    if not isinstance(content, PaymentRequestContent):
        return {}
    extras = [
        (pgettext("payment request", "Tax"), content.tax),
        (pgettext("payment request", "Shipping"), content.shipping),
        (pgettext("payment request", "Discount"), -content.discount),
    ]
    return {
        "reference": content.reference,
        "currency": content.currency,
        "items": [
            {
                "name": item.name,
                "sku": item.sku,
                "quantity": item.quantity,
                "price": item.unit_price,
                "subtotal": item.subtotal,
            }
            for item in content.items
        ],
        "extras": [{"label": label, "amount": amount} for label, amount in extras if amount],
        "total": content.total,
        "pix_code": content.pix.code if content.pix is not None else "",
        "link": http_url(content.link),
        "expires_at": _moment(content.expires_at),
        "expiry_description": content.expiry_description,
        "footer": content.footer,
    }


@register.filter
def order_status_summary(content: Any) -> dict[str, Any]:
    """An order status message in words: the order's status, its payment's, and when it was paid."""
    if not isinstance(content, OrderStatusContent):
        return {}
    return {
        "reference": content.reference,
        "status": str(ORDER_STATUS_WORDS.get(content.status, content.status)),
        "description": content.description,
        "payment": str(PAYMENT_STATUS_WORDS.get(content.payment_status, content.payment_status)),
        "paid_at": _moment(content.payment_at),
        "footer": content.footer,
    }


@register.filter
def flow_fields(content: Any) -> list[dict[str, str]]:
    """A form's answers as label/value pairs (the flow token is internal and left out)."""
    response = content.response if isinstance(content, ReplyContent) else None
    if not isinstance(response, dict):
        text = as_str(response)
        return [{"label": _("Response"), "value": text}] if text else []
    return [
        {"label": as_str(key).replace("_", " ").capitalize(), "value": as_str(value) or _str_json(value)}
        for key, value in response.items()
        if key != "flow_token"
    ]


def _str_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False) if isinstance(value, dict | list) else ""


@register.filter
def interactive_header(content: Any) -> str:
    """The text of an outbound interactive message's header ("" for a media header)."""
    header = content.header if isinstance(content, InteractiveContent) else None
    return header.text if header is not None and header.type == "text" else ""


@register.filter
def interactive_buttons(content: Any) -> list[str]:
    if not isinstance(content, InteractiveContent):
        return []
    return [button.title for button in content.buttons if button.title]


@register.filter
def interactive_sections(content: Any) -> list[dict[str, Any]]:
    if not isinstance(content, InteractiveContent):
        return []
    return [
        {
            "title": section.title,
            "rows": [{"title": row.title, "description": row.description} for row in section.rows],
        }
        for section in content.sections
    ]


@register.filter
def template_parts(content: Any) -> dict[str, Any]:
    """What a sent template shows besides its body: the header and the buttons."""
    if not isinstance(content, TemplateContent):
        return {"header_text": "", "header_media": "", "buttons": []}
    return {
        "header_text": content.header_text,
        "header_media": content.header_media,
        "buttons": [label for label in content.buttons if label],
    }


@register.filter
def content_errors(content: Any) -> list[str]:
    """The problems the channel reported about a message (unsupported types, …), one line each."""
    if not isinstance(content, Content):
        return []
    summaries = (error_summary({"code": p.code, "title": p.title, "details": p.details}) for p in content.errors)
    return [summary for summary in summaries if summary]
