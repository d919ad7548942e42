"""National and state holidays, from the ``holidays`` package: which countries and subdivisions it
knows, the dates of a year, and their names in the viewer's language. The only module that imports it."""

from __future__ import annotations

from datetime import date
from functools import cache, lru_cache

import holidays
from django.utils.translation import get_language, to_locale


@cache
def supported_regions() -> dict[str, tuple[str, ...]]:
    """Country code -> its subdivision codes (``"BR" -> ("AC", …, "SP", …)``)."""
    return {
        code: tuple(subdivisions)
        for code, subdivisions in holidays.list_supported_countries(include_aliases=False).items()
    }


def is_supported_country(country: str) -> bool:
    return country in supported_regions()


def canonical_subdivision(country: str, subdivision: str) -> str | None:
    """The subdivision's code as the package spells it (``"sp"`` -> ``"SP"``), or None if unknown."""
    wanted = subdivision.strip().casefold()
    return next((code for code in supported_regions().get(country, ()) if code.casefold() == wanted), None)


@lru_cache(maxsize=1024)
def holiday_dates(country: str, subdivision: str, year: int) -> frozenset[date]:
    """The public holidays of ``country`` (and ``subdivision``) in ``year``."""
    if country not in supported_regions():
        return frozenset()
    return frozenset(holidays.country_holidays(country, subdiv=subdivision or None, years=year).keys())


def _language(country: str, language: str | None) -> str | None:
    """The package's language nearest the active one (``pt-br`` -> ``pt_BR``, ``en`` -> ``en_US``)."""
    supported = getattr(holidays.country_holidays(country), "supported_languages", ()) or ()
    wanted = to_locale(language or get_language() or "en")
    if wanted in supported:
        return wanted
    prefix = wanted.split("_")[0]
    return next((code for code in sorted(supported) if code.split("_")[0] == prefix), None)


def holiday_list(
    country: str, subdivision: str, start: date, end: date, *, language: str | None = None
) -> list[tuple[date, str]]:
    """The holidays from ``start`` to ``end`` (both included), in order, named in ``language`` (default:
    the active one) where the package speaks it."""
    if country not in supported_regions() or end < start:
        return []
    table = holidays.country_holidays(
        country,
        subdiv=subdivision or None,
        years=range(start.year, end.year + 1),
        language=_language(country, language),
    )
    return sorted((day, str(name)) for day, name in table.items() if start <= day <= end)
