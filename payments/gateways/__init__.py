"""Payment gateway adapters: the only code that knows a PSP's JSON (DESIGN.md §4, adapters).

Adapters use httpx only: never the ORM, never Django settings. Everything they need (base URLs, credentials,
timeouts, certificate files) comes in their config, so the caller wires each workspace's own account::

    with gateway_for("bcb_pix", BcbPixConfig(...)) as gateway:
        charge = gateway.create_charge(ChargeRequest(...))
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx

from payments.gateways.base import (
    Charge,
    ChargeItem,
    ChargeRequest,
    ChargeStatus,
    Gateway,
    GatewayError,
    Notification,
    NotificationMalformed,
    Payer,
    PaymentStatus,
    PermanentGatewayError,
    ReceivedPayment,
    Refund,
    RefundStatus,
    TransientGatewayError,
    Violation,
)
from payments.gateways.bcb_pix import BcbPixConfig, BcbPixGateway, TokenRequest
from payments.gateways.http import TlsConfig
from payments.gateways.ids import new_refund_id, new_txid
from payments.gateways.mercadopago import MercadoPagoConfig, MercadoPagoGateway
from payments.gateways.stripe import StripeConfig, StripeGateway

GatewayConfig = BcbPixConfig | MercadoPagoConfig | StripeConfig

_GATEWAYS: dict[str, tuple[type, Callable[..., Gateway]]] = {
    BcbPixGateway.kind: (BcbPixConfig, BcbPixGateway),
    MercadoPagoGateway.kind: (MercadoPagoConfig, MercadoPagoGateway),
    StripeGateway.kind: (StripeConfig, StripeGateway),
}
KINDS = tuple(_GATEWAYS)


def gateway_for(
    kind: str,
    config: GatewayConfig,
    *,
    transport: httpx.BaseTransport | None = None,
    clock: Callable[[], datetime] | None = None,
) -> Gateway:
    """The adapter of ``kind`` (``bcb_pix``, ``mercadopago``, ``stripe``) for one account's ``config``."""
    try:
        config_type, factory = _GATEWAYS[kind]
    except KeyError:
        raise ValueError(f"Unknown gateway {kind!r}; known: {', '.join(KINDS)}.") from None
    if not isinstance(config, config_type):
        raise TypeError(f"The {kind} gateway takes a {config_type.__name__}, not a {type(config).__name__}.")
    options: dict[str, Any] = {"transport": transport}
    if clock is not None:
        options["clock"] = clock
    return factory(config, **options)


__all__ = [
    "KINDS",
    "BcbPixConfig",
    "BcbPixGateway",
    "Charge",
    "ChargeItem",
    "ChargeRequest",
    "ChargeStatus",
    "Gateway",
    "GatewayConfig",
    "GatewayError",
    "MercadoPagoConfig",
    "MercadoPagoGateway",
    "Notification",
    "NotificationMalformed",
    "Payer",
    "PaymentStatus",
    "PermanentGatewayError",
    "ReceivedPayment",
    "Refund",
    "RefundStatus",
    "StripeConfig",
    "StripeGateway",
    "TlsConfig",
    "TokenRequest",
    "TransientGatewayError",
    "Violation",
    "gateway_for",
    "new_refund_id",
    "new_txid",
]
