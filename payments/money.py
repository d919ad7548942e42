"""Money as people write it: "25,00" or "1.234,56" in Portuguese, "25.00" in English, read into an integer
of centavos; and amounts as forms and protocols write them ("25,00" to edit, "25.00" for the API Pix).
Never a float: Babel parses into a ``Decimal``. Showing money is ``helpdesk.money``'s (``format_money``)."""

from __future__ import annotations

from decimal import InvalidOperation

from babel.numbers import NumberFormatError, get_currency_precision, get_decimal_symbol, parse_decimal
from django.utils import translation
from django.utils.translation import gettext as _

from helpdesk.exceptions import ValidationFailed
from helpdesk.l10n import babel_locale
from helpdesk.money import format_money


def amount_parse(text: str, *, currency: str = "BRL", language: str | None = None, field: str = "price") -> int:
    """``text`` in the language's number format ("1.234,56" in pt-BR; the active language by default) as minor
    units (123456). A currency symbol and spaces around are allowed; more decimals than the currency has, a
    negative amount or words are refused with a message naming the field."""
    places = get_currency_precision(currency)
    cleaned = text.strip().replace("R$", "").replace("\u00a0", " ").strip()
    invalid = ValidationFailed(
        _("Write an amount such as %(example)s.")
        % {"example": amount_format(2500, currency=currency, language=language)},
        details={"field": field},
    )
    if not cleaned:
        raise invalid
    try:
        with translation.override(language or translation.get_language()):
            value = parse_decimal(cleaned, locale=babel_locale(), strict=True)
    except (NumberFormatError, InvalidOperation, ValueError):
        raise invalid from None
    if value < 0 or not value.is_finite():
        raise invalid
    scaled = value.scaleb(places)
    if scaled != scaled.to_integral_value():
        raise ValidationFailed(_("At most %(places)s decimal places.") % {"places": places}, details={"field": field})
    return int(scaled)


def amount_format(minor: int, *, currency: str = "BRL", language: str | None = None) -> str:
    """``2500`` as "R$ 25,00" in Portuguese, "R$25.00" in English (the active language by default)."""
    with translation.override(language or translation.get_language()):
        return format_money(minor, currency)


def amount_input(minor: int, *, currency: str = "BRL") -> str:
    """``123456`` as a form shows it back for editing, in the active language: "1234,56" (pt-BR), "1234.56"."""
    places = get_currency_precision(currency)
    whole, part = divmod(minor, 10**places)
    return f"{whole}{get_decimal_symbol(babel_locale())}{part:0{places}d}"


def amount_plain(minor: int, *, currency: str = "BRL") -> str:
    """``2500`` as "25.00": the form protocols (API Pix, CSV files) write amounts in."""
    places = get_currency_precision(currency)
    sign = "-" if minor < 0 else ""
    whole, part = divmod(abs(minor), 10**places)
    return f"{sign}{whole}.{part:0{places}d}"
