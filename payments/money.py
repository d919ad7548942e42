"""Money as people write and read it: "25,00" or "1.234,56" in Portuguese, "25.00" in English, to and from
an integer of centavos. Never a float: Babel parses into a ``Decimal`` and formats from one."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from babel.numbers import NumberFormatError, format_currency, parse_decimal
from django.utils.translation import get_language, to_locale
from django.utils.translation import gettext as _

from helpdesk.exceptions import ValidationFailed

MINOR_UNITS = {"BRL": 2}


def _locale(language: str | None = None) -> str:
    return to_locale(language or get_language() or "en")


def amount_parse(text: str, *, currency: str = "BRL", language: str | None = None, field: str = "price") -> int:
    """``text`` in the language's number format ("1.234,56" in pt-BR) as minor units (123456). A currency
    symbol and spaces around are allowed; more decimals than the currency has, a negative amount or words
    are refused with a message naming the field."""
    places = MINOR_UNITS[currency]
    cleaned = text.strip().replace("R$", "").replace("\u00a0", " ").strip()
    invalid = ValidationFailed(
        _("Write an amount such as %(example)s.")
        % {"example": amount_format(2500, currency=currency, language=language)},
        details={"field": field},
    )
    if not cleaned:
        raise invalid
    try:
        value = parse_decimal(cleaned, locale=_locale(language), strict=True)
    except (NumberFormatError, InvalidOperation, ValueError):
        raise invalid from None
    if value < 0 or not value.is_finite():
        raise invalid
    scaled = value.scaleb(places)
    if scaled != scaled.to_integral_value():
        raise ValidationFailed(_("At most %(places)s decimal places.") % {"places": places}, details={"field": field})
    return int(scaled)


def amount_format(minor: int, *, currency: str = "BRL", language: str | None = None) -> str:
    """``2500`` as "R$ 25,00" in Portuguese, "R$25.00" in English."""
    value = Decimal(minor).scaleb(-MINOR_UNITS[currency])
    return format_currency(value, currency, locale=_locale(language))


def amount_plain(minor: int, *, currency: str = "BRL") -> str:
    """``2500`` as "25.00": the form protocols (API Pix, CSV files) write amounts in."""
    places = MINOR_UNITS[currency]
    sign = "-" if minor < 0 else ""
    whole, part = divmod(abs(minor), 10**places)
    return f"{sign}{whole}.{part:0{places}d}"
