"""Money as people read it, in the active language: ``R$ 1.234,56`` (pt-BR), ``R$1,234.56`` (English).

Amounts are integers of the currency's minor units (cents), as CLDR counts them
(``babel.numbers.get_currency_precision``: 2 for BRL, 0 for JPY, 3 for KWD). They become an exact
``Decimal``, never a float, before Babel writes them.
"""

from __future__ import annotations

from decimal import Decimal

from babel.numbers import format_currency, get_currency_precision

from helpdesk.l10n import babel_locale


def money_from_minor_units(amount: int, currency: str) -> Decimal:
    """``123456`` BRL -> ``Decimal("1234.56")``; ``1234`` JPY -> ``Decimal("1234")``; exact."""
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise TypeError(f"Money is an integer of minor units, not {amount!r}.")
    return Decimal(amount).scaleb(-get_currency_precision(currency.upper()))


def format_money(amount: int, currency: str) -> str:
    """An integer of minor units of ``currency`` (ISO 4217), in the active language."""
    return format_money_decimal(money_from_minor_units(amount, currency), currency)


def format_money_decimal(amount: Decimal, currency: str) -> str:
    """An exact amount in major units (e.g. ``Decimal("79.40")``) of ``currency``, in the active language."""
    return format_currency(amount, currency.upper(), locale=babel_locale())
