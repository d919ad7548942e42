"""What broadcasts cost: the workspace's table of Meta's prices (editable; Meta changes its rate card) and the
estimate of a broadcast by template category and the recipients' countries.

Meta charges a fraction of a cent per template message, so a ``MessagePrice.price_minor`` is the price of
**1,000 messages** in minor units of its currency (``6250`` USD = $62.50 per 1,000 = $0.0625 a message). Every
sum is an integer of minor units, rounded half up once per category and country; never a float.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import InvalidOperation
from typing import Any

from babel.numbers import NumberFormatError, get_currency_precision, parse_decimal
from django.db import transaction
from django.db.models import Count, Min
from django.db.models.functions import Substr
from django.http import HttpRequest
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy

from campaigns.broadcasts import audience_contacts, audience_phones, phone_country
from campaigns.models import Broadcast, BroadcastRecipient, MessagePrice
from conversations.actors import Actor, actor_audit_record
from helpdesk.exceptions import ValidationFailed
from helpdesk.l10n import babel_locale
from helpdesk.money import format_money
from tenants.models import AuditLogEntry, Tenant
from tenants.permissions import Perm, require_perm

PER = 1000
CATEGORIES = ("marketing", "utility", "authentication")
CATEGORY_LABELS = {
    "marketing": pgettext_lazy("message template category", "Marketing"),
    "utility": pgettext_lazy("message template category", "Utility"),
    "authentication": pgettext_lazy("message template category", "Authentication"),
}
# "Other countries": the rate of every country the table does not name (CLDR's code for an unknown region).
OTHER = "ZZ"
OTHER_LABEL = gettext_lazy("Other countries")
ROWS_MAX = 300

# Editable defaults: approximate Meta rates (USD, from its rate card effective July 2025) in cents per 1,000
# messages. A workspace saves its own table on Settings → Campaigns → Message prices; these are only a start.
DEFAULT_PRICES: dict[str, dict[str, int]] = {
    "BR": {"marketing": 6250, "utility": 680, "authentication": 680},
    "AR": {"marketing": 6180, "utility": 2600, "authentication": 2600},
    "CL": {"marketing": 8890, "utility": 2000, "authentication": 2000},
    "CO": {"marketing": 1250, "utility": 20, "authentication": 80},
    "MX": {"marketing": 3050, "utility": 850, "authentication": 850},
    "PE": {"marketing": 7030, "utility": 2000, "authentication": 2000},
    "US": {"marketing": 2500, "utility": 400, "authentication": 1350},
    "IN": {"marketing": 1070, "utility": 140, "authentication": 140},
    OTHER: {"marketing": 6040, "utility": 770, "authentication": 770},
}
DEFAULT_CURRENCY = "USD"


@dataclass(frozen=True)
class PriceRow:
    country: str
    category: str
    price_minor: int
    currency: str = DEFAULT_CURRENCY


def default_rows() -> list[PriceRow]:
    return [
        PriceRow(country, category, price)
        for country, prices in DEFAULT_PRICES.items()
        for category, price in prices.items()
    ]


def price_rows(tenant: Tenant) -> list[PriceRow]:
    """The workspace's table; Meta's defaults while it has saved none."""
    stored = [
        PriceRow(p.country, p.category, p.price_minor, p.currency)
        for p in MessagePrice.objects.filter(tenant=tenant).order_by("country", "category")
    ]
    return stored or default_rows()


def country_label(code: str) -> str:
    """A country's name in the active language ("Brasil"), "Other countries" for ``ZZ``."""
    if code == OTHER:
        return str(OTHER_LABEL)
    return str(babel_locale().territories.get(code, code))


def price_parse(text: str, *, currency: str, field: str = "price") -> int:
    """A price written in the active language's number format ("62,50" in pt-BR) as minor units (6250)."""
    cleaned = text.strip().replace("\u00a0", " ")
    invalid = ValidationFailed(
        _("Write a price such as %(example)s.") % {"example": price_input(6250, currency)}, details={"field": field}
    )
    if not cleaned:
        raise invalid
    try:
        value = parse_decimal(cleaned, locale=babel_locale(), strict=True)
    except (NumberFormatError, InvalidOperation, ValueError):
        raise invalid from None
    if value < 0 or not value.is_finite():
        raise invalid
    scaled = value.scaleb(get_currency_precision(currency))
    if scaled != scaled.to_integral_value():
        raise ValidationFailed(
            _("At most %(places)s decimal places.") % {"places": get_currency_precision(currency)},
            details={"field": field},
        )
    if scaled > 10**9:
        raise invalid
    return int(scaled)


def price_input(minor: int, currency: str) -> str:
    """Minor units as a form shows them for editing in the active language: 6250 → "62,50" (pt-BR)."""
    places = get_currency_precision(currency)
    whole, part = divmod(minor, 10**places)
    symbol = babel_locale().number_symbols.get("latn", {}).get("decimal", ".")
    return f"{whole}{symbol}{part:0{places}d}" if places else str(whole)


def message_prices_save(
    *, actor: Actor, tenant: Tenant, rows: list[PriceRow], request: HttpRequest | None = None
) -> list[PriceRow]:
    """Replace the workspace's table with ``rows`` (one price per country and category)."""
    require_perm(actor, Perm.MANAGE_BROADCASTS, tenant_id=tenant.pk)
    if len(rows) > ROWS_MAX:
        raise ValidationFailed(_("At most %(max)s prices.") % {"max": ROWS_MAX}, details={"field": "prices"})
    seen: set[tuple[str, str]] = set()
    for row in rows:
        if row.country != OTHER and (len(row.country) != 2 or row.country not in babel_locale().territories):
            raise ValidationFailed(
                _("“%(code)s” is not a country.") % {"code": row.country}, details={"field": "country"}
            )
        if row.category not in CATEGORIES:
            raise ValidationFailed(
                _("“%(category)s” is not a template category.") % {"category": row.category},
                details={"field": "category"},
            )
        if (
            isinstance(row.price_minor, bool)
            or not isinstance(row.price_minor, int)
            or not 0 <= row.price_minor <= 10**9
        ):
            raise ValidationFailed(_("A price of 0 or more."), details={"field": "price"})
        if len(row.currency) != 3 or not row.currency.isalpha() or not row.currency.isupper():
            raise ValidationFailed(_("A currency such as USD."), details={"field": "currency"})
        if (row.country, row.category) in seen:
            raise ValidationFailed(
                _("%(country)s, %(category)s: one price per country and category.")
                % {"country": country_label(row.country), "category": CATEGORY_LABELS[row.category]},
                details={"field": "country"},
            )
        seen.add((row.country, row.category))
    with transaction.atomic():
        before = {(p.country, p.category): (p.price_minor, p.currency) for p in price_rows(tenant)}
        MessagePrice.objects.filter(tenant=tenant).delete()
        MessagePrice.objects.bulk_create(
            [
                MessagePrice(
                    tenant=tenant,
                    country=r.country,
                    category=r.category,
                    price_minor=r.price_minor,
                    currency=r.currency,
                )
                for r in rows
            ]
        )
        after = {(r.country, r.category): (r.price_minor, r.currency) for r in rows}
        changes = {
            f"{country} {category}": [
                f"{before[(country, category)][0]} {before[(country, category)][1]}"
                if (country, category) in before
                else None,
                f"{after[(country, category)][0]} {after[(country, category)][1]}"
                if (country, category) in after
                else None,
            ]
            for country, category in sorted(before.keys() | after.keys())
            if before.get((country, category)) != after.get((country, category))
        }
        actor_audit_record(
            actor,
            action=AuditLogEntry.Action.MESSAGE_PRICES_CHANGED,
            tenant=tenant,
            target=tenant,
            target_label=tenant.name,
            request=request,
            extra={"changes": changes} if changes else {},
        )
    return price_rows(tenant)


# --- the estimate -------------------------------------------------------------------------------------------------

# Recipients who will not be charged: nothing was (or will be) delivered to them.
NOT_CHARGED = (BroadcastRecipient.Status.SKIPPED, BroadcastRecipient.Status.CANCELED, BroadcastRecipient.Status.FAILED)


def _cost(count: int, per_thousand: int) -> int:
    """``count`` messages at ``per_thousand`` minor units per 1,000, rounded half up to a minor unit."""
    return (2 * count * per_thousand + PER) // (2 * PER)


# Numbers are counted by their first digits (the plus sign and six digits: a country code and then some) and each
# group takes the country of one of its numbers: a few hundred groups to read, not every number, at each refresh
# of the live page. Within six digits a country's own numbers are told apart (NANP area codes, +44 7781 Guernsey).
PREFIX = 7


def _by_prefix(groups: Iterable[tuple[str, int, str]]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for _prefix, n, sample in groups:
        counts[phone_country(sample or "")] += n
    return counts


def _countries(broadcast: Broadcast) -> Counter[str]:
    """Recipients by country: those of the planned recipients still to be (or already) charged, or, before the
    broadcast is planned, the audience's phone numbers (each once)."""
    if broadcast.pk is None or not BroadcastRecipient.objects.filter(broadcast=broadcast).exists():
        contacts = audience_contacts(broadcast)
        if contacts is None:
            prefixes: dict[str, list[Any]] = {}
            for phone in audience_phones(broadcast):
                group = prefixes.setdefault(phone[:PREFIX], [phone[:PREFIX], 0, phone])
                group[1] += 1
            return _by_prefix((p, n, sample) for p, n, sample in prefixes.values())
        rows = (
            contacts.exclude(phone_e164="")
            .values(prefix=Substr("phone_e164", 1, PREFIX))
            .annotate(n=Count("phone_e164", distinct=True), sample=Min("phone_e164"))
            .values_list("prefix", "n", "sample")
            .order_by()
        )
        return _by_prefix(rows)
    charged = BroadcastRecipient.objects.filter(broadcast=broadcast).exclude(status__in=NOT_CHARGED)
    counts: Counter[str] = Counter()
    for country, n in charged.exclude(country="").values_list("country").annotate(n=Count("id")).order_by():
        counts[country] += n
    unplaced = (
        charged.filter(country="")
        .values(prefix=Substr("phone", 1, PREFIX))
        .annotate(n=Count("id"), sample=Min("phone"))
        .values_list("prefix", "n", "sample")
        .order_by()
    )
    counts.update(_by_prefix(unplaced))
    return counts


def broadcast_cost_estimate(broadcast: Broadcast) -> dict[str, Any]:
    """What the broadcast costs at the workspace's prices, by country (its template has one category).

    ``rows``: ``{country, category, recipients, unit_minor (per 1,000), cost_minor, currency}``, costliest first;
    ``totals``: ``{currency: minor units}``; ``unpriced``: recipients of a country without a price (and no
    "other countries" price), or whose number names no country.
    """
    category = (broadcast.template_category or "").lower()
    table = {(r.country, r.category): r for r in price_rows(broadcast.tenant)}
    rows: list[dict[str, Any]] = []
    totals: dict[str, int] = {}
    unpriced = 0
    for country, n in _countries(broadcast).items():
        price = table.get((country, category)) or table.get((OTHER, category)) if country else None
        if price is None:
            unpriced += n
            continue
        cost = _cost(n, price.price_minor)
        rows.append(
            {
                "country": country,
                "category": category,
                "recipients": n,
                "unit_minor": price.price_minor,
                "cost_minor": cost,
                "currency": price.currency,
                "priced_as": price.country,
            }
        )
        totals[price.currency] = totals.get(price.currency, 0) + cost
    rows.sort(key=lambda r: (-r["cost_minor"], r["country"]))
    return {"category": category, "rows": rows, "totals": totals, "unpriced": unpriced}


def cost_display(estimate: dict[str, Any]) -> dict[str, Any]:
    """The estimate with its amounts written in the active language, for the pages."""
    return {
        "category": CATEGORY_LABELS.get(estimate["category"], estimate["category"]),
        "rows": [
            {
                **row,
                "country_label": country_label(row["country"]),
                "unit": format_money(row["unit_minor"], row["currency"]),
                "cost": format_money(row["cost_minor"], row["currency"]),
            }
            for row in estimate["rows"]
        ],
        "totals": [format_money(minor, currency) for currency, minor in sorted(estimate["totals"].items())],
        "unpriced": estimate["unpriced"],
    }
