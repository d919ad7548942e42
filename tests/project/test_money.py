"""Money in the viewer's language: integer minor units, the currency's own decimals, never a float."""

from __future__ import annotations

from decimal import Decimal

import pytest
from babel.numbers import get_currency_precision
from django.template import Context, Template
from django.template.loader import engines
from django.utils import translation

from helpdesk.money import format_money, money_from_minor_units
from tenants.templatetags.numbers import money, money_decimal

NBSP = "\xa0"  # CLDR keeps the pt-BR symbol and amount together: "R$ 1.234,56"


@pytest.mark.parametrize(
    ("amount", "currency", "en", "pt_br"),
    [
        (123456, "BRL", "R$1,234.56", f"R${NBSP}1.234,56"),
        (0, "BRL", "R$0.00", f"R${NBSP}0,00"),
        (-5, "BRL", "-R$0.05", f"-R${NBSP}0,05"),
        (-123456, "USD", "-$1,234.56", f"-US${NBSP}1.234,56"),
        (123456789012345678, "BRL", "R$1,234,567,890,123,456.78", f"R${NBSP}1.234.567.890.123.456,78"),
        (1234, "JPY", "¥1,234", f"JP¥{NBSP}1.234"),  # no decimals: minor units are yen
        (1234, "KWD", "KWD1.234", f"KWD{NBSP}1,234"),  # three decimals: 1 dinar 234 fils
        (123456, "brl", "R$1,234.56", f"R${NBSP}1.234,56"),
    ],
)
def test_money_is_written_in_the_active_language(amount, currency, en, pt_br):
    with translation.override("en"):
        assert format_money(amount, currency) == en
    with translation.override("pt-br"):
        assert format_money(amount, currency) == pt_br


def test_minor_units_follow_the_currencys_decimals_exactly():
    assert get_currency_precision("JPY") == 0
    assert get_currency_precision("KWD") == 3
    assert money_from_minor_units(123456, "BRL") == Decimal("1234.56")
    assert money_from_minor_units(1234, "JPY") == Decimal("1234")
    assert money_from_minor_units(1234, "KWD") == Decimal("1.234")
    assert money_from_minor_units(10**20 + 1, "BRL") == Decimal("1000000000000000000.01")


@pytest.mark.parametrize("amount", [12.34, Decimal("12.34"), "1234", True])
def test_money_refuses_anything_but_an_integer_of_minor_units(amount):
    with pytest.raises(TypeError):
        money_from_minor_units(amount, "BRL")
    with translation.override("en"):
        assert money(amount, "BRL") == ""


def test_the_filters_show_nothing_without_an_amount_or_a_currency():
    with translation.override("en"):
        assert (money(None, "BRL"), money(100, ""), money_decimal(None, "BRL"), money_decimal(12.5, "BRL")) == (
            "",
            "",
            "",
            "",
        )


def test_an_exact_major_amount_is_written_the_same_way():
    with translation.override("pt-br"):
        assert money_decimal(Decimal("79.40"), "BRL") == f"R${NBSP}79,40"
        assert money_decimal(Decimal("1400"), "JPY") == f"JP¥{NBSP}1.400"
        assert money_decimal(Decimal("79.40"), "") == "79,4"  # no currency: the number alone


def test_django_templates_and_jinja2_write_the_same_money():
    django_template = Template('{% load numbers %}{{ amount|money:"BRL" }} / {{ total|money_decimal:"USD" }}')
    jinja_template = engines["jinja2"].from_string('{{ amount|money("BRL") }} / {{ total|money_decimal("USD") }}')
    context = {"amount": 123456, "total": Decimal("-0.5")}
    with translation.override("en"):
        assert django_template.render(Context(context)) == "R$1,234.56 / -$0.50"
        assert jinja_template.render(context) == "R$1,234.56 / -$0.50"
    with translation.override("pt-br"):
        assert django_template.render(Context(context)) == f"R${NBSP}1.234,56 / -US${NBSP}0,50"
        assert jinja_template.render(context) == f"R${NBSP}1.234,56 / -US${NBSP}0,50"
