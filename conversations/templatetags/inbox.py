"""Template helpers of the agent inbox: message formatting, ticks, and plain views of stored content.

Every helper here returns either escaped HTML from ``conversations.formatting`` or plain Python values
(strings, numbers, lists of dicts) for the template to escape. Stored ``content`` is vendor JSON
that a customer shaped, so each reader checks types and never trusts a value to be a string.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from django import template
from django.urls import NoReverseMatch, reverse
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _

from conversations import formatting, media
from conversations.actors import message_sent_by
from conversations.models import Attachment, Conversation, Message
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


def _str(value: Any) -> str:
    if value is None or isinstance(value, dict | list):
        return ""
    return str(value)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


@register.filter(name="wa_format")
def wa_format_filter(text: Any) -> SafeString:
    return formatting.wa_format(_str(text))


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
    ids = [uid for uid in _list(_dict(message.content).get("mentions")) if isinstance(uid, int)]
    names: list[str] = []
    if ids:
        names = [user.display_name for user in User.objects.filter(pk__in=ids)]
    return formatting.wa_format(message.text, mentions=names)


@register.filter
def error_summary(message: Any) -> str:
    """ "code: title — details" of a failed send (or of a stored error dict)."""
    if isinstance(message, dict):
        code, title = message.get("code"), _str(message.get("title") or message.get("message"))
        details = _str(message.get("details"))
    else:
        code, title, details = message.error_code, message.error_title, message.error_details
    head = ": ".join(part for part in (_str(code), title) if part)
    return " \u2014 ".join(part for part in (head, details) if part)


def message_ticks(message: Message) -> dict[str, Any]:
    """The delivery ticks of an outbound message: ``status``, ``icon``, ``label`` and ``title``."""
    icon = TICKS.get(message.status, "")
    try:  # the label get_status_display() gives, without rebuilding the field's choices per message
        label = str(Message.Status(message.status).label)
    except ValueError:
        label = message.get_status_display()
    title = label
    if message.status == Message.Status.FAILED:
        title = error_summary(message) or label
    return {"status": message.status, "icon": icon, "label": label, "title": title}


@register.filter
def maps_url(content: Any) -> str:
    """A Google Maps link for ``{latitude, longitude}``, built from numbers only ("" when invalid)."""
    content = _dict(content)
    try:
        lat, lng = float(content.get("latitude")), float(content.get("longitude"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return ""
    if not (math.isfinite(lat) and math.isfinite(lng) and -90 <= lat <= 90 and -180 <= lng <= 180):
        return ""
    return f"https://www.google.com/maps?q={lat!r},{lng!r}"


@register.filter
def http_url(value: Any) -> str:
    """``value`` when it is an http(s) URL without spaces or quotes, else "" (for ``href``)."""
    url = _str(value).strip()
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
    text = " ".join(_str(message.text).split())
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
def contact_cards(content: Any) -> list[dict[str, Any]]:
    """Shared contact cards: name, organisation, phones, e-mails and web sites, as plain strings."""
    cards = []
    for card in _list(_dict(content).get("contacts")):
        card = _dict(card)
        name = _dict(card.get("name"))
        full_name = _str(name.get("formatted_name")) or " ".join(
            _str(name.get(key)) for key in ("first_name", "middle_name", "last_name") if name.get(key)
        )
        org = _dict(card.get("org"))
        cards.append(
            {
                "name": full_name,
                "org": " \u00b7 ".join(
                    _str(org.get(key)) for key in ("company", "department", "title") if org.get(key)
                ),
                "phones": [
                    {"phone": _str(p.get("phone")), "type": _str(p.get("type")), "wa_id": _str(p.get("wa_id"))}
                    for p in map(_dict, _list(card.get("phones")))
                    if p.get("phone") or p.get("wa_id")
                ],
                "emails": [
                    {"email": _str(e.get("email")), "type": _str(e.get("type"))}
                    for e in map(_dict, _list(card.get("emails")))
                    if e.get("email")
                ],
                "urls": [_str(u.get("url")) for u in map(_dict, _list(card.get("urls"))) if u.get("url")],
            }
        )
    return cards


def _decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


@register.filter
def order_summary(content: Any) -> dict[str, Any]:
    """An order's lines (product, quantity, unit price, subtotal) and a total per currency."""
    content = _dict(content)
    items = []
    totals: dict[str, Decimal] = {}
    for item in map(_dict, _list(content.get("product_items"))):
        quantity, price = _decimal(item.get("quantity")), _decimal(item.get("item_price"))
        currency = _str(item.get("currency"))
        subtotal = quantity * price if quantity is not None and price is not None else None
        if subtotal is not None:
            totals[currency] = totals.get(currency, Decimal(0)) + subtotal
        items.append(
            {
                "product": _str(item.get("product_retailer_id")),
                "quantity": quantity,
                "price": price,
                "currency": currency,
                "subtotal": subtotal,
            }
        )
    return {
        "items": items,
        "totals": [{"currency": currency, "amount": amount} for currency, amount in totals.items()],
        "catalog_id": _str(content.get("catalog_id")),
        "text": _str(content.get("text")),
    }


@register.filter
def flow_fields(content: Any) -> list[dict[str, str]]:
    """A Flow response's answers as label/value pairs (the flow token is internal and left out)."""
    response = _dict(content).get("response")
    if not isinstance(response, dict):
        text = _str(response)
        return [{"label": _("Response"), "value": text}] if text else []
    return [
        {"label": _str(key).replace("_", " ").capitalize(), "value": _str(value) or _str_json(value)}
        for key, value in response.items()
        if key != "flow_token"
    ]


def _str_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False) if isinstance(value, dict | list) else ""


@register.filter
def interactive_header(content: Any) -> str:
    """The text of an outbound interactive header (a string or ``{"type": "text", "text": ...}``)."""
    header = _dict(content).get("header")
    if isinstance(header, str):
        return header
    return _str(_dict(header).get("text"))


@register.filter
def interactive_buttons(content: Any) -> list[str]:
    return [_str(b.get("title")) for b in map(_dict, _list(_dict(content).get("buttons"))) if b.get("title")]


@register.filter
def interactive_sections(content: Any) -> list[dict[str, Any]]:
    sections = []
    for section in map(_dict, _list(_dict(content).get("sections"))):
        rows = [
            {"title": _str(row.get("title")), "description": _str(row.get("description"))}
            for row in map(_dict, _list(section.get("rows")))
        ]
        sections.append({"title": _str(section.get("title")), "rows": rows})
    return sections


@register.filter
def template_parts(content: Any) -> dict[str, Any]:
    """What a sent template shows besides its body: the header and the buttons."""
    content = _dict(content)
    header_text, header_media, buttons = "", "", []
    for button in map(_dict, _list(content.get("buttons"))):
        label = _str(button.get("text") or button.get("title"))
        if label:
            buttons.append(label)
    for component in map(_dict, _list(content.get("components"))):
        kind = _str(component.get("type")).lower()
        parameters = list(map(_dict, _list(component.get("parameters"))))
        if kind == "header":
            for parameter in parameters:
                p_type = _str(parameter.get("type"))
                if p_type == "text":
                    header_text = _str(parameter.get("text"))
                elif p_type in ("image", "video", "document", "location"):
                    header_media = p_type
        elif kind == "button" and not _list(content.get("buttons")):
            values = [_str(p.get("text") or p.get("payload")) for p in parameters]
            label = ", ".join(value for value in values if value)
            sub_type = _str(component.get("sub_type")).replace("_", " ")
            buttons.append(f"{sub_type}: {label}" if label and sub_type else label or sub_type)
    return {"header_text": header_text, "header_media": header_media, "buttons": [b for b in buttons if b]}


@register.filter
def content_errors(content: Any) -> list[str]:
    """The error summaries Meta attached to an inbound message (unsupported types, …)."""
    return [summary for summary in map(error_summary, map(_dict, _list(_dict(content).get("errors")))) if summary]
