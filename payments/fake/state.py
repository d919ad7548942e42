"""In-memory state of the fake PSP: one ``FakePspState`` guarded by one re-entrant lock.

Handlers run on uvicorn's event loop while the delivery worker and test threads touch the same objects; every read
or write of shared state happens inside ``with state.lock`` and never awaits while holding it.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from payments.fake.clock import AdjustableClock, Clock

DEFAULT_SCOPES = frozenset(
    {"cob.write", "cob.read", "pix.write", "pix.read", "webhook.write", "webhook.read"},
)


@dataclass
class Settings:
    """Knobs of the fake, changed through ``POST /_fake/settings``."""

    # Where the checkout pages are, as the init_point/url of links shows them (default: the request's own address).
    public_base_url: str | None = None
    # The API Pix location of new charges is "<location_base>/<32 hex>" (a URI without scheme, CONTRACT §2.2).
    location_base: str = "pix.example.com/qr/v2"
    token_ttl_s: int = 3600
    payer_ispb: str = "12345678"
    psp_ispb: str = "12345678"
    # Callbacks and webhooks: tries after the first, in (compressed) seconds; then the delivery is failed.
    delivery_retry_delays_s: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0, 16.0)
    delivery_timeout_s: float = 5.0
    duplicate_deliveries: bool = False  # send every callback/webhook twice
    hold_deliveries: bool = False  # keep them until POST /_fake/deliveries/release (to reorder them)
    batch_pix_callbacks: bool = False  # one callback for all the Pix of one simulated payment call
    devolucao_auto_settle: str | None = None  # "DEVOLVIDO" or "NAO_REALIZADO": settle refunds at once
    require_https_webhooks: bool = False
    mp_fee_percent: str = "4.96"

    def public(self) -> dict[str, Any]:
        data = asdict(self)
        data["delivery_retry_delays_s"] = list(self.delivery_retry_delays_s)
        return data

    def update(self, values: dict[str, Any]) -> None:
        known = {f.name for f in fields(self)}
        unknown = set(values) - known
        if unknown:
            raise KeyError(", ".join(sorted(unknown)))
        for name, value in values.items():
            setattr(self, name, tuple(value) if name == "delivery_retry_delays_s" else value)


# --- API Pix ----------------------------------------------------------------------------------------------------------


@dataclass
class Receiver:
    """A receiving account at the Pix PSP: its client credentials, keys and (optionally) its certificate."""

    id: str
    client_id: str
    client_secret: str
    keys: list[str]
    cert_thumbprint: str | None = None
    scopes: frozenset[str] = DEFAULT_SCOPES
    merchant_name: str = "LOJA EXEMPLO"
    merchant_city: str = "SAO PAULO"

    def public(self) -> dict[str, Any]:
        data = asdict(self)
        data["scopes"] = sorted(self.scopes)
        data.pop("client_secret")
        return data


@dataclass
class Token:
    value: str
    receiver_id: str
    scope: str  # as granted, space-separated in the order asked for
    thumbprint: str | None  # of the client certificate it is bound to (RFC 8705)
    expires_at: float

    @property
    def scopes(self) -> frozenset[str]:
        return frozenset(self.scope.split())


@dataclass
class Devolucao:
    id: str
    rtr_id: str
    cents: int
    natureza: str
    descricao: str | None
    requested_at: float
    status: str = "EM_PROCESSAMENTO"
    settled_at: float | None = None
    motivo: str | None = None


@dataclass
class ReceivedPix:
    e2eid: str
    receiver_id: str
    txid: str | None
    cents: int
    chave: str
    horario: float
    info_pagador: str | None = None
    payer_cpf: str | None = None
    devolucoes: list[Devolucao] = field(default_factory=list)


@dataclass
class Cob:
    receiver_id: str
    txid: str
    created_at: float
    expiracao: int
    original_cents: int
    modalidade: int
    chave: str
    loc_id: int
    location: str
    copy_paste: str
    revisao: int = 0
    status: str = "ATIVA"
    devedor: dict[str, str] | None = None
    solicitacao: str | None = None
    info: list[dict[str, str]] | None = None
    # What GET ?revisao=n answers: the cob as it was at each revision.
    revisions: list[dict[str, Any]] = field(default_factory=list)
    pix: list[str] = field(default_factory=list)

    def expired(self, now: float) -> bool:
        return now > self.created_at + self.expiracao


@dataclass
class PixWebhook:
    receiver_id: str
    chave: str
    url: str
    created_at: float


@dataclass
class PixData:
    receivers: dict[str, Receiver] = field(default_factory=dict)
    tokens: dict[str, Token] = field(default_factory=dict)
    cobs: dict[tuple[str, str], Cob] = field(default_factory=dict)
    pix: dict[str, ReceivedPix] = field(default_factory=dict)
    webhooks: dict[str, PixWebhook] = field(default_factory=dict)


# --- Mercado Pago and Stripe: their objects are kept as the JSON they answer with ---------------------------------


@dataclass
class MercadoPagoAccount:
    access_token: str
    webhook_secret: str
    collector_id: int = 1234567890
    client_id: str = "9876543210123456"
    name: str = "Loja Exemplo"
    webhook_url: str | None = None  # the panel's webhook; a preference's notification_url wins

    def public(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("webhook_secret")
        return data


@dataclass
class MercadoPagoData:
    accounts: dict[str, MercadoPagoAccount] = field(default_factory=dict)
    # Objects as answered; keys starting with "_" are the fake's own (owner account...) and never sent.
    preferences: dict[str, dict[str, Any]] = field(default_factory=dict)
    payments: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class StripeAccount:
    secret_key: str
    webhook_secret: str
    webhook_url: str | None = None

    def public(self) -> dict[str, Any]:
        return {"secret_key_last4": self.secret_key[-4:], "webhook_url": self.webhook_url}


@dataclass
class StripeData:
    accounts: dict[str, StripeAccount] = field(default_factory=dict)
    # Objects as answered; keys starting with "_" are the fake's own (owner account...) and never sent.
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    intents: dict[str, dict[str, Any]] = field(default_factory=dict)
    refunds: dict[str, dict[str, Any]] = field(default_factory=dict)


def public(obj: dict[str, Any]) -> dict[str, Any]:
    """An object as the PSP answers with it: without the fake's own ``_`` keys."""
    return {key: value for key, value in obj.items() if not key.startswith("_")}


# --- Shared -----------------------------------------------------------------------------------------------------------


@dataclass
class Fault:
    """The next ``times`` requests to ``provider`` (pix, mercadopago, stripe) fail with ``status`` or wait first."""

    provider: str
    status: int | None = None
    delay_ms: int = 0
    times: int = 1


@dataclass
class StoredAnswer:
    """An idempotent request's first answer, replayed to a retry with the same key and body."""

    fingerprint: str
    status: int
    body: bytes
    media_type: str


@dataclass
class Delivery:
    """A callback or webhook the fake sends, with every attempt."""

    id: int
    provider: str
    url: str
    headers: dict[str, str]
    body: bytes
    state: str = "pending"  # held, pending, delivered, failed
    attempts: list[dict[str, Any]] = field(default_factory=list)

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "provider": self.provider,
            "url": self.url,
            "headers": self.headers,
            "body": self.body.decode(),
            "state": self.state,
            "attempts": self.attempts,
        }


class FakePspState:
    def __init__(self, settings: Settings | None = None, *, clock: Clock | None = None) -> None:
        self.lock = threading.RLock()
        self.settings = settings or Settings()
        self.clock: Clock = clock or AdjustableClock()
        self.sequence = itertools.count(1)
        self.clear()

    def clear(self) -> None:
        """Forget everything but settings and the clock."""
        with self.lock:
            self.pix = PixData()
            self.mercadopago = MercadoPagoData()
            self.stripe = StripeData()
            self.faults: list[Fault] = []
            self.requests: list[dict[str, Any]] = []
            self.deliveries: list[Delivery] = []
            self.idempotency: dict[tuple[str, str, str], StoredAnswer] = {}

    def now(self) -> float:
        return self.clock()

    def next_id(self) -> int:
        with self.lock:
            return next(self.sequence)
