"""Numbers, durations and relative times in the active language, through Babel (CLDR's data).

Django's catalogs translate words; Babel knows how each language writes a number (``1.234`` in pt-BR,
``1,234`` in English), a duration (``2 dias``) or a moment relative to now (``há 5 min.``). The browser's
``Intl`` reads the same CLDR data, so a script that updates such a text writes what the server wrote.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from functools import cache, lru_cache
from typing import Literal

from babel import Locale
from babel.dates import format_timedelta
from babel.lists import format_list
from babel.numbers import format_decimal
from babel.units import format_unit
from django.conf import settings
from django.utils.translation import get_language, to_locale
from django.utils.translation import gettext as _

Length = Literal["short", "narrow"]

_UNITS = (("day", 86400), ("hour", 3600), ("minute", 60))


@cache
def _locale(name: str) -> Locale:
    return Locale.parse(name)


def babel_locale() -> Locale:
    """The Babel locale of the active Django language (``pt-br`` -> ``pt_BR``)."""
    return _locale(to_locale(get_language() or settings.LANGUAGE_CODE))


@lru_cache(maxsize=2048)
def _unit(value: int, unit: str, length: Length, locale: Locale) -> str:
    # Ages and countdowns repeat the same few values on every row of a list.
    return format_unit(value, f"duration-{unit}", length=length, locale=locale)


def format_number(value: int | Decimal) -> str:
    """A count or a decimal with the language's separators: ``1.234`` (pt-BR), ``1,234`` (English)."""
    return format_decimal(value, locale=babel_locale())


def format_age(seconds: float) -> str:
    """How long something has lasted, in its largest whole unit: ``5 min``, ``3 h``/``3 hr``, ``2 dias``.

    Whole units, rounded down (50 minutes is ``50 min``, not ``1 h``); under a minute it is "now".
    """
    for unit, size in _UNITS:
        if seconds >= size:
            return _unit(int(seconds // size), unit, "short", babel_locale())
    return _("now")


def format_time_left(seconds: float) -> str:
    """Hours and minutes left, rounded down, as CLDR's narrow units: ``5h 3m`` / ``5 h 3 min``; under
    an hour only the minutes. Scripts write the same with ``Intl.NumberFormat`` and ``Intl.ListFormat``."""
    locale = babel_locale()
    whole_minutes = max(0, int(seconds // 60))
    hours, minutes = divmod(whole_minutes, 60)
    parts = [_unit(minutes, "minute", "narrow", locale)]
    if hours:
        parts.insert(0, _unit(hours, "hour", "narrow", locale))
    return format_list(parts, style="unit-narrow", locale=locale)


def format_relative(delta: timedelta, *, length: Length = "short") -> str:
    """A moment ``delta`` from now: ``5 min. ago``/``há 5 min.``, ``in 3 days``/``em 3 dias``; within a
    minute either way, "now"."""
    if abs(delta) < timedelta(minutes=1):
        return _("now")
    # threshold=1: a unit is used from one whole of it (50 minutes stay minutes, not "1 hour").
    return format_timedelta(delta, threshold=1, add_direction=True, format=length, locale=babel_locale())
