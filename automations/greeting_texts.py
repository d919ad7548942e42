"""What greeting and away messages say: the variables a body may use, the check of a body when it is saved,
filling it in for one customer, and the next opening as the customer reads it ("segunda-feira às 09:00",
"tomorrow at 09:00") in their language and the calendar's time zone.

A variable is written ``{{contact.first_name}}`` (spaces inside the braces are allowed). An unknown one is
refused when the text is saved; a known one without a value (a contact without a name, no opening ahead)
is left out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from zoneinfo import ZoneInfo

from babel.dates import format_date, get_relative_name
from django.conf import settings
from django.utils import timezone, translation

from automations.display import weekday_name
from conversations.models import Contact
from helpdesk.l10n import babel_locale
from tenants.languages import language_or_none
from tenants.templatetags.dates import local_time

VARIABLES = ("contact.first_name", "contact.name", "inbox.name", "next_open")
_PLACEHOLDER = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
# Within this many days the weekday alone says which day it is; further ahead the date is added.
WEEKDAY_ONLY_DAYS = 6


def variables_unknown(body: str) -> list[str]:
    """The names between ``{{ }}`` in ``body`` that are not variables, in order, each once."""
    found = [match.group(1) for match in _PLACEHOLDER.finditer(body)]
    return list(dict.fromkeys(name for name in found if name not in VARIABLES))


def variables_list() -> str:
    return ", ".join(f"{{{{{name}}}}}" for name in VARIABLES)


def body_render(body: str, values: Mapping[str, str]) -> str:
    """``body`` with each variable replaced by its value (nothing when it has none), in one pass: a value
    that itself looks like a variable stays as written. Plain text, escaped where it is shown."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        return values.get(name, "") if name in VARIABLES else match.group(0)

    return _PLACEHOLDER.sub(value, body).strip()


def contact_values(contact: Contact) -> dict[str, str]:
    """The contact's names as a greeting uses them: the name the team gave, else the WhatsApp profile's;
    never the phone number (a greeting that says "Olá +55 11…" reads worse than one that says "Olá")."""
    name = (contact.name or contact.profile_name).strip()
    return {"contact.name": name, "contact.first_name": (name.split() or [""])[0]}


def render_language(tag: str) -> str:
    """The product's language that renders a text written in ``tag`` (``pt`` and ``pt-br`` are pt-BR)."""
    return language_or_none(tag) or settings.LANGUAGE_CODE


def next_open_phrase(moment: datetime | None, *, now: datetime, zone: ZoneInfo, language: str) -> str:
    """When the calendar opens next, as a customer reads it in ``language``, in the calendar's zone: "hoje às
    14:00" / "today at 14:00", "amanhã às 09:00" / "tomorrow at 09:00", "terça-feira às 09:00" / "Tuesday at
    09:00" within the coming week, the full date beyond it. Empty when it never opens.

    Every word is CLDR's (Babel): the day's relative name, the weekday, the full date and the pattern that
    joins a day and a time ("{1} 'às' {0}"); the time is the language's ``TIME_FORMAT`` (24 hours)."""
    if moment is None:
        return ""
    with translation.override(render_language(language)), timezone.override(zone):
        locale = babel_locale()
        local = timezone.localtime(moment)
        days = (local.date() - timezone.localtime(now).date()).days
        day = get_relative_name("day", days, locale=locale) if days in (0, 1) else None
        if day is None and days <= WEEKDAY_ONLY_DAYS:
            day = weekday_name(local.date())
        elif day is None:
            day = format_date(local.date(), "full", locale=locale)
        pattern = locale.datetime_formats_relative.get("full") or "{1} {0}"
        # CLDR quotes the literal words of a pattern ("{1} 'às' {0}").
        return pattern.replace("'", "").replace("{0}", local_time(local)).replace("{1}", day)


SAMPLE_CONTACT = "Maria Silva"


def sample_values(*, inbox_name: str, next_open: str) -> dict[str, str]:
    """The values a preview fills in: a sample customer, the inbox, the next opening as the calendar has it."""
    return {
        "contact.name": SAMPLE_CONTACT,
        "contact.first_name": SAMPLE_CONTACT.split()[0],
        "inbox.name": inbox_name,
        "next_open": next_open,
    }
