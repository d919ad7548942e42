"""What every payment gateway adapter speaks: channel-neutral dataclasses, typed errors and the ``Gateway`` protocol.

The rest of the product never sees a PSP's JSON: it hands a :class:`ChargeRequest` to an adapter and reads back a
:class:`Charge`, :class:`ReceivedPayment` or :class:`Refund`. Money is an ``int`` of minor units (centavos) here;
each adapter converts it to its provider's wire format. Timestamps are aware ``datetime`` objects.

Errors tell the caller what to do next, by class (DESIGN.md §4, "Errors are typed"):
:class:`TransientGatewayError` — retry later with backoff; :class:`PermanentGatewayError` — record it, do not retry.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Protocol, Self, runtime_checkable

# The widest amount every wire format here can carry: BCB's "\d{1,10}\.\d{2}".
MAX_AMOUNT = 999_999_999_999


# --- Errors -----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Violation:
    """One reason a PSP gave for refusing a request: an API Pix ``violacoes`` item or a Mercado Pago ``cause``."""

    reason: str
    property: str | None = None
    value: str | None = None
    code: str | None = None


class GatewayError(Exception):
    """A gateway call that did not succeed; never carries credentials or tokens in its message."""

    def __init__(
        self,
        message: str,
        *,
        gateway: str,
        http_status: int | None = None,
        code: str | None = None,
        violations: tuple[Violation, ...] = (),
    ) -> None:
        super().__init__(message)
        self.message = message
        self.gateway = gateway
        self.http_status = http_status
        self.code = code
        self.violations = violations

    def __str__(self) -> str:
        status = f" (HTTP {self.http_status})" if self.http_status is not None else ""
        code = f" [{self.code}]" if self.code else ""
        return f"{self.gateway}: {self.message}{code}{status}"


class TransientGatewayError(GatewayError):
    """Worth retrying with backoff: network trouble, timeouts, 5xx, 429, Mercado Pago's 423 (idempotency key locked).

    Every call that changes state is idempotent (Pix txid, idempotency keys), so a retry never charges or refunds
    twice. ``retry_after`` is the PSP's ``Retry-After`` in seconds, when it sent one.
    """

    def __init__(
        self,
        message: str,
        *,
        gateway: str,
        http_status: int | None = None,
        code: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, gateway=gateway, http_status=http_status, code=code)
        self.retry_after = retry_after


class PermanentGatewayError(GatewayError):
    """Retrying the same request cannot help (4xx, or an answer that breaks the contract): record it and stop.

    ``code`` keeps the provider's own identifier (API Pix problem type such as ``CobOperacaoInvalida``, Mercado Pago
    cause code such as ``4292``, Stripe error code) and ``violations`` its itemised reasons.
    """


class NotificationMalformed(ValueError):
    """A webhook body that no PSP of this kind would send (not JSON, not the documented shape)."""


# --- Requests ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChargeItem:
    """One line of what is being paid for; card links show it, Pix charges only carry the total."""

    sku: str
    name: str
    quantity: int
    unit_amount: int
    description: str = ""


@dataclass(frozen=True)
class Payer:
    """Who is asked to pay, when known: shown on the Pix charge (``devedor``) and prefilled on card links."""

    name: str
    tax_id: str | None = None  # CPF (11 digits) or CNPJ (14)
    email: str | None = None


@dataclass(frozen=True)
class ChargeRequest:
    """A request to collect ``amount`` for ``reference`` until ``expires_at``, in any gateway.

    ``charge_id`` is our id of this attempt (26-35 letters and digits, :func:`payments.gateways.ids.new_txid`): the
    Pix ``txid`` and the idempotency key of Mercado Pago and Stripe, so a retried create never makes a second charge.
    ``reference`` is the order's reference (WhatsApp ``reference_id``, Mercado Pago ``external_reference``, Stripe
    ``client_reference_id``), echoed on the payments so a webhook leads back to the order.
    """

    reference: str
    charge_id: str
    amount: int
    description: str
    expires_at: datetime
    currency: str = "BRL"
    items: tuple[ChargeItem, ...] = ()
    payer: Payer | None = None
    notification_url: str | None = None
    success_url: str | None = None
    failure_url: str | None = None
    pending_url: str | None = None
    # Shown to the payer by their bank (Pix ``infoAdicionais``), e.g. ("Cartão", "0012345678").
    extra_info: tuple[tuple[str, str], ...] = ()
    metadata: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_amount("amount", self.amount)
        if self.expires_at.tzinfo is None:
            raise ValueError("expires_at must be an aware datetime.")
        if not self.reference or not self.charge_id:
            raise ValueError("A charge needs a reference and a charge_id.")
        for item in self.items:
            _check_amount(f"unit amount of {item.sku}", item.unit_amount)
            if isinstance(item.quantity, bool) or not isinstance(item.quantity, int) or item.quantity < 1:
                raise ValueError(f"The quantity of {item.sku} must be a positive integer.")
        if self.items and sum(item.quantity * item.unit_amount for item in self.items) != self.amount:
            raise ValueError("The items do not add up to the amount.")


def _check_amount(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"The {name} is an integer of minor units, not {value!r}.")
    if not 0 < value <= MAX_AMOUNT:
        raise ValueError(f"The {name} must be between 1 and {MAX_AMOUNT} minor units; it is {value}.")


# --- Results ----------------------------------------------------------------------------------------------------------


class ChargeStatus(enum.StrEnum):
    ACTIVE = "active"  # can still be paid
    PAID = "paid"
    CANCELED = "canceled"  # removed by us (or by the PSP)
    EXPIRED = "expired"  # past its expiry, unpaid


class PaymentStatus(enum.StrEnum):
    PAID = "paid"
    PENDING = "pending"  # the payer's money is on its way (in review, waiting for a transfer)
    REJECTED = "rejected"  # this attempt failed; the payer may try again on the same link
    REFUNDED = "refunded"  # all of it given back
    CANCELED = "canceled"
    DISPUTED = "disputed"  # charged back or in mediation


class RefundStatus(enum.StrEnum):
    PROCESSING = "processing"
    DONE = "done"
    FAILED = "failed"


@dataclass(frozen=True)
class Refund:
    """A refund we asked for: ``refund_id`` is ours (the idempotency key), ``psp_refund_id`` the PSP's handle."""

    refund_id: str | None
    psp_refund_id: str
    psp_payment_id: str
    amount: int
    status: RefundStatus
    reason: str | None = None
    requested_at: datetime | None = None
    settled_at: datetime | None = None


@dataclass(frozen=True)
class ReceivedPayment:
    """Money the PSP says arrived (or is arriving) for a charge: a Pix, a Mercado Pago payment, a PaymentIntent.

    ``psp_reference`` is the charge it paid (Pix ``txid``, Stripe session) when the PSP says so; ``reference`` is our
    order reference when the PSP echoes it (Mercado Pago ``external_reference``, Stripe metadata).
    """

    psp_payment_id: str
    amount: int
    status: PaymentStatus
    paid_at: datetime | None = None
    refunded_amount: int = 0
    refunds: tuple[Refund, ...] = ()
    psp_reference: str | None = None
    reference: str | None = None
    detail: str | None = None  # the PSP's reason, e.g. Mercado Pago ``cc_rejected_insufficient_amount``


@dataclass(frozen=True)
class Charge:
    """A charge as the PSP holds it now; ``payments`` lists every attempt or payment it received."""

    gateway: str
    psp_reference: str  # Pix txid, Mercado Pago preference id, Stripe Checkout Session id
    status: ChargeStatus
    amount: int
    currency: str = "BRL"
    expires_at: datetime | None = None
    pix_copy_paste: str | None = None
    pix_key: str | None = None
    payment_url: str | None = None
    reference: str | None = None
    payments: tuple[ReceivedPayment, ...] = ()

    @property
    def paid_amount(self) -> int:
        """What arrived and is still kept or was refunded later: the sum of the payments that succeeded."""
        return sum(p.amount for p in self.payments if p.status in (PaymentStatus.PAID, PaymentStatus.REFUNDED))


@dataclass(frozen=True)
class Notification:
    """What a PSP webhook names. Never trusted: the caller re-reads the named charges or payments from the PSP.

    ``event_id`` de-duplicates deliveries when the PSP gives one (Stripe event id, Mercado Pago notification id).
    """

    gateway: str
    topic: str  # "pix", "payment", "checkout.session.completed", ...
    psp_references: tuple[str, ...] = ()
    psp_payment_ids: tuple[str, ...] = ()
    event_id: str | None = None


# --- The protocol -----------------------------------------------------------------------------------------------------


@runtime_checkable
class Gateway(Protocol):
    """One PSP account of one workspace. Every method makes HTTP calls with explicit timeouts and raises only
    :class:`GatewayError` subclasses (and ``SignatureInvalid`` / :class:`NotificationMalformed` from
    ``parse_notification``)."""

    kind: str

    def create_charge(self, request: ChargeRequest) -> Charge: ...

    def get_charge(self, psp_reference: str) -> Charge: ...

    def cancel_charge(self, psp_reference: str) -> Charge: ...

    def get_payment(self, psp_payment_id: str) -> ReceivedPayment: ...

    def refund(self, *, psp_payment_id: str, amount: int, refund_id: str, reason: str = "") -> Refund: ...

    def get_refund(self, *, psp_payment_id: str, psp_refund_id: str) -> Refund: ...

    def parse_notification(
        self, *, headers: Mapping[str, str], query: Mapping[str, str], raw_body: bytes, now: float
    ) -> Notification: ...

    def close(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...
