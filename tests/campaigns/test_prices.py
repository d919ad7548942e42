"""Message prices: Meta's defaults until a workspace saves its own, prices read in the reader's number format into
integers of minor units, a table that holds one price per country and category, and costs rounded half up."""

from __future__ import annotations

import pytest
from django.utils import translation

from campaigns.models import MessagePrice
from campaigns.prices import (
    DEFAULT_PRICES,
    OTHER,
    PriceRow,
    _cost,
    country_label,
    message_prices_save,
    price_input,
    price_parse,
    price_rows,
)
from helpdesk.exceptions import PermissionDenied, ValidationFailed
from tenants.models import AuditLogEntry

pytestmark = pytest.mark.django_db


def test_a_workspace_without_prices_uses_metas_defaults_in_cents_per_thousand(tenant):
    rows = price_rows(tenant)
    assert PriceRow("BR", "marketing", 6250, "USD") in rows
    assert PriceRow(OTHER, "utility", 770, "USD") in rows
    assert len(rows) == sum(len(prices) for prices in DEFAULT_PRICES.values())
    assert all(isinstance(row.price_minor, int) for row in rows)


@pytest.mark.parametrize(
    ("language", "text", "minor"),
    [
        ("pt-br", "62,50", 6250),
        ("pt-br", "1.062,5", 106250),
        ("en", "62.50", 6250),
        ("en", "0", 0),
        ("pt-br", "7", 700),
    ],
)
def test_a_price_is_read_in_the_readers_number_format(language, text, minor):
    with translation.override(language):
        assert price_parse(text, currency="USD") == minor


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "Escreva um preço como 62,50."),
        ("abc", "Escreva um preço como 62,50."),
        ("-1", "Escreva um preço como 62,50."),
        ("0,125", "No máximo 2 casas decimais."),
    ],
)
def test_a_price_that_does_not_read_is_refused_in_the_readers_language(text, message):
    with translation.override("pt-br"), pytest.raises(ValidationFailed) as caught:
        price_parse(text, currency="USD")
    assert caught.value.message == message


def test_prices_are_written_back_for_editing_and_countries_named_in_the_readers_language():
    with translation.override("pt-br"):
        assert (price_input(6250, "USD"), price_input(5, "JPY")) == ("62,50", "5")
        assert (country_label("BR"), country_label("US"), country_label(OTHER)) == (
            "Brasil", "Estados Unidos", "Outros países"
        )  # fmt: skip


@pytest.mark.parametrize(
    ("count", "per_thousand", "cost"),
    [(1, 6250, 6), (2, 6250, 13), (3, 6250, 19), (0, 6250, 0), (1000, 33333, 33333), (1, 499, 0), (1, 500, 1)],
)
def test_a_cost_is_rounded_half_up_to_a_minor_unit(count, per_thousand, cost):
    assert _cost(count, per_thousand) == cost


def test_the_table_is_replaced_and_the_change_audited(owner):
    message_prices_save(actor=owner, tenant=owner.tenant, rows=[PriceRow("BR", "marketing", 7000)])
    message_prices_save(
        actor=owner,
        tenant=owner.tenant,
        rows=[PriceRow("BR", "marketing", 7100), PriceRow("MX", "utility", 900, "MXN")],
    )

    assert sorted(MessagePrice.objects.values_list("country", "category", "price_minor", "currency")) == [
        ("BR", "marketing", 7100, "USD"),
        ("MX", "utility", 900, "MXN"),
    ]
    last = AuditLogEntry.objects.filter(action="message_prices.changed").order_by("-id").first()
    assert last.extra == {"changes": {"BR marketing": ["7000 USD", "7100 USD"], "MX utility": [None, "900 MXN"]}}


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([PriceRow("XX", "marketing", 1)], "“XX” is not a country."),
        ([PriceRow("BR", "service", 1)], "“service” is not a template category."),
        ([PriceRow("BR", "utility", 1, "usd")], "A currency such as USD."),
        ([PriceRow("BR", "utility", 1), PriceRow("BR", "utility", 2)],
         "Brazil, Utility: one price per country and category."),
    ],
)  # fmt: skip
def test_a_table_that_does_not_hold_is_refused_and_nothing_changes(owner, rows, message):
    MessagePrice.objects.create(tenant=owner.tenant, country="BR", category="marketing", price_minor=6250)
    with pytest.raises(ValidationFailed) as caught:
        message_prices_save(actor=owner, tenant=owner.tenant, rows=rows)
    assert caught.value.message == message
    assert list(MessagePrice.objects.values_list("price_minor", flat=True)) == [6250]
    assert not AuditLogEntry.objects.filter(action="message_prices.changed").exists()


def test_an_agent_may_not_change_prices(agent):
    with pytest.raises(PermissionDenied):
        message_prices_save(actor=agent, tenant=agent.tenant, rows=[PriceRow("BR", "marketing", 1)])
    assert not MessagePrice.objects.exists()
