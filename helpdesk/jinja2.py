"""The Jinja2 environment of the hot inbox fragments (message bubbles and list rows).

Django templates stay the default engine; this one renders only templates under ``jinja2/`` that a view
asks for with ``using="jinja2"``. Autoescape is on and Django's ``SafeString`` (e.g. from ``wa_format``)
has ``__html__``, so it passes through unescaped exactly as in a Django template (as do the
``SafeString`` results of Django's ``floatformat`` and ``linebreaksbr``). Filters are the inbox's
own (imported, never copied) plus the few Django filters those templates use, wrapped so that they see
what a Django template would pass them (local time for ``date``/``time``, escaping for ``linebreaksbr``).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.db.models import Model
from django.template import defaultfilters
from django.templatetags.static import static
from django.urls import reverse
from django.utils import formats
from django.utils.encoding import force_str
from django.utils.hashable import make_hashable
from django.utils.safestring import SafeData, SafeString
from django.utils.timezone import template_localtime  # type: ignore[attr-defined]  # not in django-stubs
from django.utils.translation import gettext, ngettext
from jinja2 import Environment, Undefined

from conversations.templatetags import inbox as inbox_tags
from conversations.templatetags import inbox_list as inbox_list_tags
from tenants.templatetags import dates as date_tags
from tenants.templatetags import numbers as number_tags
from tenants.templatetags import phones as phone_tags


def url(viewname: str, *args: Any, **kwargs: Any) -> str:
    """``{{ url("name", pk=1) }}``: Django's ``reverse`` with positional or keyword arguments."""
    return reverse(viewname, args=args or None, kwargs=kwargs or None)


_SENTINEL = 918273645546372819


def url_for_ints(viewname: str, vary: str, **kwargs: Any) -> Callable[[int], str]:
    """``reverse`` once for many values of one ``int`` argument (``vary``) of a URL, the rest fixed.

    ``url_for_ints("inbox_conversation", "display_id", tenant_slug=slug)(7)`` equals
    ``reverse("inbox_conversation", kwargs={"tenant_slug": slug, "display_id": 7})``: an ``int`` path
    converter writes the number as is, so it is cut in where a sentinel number was reversed.
    """
    head, tail = reverse(viewname, kwargs={**kwargs, vary: _SENTINEL}).rsplit(str(_SENTINEL), 1)
    return lambda value: f"{head}{int(value)}{tail}"


def _fast_datetime(value: datetime, arg: str | None) -> str | None:
    """The formats these templates use, as Django's ``dateformat`` writes them (else None)."""
    if arg == "c":
        return value.isoformat()
    if arg == "H:i":
        return f"{value.hour:02d}:{value.minute:02d}"
    if arg == "Y-m-d H:i":
        return f"{value.year:04d}-{value.month:02d}-{value.day:02d} {value.hour:02d}:{value.minute:02d}"
    return None


def date(value: Any, arg: str | None = None) -> str:
    """Django's ``date`` filter, in the current time zone as a Django template would show it."""
    value = template_localtime(value)
    if isinstance(value, datetime) and (fast := _fast_datetime(value, arg)) is not None:
        return fast
    return defaultfilters.date(value, arg)


def time(value: Any, arg: str | None = None) -> str:
    """Django's ``time`` filter, in the current time zone as a Django template would show it."""
    value = template_localtime(value)
    if isinstance(value, datetime) and arg != "c" and (fast := _fast_datetime(value, arg)) is not None:
        return fast
    return defaultfilters.time(value, arg)


def truncatechars(value: Any, arg: Any) -> str:
    """Django's ``truncatechars``; text already short enough skips the character-by-character count."""
    try:
        length = int(arg)
    except ValueError:
        return defaultfilters.truncatechars(value, arg)
    text = unicodedata.normalize("NFC", str(value))
    if length > 0 and len(text) <= length and not isinstance(value, SafeData):
        return text
    return defaultfilters.truncatechars(value, arg)


_CHOICES: dict[tuple[type, str], tuple[str, dict[Any, Any]]] = {}


def display(instance: Model, field_name: str) -> Any:
    """``instance.get_<field_name>_display()`` without rebuilding the field's choices on every call."""
    key = (type(instance), field_name)
    cached = _CHOICES.get(key)
    if cached is None:
        field = instance._meta.get_field(field_name)
        cached = _CHOICES[key] = (field.attname, dict(make_hashable(field.flatchoices)))  # type: ignore[union-attr]
    attname, labels = cached
    value = getattr(instance, attname)
    return force_str(labels.get(make_hashable(value), value), strings_only=True)


def linebreaksbr(value: Any) -> SafeString:
    """Django's ``linebreaksbr`` as in an autoescaping Django template (the text escaped, then ``<br>``)."""
    return defaultfilters.linebreaksbr(value, autoescape=True)


def localize(value: Any) -> str:
    """A number or date as a Django template prints it (locale's decimal separator)."""
    return str(formats.localize(value))


def environment(**options: Any) -> Environment:
    options.pop("autoescape", None)
    # A missing key or attribute prints "" as in Django templates (Django's backend picks DebugUndefined
    # under DEBUG, which would print the expression itself).
    options["undefined"] = Undefined
    # Keep the final newline like Django templates do; whitespace is otherwise left as written.
    options.setdefault("keep_trailing_newline", True)
    env = Environment(autoescape=True, extensions=["jinja2.ext.i18n"], **options)
    env.install_gettext_callables(gettext, ngettext, newstyle=True)  # type: ignore[attr-defined]
    env.globals.update(
        {
            "url": url,
            "url_for_ints": url_for_ints,
            "static": static,
            "attachment_url": inbox_tags.attachment_href,
            "message_ticks": inbox_tags.message_ticks,
            "sender_name": inbox_tags.message_sender,
            "message_cards": inbox_tags.message_cards,
            "message_products": inbox_tags.message_products,
        }
    )
    env.filters.update(
        {
            # conversations.templatetags.inbox
            "wa_format": inbox_tags.wa_format_filter,
            "is_media": inbox_tags.is_media,
            "message_kind": inbox_tags.message_kind,
            "note_html": inbox_tags.note_html,
            "error_summary": inbox_tags.error_summary,
            "maps_url": inbox_tags.maps_url,
            "http_url": inbox_tags.http_url,
            "message_preview": inbox_tags.message_preview,
            "reaction_chips": inbox_tags.reaction_chips,
            "message_content": inbox_tags.message_content,
            "contact_cards": inbox_tags.contact_cards,
            "order_summary": inbox_tags.order_summary,
            "payment_summary": inbox_tags.payment_summary,
            "order_status_summary": inbox_tags.order_status_summary,
            "product_sections": inbox_tags.product_sections,
            "flow_fields": inbox_tags.flow_fields,
            "interactive_header": inbox_tags.interactive_header,
            "interactive_buttons": inbox_tags.interactive_buttons,
            "interactive_sections": inbox_tags.interactive_sections,
            "template_parts": inbox_tags.template_parts,
            "content_errors": inbox_tags.content_errors,
            "status_label": inbox_tags.status_label,
            # conversations.templatetags.inbox_list (its message_preview differs from the one above)
            "list_preview": inbox_list_tags.message_preview,
            "short_age": inbox_list_tags.short_age,
            "sla_clock": inbox_list_tags.sla_clock,
            "sla_state": inbox_list_tags.sla_state,
            # tenants.templatetags.dates: the product's one date format
            "local_time": date_tags.local_time,
            "local_date": date_tags.local_date,
            "local_datetime": date_tags.local_datetime,
            "local_day": date_tags.local_day,
            "day_label": date_tags.day_label,
            "short_when": date_tags.short_when,
            "iso_datetime": date_tags.iso_datetime,
            "iso_utc": date_tags.iso_utc,
            "relative_time": date_tags.relative_time,
            "time_left": date_tags.time_left,
            # tenants.templatetags.numbers and .phones: numbers, money and phone numbers as people read them
            "number": number_tags.number,
            "money": number_tags.money,
            "money_decimal": number_tags.money_decimal,
            "phone": phone_tags.phone,
            # django.template.defaultfilters
            "date": date,
            "time": time,
            "timesince": defaultfilters.timesince_filter,
            "filesizeformat": defaultfilters.filesizeformat,
            "floatformat": defaultfilters.floatformat,
            "truncatechars": truncatechars,
            "display": display,
            "linebreaksbr": linebreaksbr,
            "localize": localize,
        }
    )
    return env
