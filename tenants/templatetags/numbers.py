"""Numbers and money in the active language, as template filters (Django: ``{% load numbers %}``; Jinja2:
the same names).

- ``number``: a count or decimal with the language's separators (``1.234`` / ``1,234``);
- ``money``: an integer of minor units and its currency: ``{{ 123456|money:"BRL" }}`` -> ``R$ 1.234,56``
  (pt-BR) / ``R$1,234.56`` (English);
- ``money_decimal``: an exact amount in major units (a ``Decimal``) and its currency, the same way
  (without a currency, the number alone).

Anything that is not a number shows as nothing, as Django's own filters do.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import template

from helpdesk.l10n import format_number
from helpdesk.money import format_money, format_money_decimal

register = template.Library()


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@register.filter
def number(value: Any) -> str:
    if _is_int(value) or (isinstance(value, Decimal) and value.is_finite()):
        return format_number(value)
    return ""


@register.filter
def money(amount: Any, currency: str) -> str:
    return format_money(amount, currency) if _is_int(amount) and currency else ""


@register.filter
def money_decimal(amount: Any, currency: str) -> str:
    if not (isinstance(amount, Decimal) and amount.is_finite()):
        return ""
    return format_money_decimal(amount, currency) if currency else format_number(amount)
