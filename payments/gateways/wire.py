"""Money and time as the PSPs write them, converted exactly to and from integer minor units and aware datetimes.

* API Pix: money is a string ``"25.00"`` (``\\d{1,10}\\.\\d{2}``); timestamps RFC 3339 in UTC with milliseconds.
* Mercado Pago: money is a JSON number in reais (``25.0``); timestamps ISO 8601 with an offset.
* Stripe: money is an integer of minor units; timestamps are Unix seconds.

Nothing here does float arithmetic: amounts are read with ``json.loads(parse_float=Decimal)`` and scaled as
``Decimal``; a float only exists as the JSON number token Mercado Pago requires, checked to spell the same digits.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from decimal import Decimal, InvalidOperation

BCB_AMOUNT = re.compile(r"\d{1,10}\.\d{2}")
# Brazil has had no daylight saving time since 2019; Mercado Pago's examples write -03:00.
BRASILIA = timezone(timedelta(hours=-3))
_CENTS = Decimal(100)


class WireFormatError(ValueError):
    """A value in a PSP's answer that breaks its documented format."""


def bcb_amount(cents: int) -> str:
    """``2500`` -> ``"25.00"``, the API Pix money string."""
    if isinstance(cents, bool) or not isinstance(cents, int) or cents < 0:
        raise ValueError(f"An amount is a non-negative integer of centavos, not {cents!r}.")
    return f"{cents // 100}.{cents % 100:02d}"


def parse_bcb_amount(text: object) -> int:
    """``"25.00"`` -> ``2500``; anything but a full match of ``\\d{1,10}\\.\\d{2}`` is refused."""
    if not isinstance(text, str) or not BCB_AMOUNT.fullmatch(text):
        raise WireFormatError(f"{text!r} is not an API Pix amount such as 25.00.")
    whole, _, part = text.partition(".")
    return int(whole) * 100 + int(part)


def reais_number(cents: int) -> float:
    """``2550`` -> ``25.5`` as the JSON number Mercado Pago reads; the float's shortest form has the same digits."""
    exact = Decimal(cents) / _CENTS
    number = float(exact)
    if Decimal(repr(number)) != exact:
        raise ValueError(f"{cents} centavos cannot be written exactly as a JSON number.")
    return number


def parse_reais(value: object) -> int:
    """A Mercado Pago amount (``Decimal`` from ``parse_float=Decimal``, or an ``int``) -> centavos, exactly."""
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise WireFormatError(f"{value!r} is not a JSON number of reais.")
    try:
        cents = Decimal(value) * _CENTS
    except InvalidOperation:
        raise WireFormatError(f"{value!r} is not a number.") from None
    if not cents.is_finite() or cents != cents.to_integral_value():
        raise WireFormatError(f"{value!r} has fractions of a centavo.")
    return int(cents)


def rfc3339(moment: datetime) -> str:
    """``2026-11-05T14:32:00.000Z``: UTC with milliseconds, as API Pix writes timestamps."""
    utc = _aware(moment).astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def iso_with_offset(moment: datetime, zone: tzinfo = BRASILIA) -> str:
    """``2026-11-05T11:47:00.000-03:00``: Mercado Pago's ``yyyy-MM-dd'T'HH:mm:ss.SSSz``."""
    local = _aware(moment).astimezone(zone)
    return local.isoformat(timespec="milliseconds")


def parse_timestamp(text: object) -> datetime:
    """An RFC 3339 / ISO 8601 timestamp with ``Z`` or an offset -> an aware datetime."""
    if not isinstance(text, str):
        raise WireFormatError(f"{text!r} is not a timestamp.")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise WireFormatError(f"{text!r} is not an ISO 8601 timestamp.") from None
    if moment.tzinfo is None:
        raise WireFormatError(f"{text!r} has no time zone.")
    return moment


def from_epoch(seconds: object) -> datetime:
    """Stripe's Unix seconds -> an aware UTC datetime."""
    if isinstance(seconds, bool) or not isinstance(seconds, int):
        raise WireFormatError(f"{seconds!r} is not a Unix timestamp.")
    return datetime.fromtimestamp(seconds, UTC)


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("Naive datetimes are refused: which time zone would they be in?")
    return moment
