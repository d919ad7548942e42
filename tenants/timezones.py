"""Time zones: the choices offered, their validation, and the zone a member sees times in."""

from __future__ import annotations

from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

UTC = ZoneInfo("UTC")


@cache
def time_zone_names() -> tuple[str, ...]:
    """Every IANA zone this system knows, sorted (the choices of a time zone select)."""
    return tuple(sorted(available_timezones()))


def validate_time_zone(value: str) -> None:
    """A known IANA zone name (``America/Sao_Paulo``); anything else is refused."""
    if value not in time_zone_names():
        raise ValidationError(
            _("“%(value)s” is not a known time zone."), code="invalid_time_zone", params={"value": value}
        )


def zone_or_none(name: str) -> ZoneInfo | None:
    if not name or name not in time_zone_names():
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def effective_zone(*, user_zone: str, tenant_zone: str) -> ZoneInfo:
    """The member's own zone if set, else the workspace's, else UTC (a stored name no longer known)."""
    return zone_or_none(user_zone) or zone_or_none(tenant_zone) or UTC
