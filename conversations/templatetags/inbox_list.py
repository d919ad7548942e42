"""Template helpers of the inbox list and pane (the message body itself is rendered by ``inbox``)."""

from __future__ import annotations

from datetime import datetime

from django import template
from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

from conversations.models import Conversation, Message
from helpdesk.l10n import format_age, format_time_left

register = template.Library()

_TYPE_PREVIEW = {
    "image": "📷 {}",
    "video": "🎬 {}",
    "audio": "🎤 {}",
    "document": "📄 {}",
    "sticker": "💟 {}",
    "location": "📍 {}",
    "contacts": "👤 {}",
    "order": "🛒 {}",
    "reaction": "{}",
    "template": "📋 {}",
    "payment_request": "💳 {}",
    "order_status": "📦 {}",
    "product": "🛍️ {}",
    "product_list": "🛍️ {}",
    "catalog": "🛍️ {}",
}


@register.filter
def message_preview(message: Message | None) -> str:
    """One plain-text line for the list (autoescaped by the template)."""
    if message is None:
        return ""
    text = " ".join((message.text or "").split())
    if message.type in _TYPE_PREVIEW:
        fallback = {
            "image": _("Photo"),
            "video": _("Video"),
            "audio": _("Audio"),
            "document": (message.content or {}).get("filename") or _("Document"),
            "sticker": _("Sticker"),
            "location": _("Location"),
            "contacts": _("Contact card"),
            "order": _("Order"),
            "reaction": _("Reaction"),
            "template": (message.content or {}).get("name") or _("Template"),
            "payment_request": _("Payment request"),
            "order_status": _("Order status"),
            "product": _("Product"),
            "product_list": _("Product list"),
            "catalog": _("Catalog"),
        }[message.type]
        return _TYPE_PREVIEW[message.type].format(text or fallback)
    return text or message.get_type_display()


@register.filter
def short_age(moment: datetime | None, now: datetime | None = None) -> str:
    """How long ago, compactly, in the active language: "now", "5 min", "3 h" / "3 hr", "2 dias" / "2 days"."""
    if moment is None:
        return ""
    return format_age(((now or timezone.now()) - moment).total_seconds())


def _sla_breached(conversation: Conversation, now: datetime) -> datetime | None:
    due = conversation.sla_due_at
    if conversation.sla_breached_at is not None:
        return conversation.sla_breached_at
    return due if due is not None and due <= now else None


@register.filter
def sla_clock(conversation: Conversation | None, now: datetime | None = None) -> str:
    """The SLA clock in the active language: "23 min left", "Breached 5 min ago"; empty without a deadline."""
    if conversation is None:
        return ""
    now = now or timezone.now()
    breached = _sla_breached(conversation, now)
    if breached is not None:
        seconds = (now - breached).total_seconds()
        if seconds < 60:
            return _("Breached just now")
        return _("Breached %(age)s ago") % {"age": format_age(seconds)}
    if conversation.sla_due_at is None:
        return ""
    return _("%(left)s left") % {"left": format_time_left((conversation.sla_due_at - now).total_seconds())}


@register.filter
def sla_state(conversation: Conversation | None, now: datetime | None = None) -> str:
    """ "breached", "soon" (within ``SLA_BREACHING_SOON_MINUTES``), "running", or "" without a deadline."""
    if conversation is None:
        return ""
    now = now or timezone.now()
    if _sla_breached(conversation, now) is not None:
        return "breached"
    due = conversation.sla_due_at
    if due is None:
        return ""
    return "soon" if (due - now).total_seconds() <= settings.SLA_BREACHING_SOON_MINUTES * 60 else "running"
