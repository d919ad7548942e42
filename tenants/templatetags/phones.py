"""Phone numbers as people read them (Django: ``{% load phones %}``; Jinja2: the same name).

``{{ number|phone:current_tenant.country }}``: a number of the workspace's country in its national
format (``+5511900001417`` -> ``(11) 90000-1417`` for a Brazilian workspace), any other in the
international format (``+1 650-555-1234``). Anything that is not a valid number is shown as given.
Links (``tel:``, ``wa.me``) and ``data-`` attributes keep the E.164 form: this is for reading only.
"""

from __future__ import annotations

import re
from typing import Any

import phonenumbers
from django import template

register = template.Library()

# E.164 or its digits (a WhatsApp id), possibly written with spaces, dots, dashes or parentheses.
_SEPARATORS = re.compile(r"[\s().-]")
_NUMBER = re.compile(r"\+?\d{6,15}")


def format_phone(value: str, country: str) -> str:
    """``value`` (E.164 or digits with the country code) for a reader in ``country`` (ISO alpha-2).

    A number whose calling code is the country's is shown nationally: it is dialled that way there
    (for +1, from anywhere in North America).
    """
    compact = _SEPARATORS.sub("", value)
    if not _NUMBER.fullmatch(compact):
        return value
    try:
        number = phonenumbers.parse(f"+{compact.lstrip('+')}", None)
    except phonenumbers.NumberParseException:
        return value
    if not phonenumbers.is_valid_number(number):
        return value
    home = phonenumbers.country_code_for_region(country.upper()) if country else 0
    shape = (
        phonenumbers.PhoneNumberFormat.NATIONAL
        if number.country_code == home
        else phonenumbers.PhoneNumberFormat.INTERNATIONAL
    )
    return phonenumbers.format_number(number, shape)


@register.filter
def phone(value: Any, country: str = "") -> str:
    if value is None or value == "":
        return ""
    return format_phone(str(value), country or "")
