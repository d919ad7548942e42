"""Countries: a workspace's country decides how phone numbers are shown (national format)."""

from __future__ import annotations

from functools import cache

import phonenumbers
from babel import Locale
from django.core.exceptions import ValidationError
from django.utils.translation import get_language, to_locale
from django.utils.translation import gettext_lazy as _

DEFAULT_COUNTRY = "BR"


@cache
def country_codes() -> frozenset[str]:
    """ISO 3166-1 alpha-2 codes of the countries whose phone numbers we can format."""
    return frozenset(phonenumbers.SUPPORTED_REGIONS)


def validate_country(value: str) -> None:
    if value not in country_codes():
        raise ValidationError(
            _("“%(value)s” is not a known country code."), code="invalid_country", params={"value": value}
        )


def country_choices() -> list[tuple[str, str]]:
    """(code, name in the active language), sorted by name: the choices of a country select."""
    locale = Locale.parse(to_locale(get_language() or "en"))
    names = [(code, locale.territories.get(code, code)) for code in country_codes()]
    return sorted(names, key=lambda item: item[1])
