"""Template helpers of the inbox list and pane (the message body itself is rendered by ``inbox``)."""

from __future__ import annotations

from datetime import datetime

from django import template
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from conversations.models import Message

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


_AGE_UNITS: dict[str, tuple[str, str, str, str]] = {}


def _age_units() -> tuple[str, str, str, str]:
    # Translated once per language: the list shows an age on every row, and plural lookups through
    # every installed catalogue cost more than the rest of a row.
    language = get_language() or ""
    if language not in _AGE_UNITS:
        _AGE_UNITS[language] = (_("now"), _("%(n)s min"), _("%(n)s h"), _("%(n)s d"))
    return _AGE_UNITS[language]


@register.filter
def short_age(moment: datetime | None, now: datetime | None = None) -> str:
    """How long ago, compactly: "now", "5 min", "3 h", "2 d"."""
    if moment is None:
        return ""
    seconds = ((now or timezone.now()) - moment).total_seconds()
    just_now, minutes, hours, days = _age_units()
    if seconds < 60:
        return just_now
    if seconds < 3600:
        return minutes % {"n": int(seconds // 60)}
    if seconds < 86400:
        return hours % {"n": int(seconds // 3600)}
    return days % {"n": int(seconds // 86400)}
