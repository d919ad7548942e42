"""How the fake writes JSON, money and time on the wire, written independently of ``payments.gateways`` so that a
mistake in the adapters' conversions is not mirrored here and hidden from the tests.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

BCB_MONEY = re.compile(r"\d{1,10}\.\d{2}")
BRASILIA = timezone(timedelta(hours=-3))


def compact_json(value: Any) -> bytes:
    """Compact UTF-8 JSON (``{"a":1}``, accents unescaped), as the PSPs send callbacks; ``Decimal`` as a number."""
    return json.dumps(_plain(value), ensure_ascii=False, separators=(",", ":")).encode()


def _plain(value: Any) -> Any:
    """``value`` with every ``Decimal`` as the float whose shortest form spells the same digits (checked)."""
    if isinstance(value, Decimal):
        number = float(value)
        if Decimal(repr(number)) != value:
            raise ValueError(f"{value} has no exact JSON number form")
        return number
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def cents_to_bcb(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def bcb_to_cents(text: str) -> int:
    whole, _, part = text.partition(".")
    return int(whole) * 100 + int(part)


def cents_to_reais(cents: int) -> Decimal:
    return (Decimal(cents) / 100).quantize(Decimal("0.01"))


def reais_to_cents(value: Decimal | int) -> int | None:
    """Centavos of a JSON amount in reais; ``None`` when it has fractions of a centavo."""
    cents = Decimal(value) * 100
    return int(cents) if cents == cents.to_integral_value() else None


def pix_time(epoch: float) -> str:
    """``2026-11-05T14:32:00.000Z``."""
    moment = datetime.fromtimestamp(epoch, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def mp_time(epoch: float) -> str:
    """``2026-11-05T11:32:00.000-03:00``."""
    return datetime.fromtimestamp(epoch, BRASILIA).isoformat(timespec="milliseconds")


def parse_time(text: str) -> float | None:
    """Epoch seconds of an ISO 8601 timestamp with a zone; ``None`` when it is not one."""
    try:
        moment = datetime.fromisoformat(text)
    except (TypeError, ValueError):
        return None
    return moment.timestamp() if moment.tzinfo is not None else None
