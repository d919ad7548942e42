"""Identifiers we choose for the PSPs: charge ids (the Pix ``txid``) and refund ids (the Pix devolução ``id``).

A ``txid`` is 26-35 letters and digits, unique per receiver (API Pix §2.2); a devolução ``id`` is 1-35. Both also
serve as idempotency keys for Mercado Pago (≤ 64 characters) and Stripe (≤ 255), so one id fits every gateway.
"""

from __future__ import annotations

import re
import secrets

TXID = re.compile(r"[a-zA-Z0-9]{26,35}")
REFUND_ID = re.compile(r"[a-zA-Z0-9]{1,35}")


def new_txid() -> str:
    """32 random hex digits: unique without coordination, and a valid ``txid`` for every PSP."""
    return secrets.token_hex(16)


def new_refund_id() -> str:
    """A fresh refund id (a valid devolução ``id``); store it before calling, so a retry reuses it."""
    return secrets.token_hex(16)


def is_txid(value: str) -> bool:
    return bool(TXID.fullmatch(value))


def is_refund_id(value: str) -> bool:
    return bool(REFUND_ID.fullmatch(value))
