"""Webhook signatures of the card PSPs: Mercado Pago ``x-signature``, ``Stripe-Signature`` (payments CONTRACT §3.5, §4).

Pure functions, standard library only. ``*_verify`` raises :class:`SignatureInvalid` on any failure and returns ``None``
on success; ``*_sign`` produce the header value a PSP would send (used by the fake PSP servers and by tests).

Messages never carry the secret nor the expected signature, so they are safe to log and to answer with.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Final, Literal

SignatureFailure = Literal["missing", "malformed", "mismatch", "stale"]

MERCADOPAGO_HEADER: Final = "x-signature"
STRIPE_HEADER: Final = "Stripe-Signature"
DEFAULT_TOLERANCE_SECONDS: Final = 300

# Mercado Pago documents ts in milliseconds while its example and SDK (>= 3.4.0) use seconds: above this it is ms.
_MILLISECONDS_THRESHOLD: Final = 10**12
_HEX_DIGITS: Final = frozenset("0123456789abcdef")
# Enough for milliseconds until the year 2286; also keeps int() far from its 4300-digit guard.
_TIMESTAMP_MAX_DIGITS: Final = 13
_SHA256_HEX_LENGTH: Final = 64


class SignatureInvalid(Exception):
    """A webhook whose signature header is missing, malformed, wrong or too old; ``reason`` says which."""

    def __init__(self, reason: SignatureFailure, message: str) -> None:
        super().__init__(message)
        self.reason: SignatureFailure = reason
        self.message = message


# --- Mercado Pago -----------------------------------------------------------------------------------------------------


def mercadopago_manifest(*, data_id: str | None, request_id: str | None, ts: str | int | None) -> str:
    """The string Mercado Pago signs: ``id:<data.id>;request-id:<x-request-id>;ts:<ts>;``.

    ``data_id`` is the ``data.id`` of the notification URL's query string (never the body's); it is lower-cased when
    it is ASCII alphanumeric. A pair whose value is absent or empty is dropped whole, as the SDK does.
    """
    if data_id is not None and data_id.isascii() and data_id.isalnum():
        data_id = data_id.lower()
    pairs = (("id", data_id), ("request-id", request_id), ("ts", None if ts is None else str(ts)))
    return "".join(f"{name}:{value};" for name, value in pairs if value)


def mercadopago_sign(*, secret: str, request_id: str | None, data_id: str | None, ts: str | int) -> str:
    """The ``x-signature`` header value, ``ts=<ts>,v1=<hex>``, for this notification."""
    manifest = mercadopago_manifest(data_id=data_id, request_id=request_id, ts=ts)
    return f"ts={ts},v1={_hmac_sha256_hex(secret, manifest.encode())}"


def mercadopago_verify(
    *,
    secret: str,
    header: str | None,
    request_id: str | None,
    data_id: str | None,
    now: float,
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
) -> None:
    """Check a Mercado Pago notification's ``x-signature`` header; raise :class:`SignatureInvalid` unless authentic.

    ``header`` is ``x-signature`` (``None`` when absent), ``request_id`` the ``x-request-id`` header, ``data_id`` the
    ``data.id`` query parameter, ``now`` the current Unix time in seconds. ``ts`` in seconds or milliseconds (values
    above 10**12) must lie within ``tolerance_seconds`` of ``now``, on either side.
    """
    _check_arguments(secret, tolerance_seconds)
    parts = _header_parts(MERCADOPAGO_HEADER, header)
    ts = _single(MERCADOPAGO_HEADER, parts, "ts")
    v1 = _single(MERCADOPAGO_HEADER, parts, "v1")
    _check_timestamp_shape(MERCADOPAGO_HEADER, "ts", ts)
    _check_signature_shape(MERCADOPAGO_HEADER, v1)

    manifest = mercadopago_manifest(data_id=data_id, request_id=request_id, ts=ts)
    if not hmac.compare_digest(_hmac_sha256_hex(secret, manifest.encode()), v1):
        raise SignatureInvalid("mismatch", f"{MERCADOPAGO_HEADER} v1 does not match the notification")

    sent_at = int(ts) / 1000 if int(ts) > _MILLISECONDS_THRESHOLD else int(ts)
    if abs(now - sent_at) > tolerance_seconds:
        raise SignatureInvalid(
            "stale", f"{MERCADOPAGO_HEADER} ts={ts} is more than {tolerance_seconds} s away from the current time"
        )


# --- Stripe -----------------------------------------------------------------------------------------------------------


def stripe_sign(*, secret: str, payload: bytes, timestamp: int) -> str:
    """The ``Stripe-Signature`` header value, ``t=<timestamp>,v1=<hex>``, for these exact body bytes."""
    return f"t={timestamp},v1={_hmac_sha256_hex(secret, _stripe_signed_payload(timestamp, payload))}"


def stripe_verify(
    *,
    secret: str,
    header: str | None,
    payload: bytes,
    now: float,
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
) -> None:
    """Check a Stripe event's ``Stripe-Signature`` header; raise :class:`SignatureInvalid` unless authentic.

    ``payload`` must be the raw request body as received, never a re-serialisation. Any one ``v1`` may match (Stripe
    sends several while a secret is being rolled); other schemes such as ``v0`` are ignored.
    """
    _check_arguments(secret, tolerance_seconds)
    parts = _header_parts(STRIPE_HEADER, header)
    t = _single(STRIPE_HEADER, parts, "t")
    _check_timestamp_shape(STRIPE_HEADER, "t", t)
    candidates = [value for name, value in parts if name == "v1"]
    if not candidates:
        raise SignatureInvalid("malformed", f"{STRIPE_HEADER} has no v1 signature")
    for candidate in candidates:
        _check_signature_shape(STRIPE_HEADER, candidate)

    timestamp = int(t)
    expected = _hmac_sha256_hex(secret, _stripe_signed_payload(timestamp, payload))
    # Compare every candidate, not stopping at the first match, so the time taken says nothing about which one matched.
    matches = [hmac.compare_digest(expected, candidate) for candidate in candidates]
    if not any(matches):
        raise SignatureInvalid("mismatch", f"no {STRIPE_HEADER} v1 matches the payload")

    # Like stripe-python's WebhookSignature.verify_header, only an old t is refused; a future one is accepted.
    if timestamp < now - tolerance_seconds:
        raise SignatureInvalid("stale", f"{STRIPE_HEADER} t={t} is more than {tolerance_seconds} s old")


def _stripe_signed_payload(timestamp: int, payload: bytes) -> bytes:
    return f"{timestamp}.".encode() + payload


# --- Shared parsing ---------------------------------------------------------------------------------------------------


def _hmac_sha256_hex(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def _check_arguments(secret: str, tolerance_seconds: int) -> None:
    # An empty secret would let anyone sign: a configuration error, not a bad request.
    if not secret:
        raise ValueError("the webhook secret is empty")
    if tolerance_seconds < 0:
        raise ValueError("tolerance_seconds must not be negative")


def _header_parts(header_name: str, header: str | None) -> list[tuple[str, str]]:
    """``a=1, b=2`` as ``[("a", "1"), ("b", "2")]``: split on ``,`` then on the first ``=``, whitespace stripped."""
    if header is None:
        raise SignatureInvalid("missing", f"the {header_name} header is missing")
    parts: list[tuple[str, str]] = []
    for part in header.split(","):
        name, equals, value = part.partition("=")
        if equals:
            parts.append((name.strip(), value.strip()))
    return parts


def _single(header_name: str, parts: list[tuple[str, str]], name: str) -> str:
    values = [value for part_name, value in parts if part_name == name]
    if not values:
        raise SignatureInvalid("malformed", f"{header_name} has no {name}")
    if len(values) > 1:
        raise SignatureInvalid("malformed", f"{header_name} has more than one {name}")
    return values[0]


def _check_timestamp_shape(header_name: str, name: str, value: str) -> None:
    if not (value.isascii() and value.isdigit() and len(value) <= _TIMESTAMP_MAX_DIGITS):
        raise SignatureInvalid("malformed", f"{header_name} {name} is not a Unix timestamp")


def _check_signature_shape(header_name: str, value: str) -> None:
    # hexdigest() writes lower-case; anything else cannot be an HMAC-SHA256 of ours, so refuse it before comparing.
    if len(value) != _SHA256_HEX_LENGTH or not _HEX_DIGITS.issuperset(value):
        raise SignatureInvalid("malformed", f"{header_name} v1 is not 64 lower-case hex digits")
