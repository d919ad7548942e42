"""Template helpers of the inbox list and pane (the message body itself is rendered by ``inbox``)."""

from __future__ import annotations

from datetime import datetime

from django import template
from django.utils import timezone
from django.utils.translation import gettext as _

from conversations.models import Message
from helpdesk.l10n import format_age

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
        }[message.type]
        return _TYPE_PREVIEW[message.type].format(text or fallback)
    return text or message.get_type_display()


@register.filter
def short_age(moment: datetime | None, now: datetime | None = None) -> str:
    """How long ago, compactly, in the active language: "now", "5 min", "3 h" / "3 hr", "2 dias" / "2 days"."""
    if moment is None:
        return ""
    return format_age(((now or timezone.now()) - moment).total_seconds())
