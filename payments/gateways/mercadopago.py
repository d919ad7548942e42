"""Mercado Pago Checkout Pro for one workspace's account: payment links (preferences), payments, refunds and signed
webhooks (payments CONTRACT §3), spoken with httpx rather than the SDK (DESIGN.md: httpx only in adapters).

A preference has no paid state of its own: one link may collect several attempts (rejected, then approved). The
charge's state is derived from the payments that carry its ``external_reference``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, tzinfo
from functools import partial
from typing import Any, TypeVar

import httpx

from payments import signatures
from payments.gateways.base import (
    Charge,
    ChargeRequest,
    ChargeStatus,
    Notification,
    NotificationMalformed,
    Payer,
    PaymentStatus,
    ReceivedPayment,
    Refund,
    RefundStatus,
    Violation,
)
from payments.gateways.http import (
    DEFAULT_TIMEOUT,
    ClosingGateway,
    ErrorDetails,
    HttpClient,
    body_json,
    mapping,
    segment,
)
from payments.gateways.wire import (
    BRASILIA,
    WireFormatError,
    iso_with_offset,
    parse_reais,
    parse_timestamp,
    reais_number,
)

KIND = "mercadopago"
DEFAULT_API_URL = "https://api.mercadopago.com"
SEARCH_PAGE = 100
# 423: the idempotency key is locked by a request still running; 429: rate limited (Retry-After).
TRANSIENT_STATUSES = (423, 429)

T = TypeVar("T")

_PAYMENT_STATUS = {
    "approved": PaymentStatus.PAID,
    "authorized": PaymentStatus.PENDING,
    "pending": PaymentStatus.PENDING,
    "in_process": PaymentStatus.PENDING,
    "rejected": PaymentStatus.REJECTED,
    "cancelled": PaymentStatus.CANCELED,
    "refunded": PaymentStatus.REFUNDED,
    "charged_back": PaymentStatus.DISPUTED,
    "in_mediation": PaymentStatus.DISPUTED,
}
_REFUND_STATUS = {
    "approved": RefundStatus.DONE,
    "pending": RefundStatus.PROCESSING,
    "in_process": RefundStatus.PROCESSING,
    "authorized": RefundStatus.PROCESSING,
    "rejected": RefundStatus.FAILED,
    "cancelled": RefundStatus.FAILED,
}
# Money that reached the merchant at some point: the charge was paid, whatever happened to the payment later.
_PAID = frozenset({PaymentStatus.PAID, PaymentStatus.REFUNDED, PaymentStatus.DISPUTED})


@dataclass(frozen=True)
class MercadoPagoConfig:
    """One workspace's Mercado Pago application: its access token, the webhook secret from the panel and how its
    links look (statement descriptor, payment types left out, installments)."""

    access_token: str = field(repr=False)
    webhook_secret: str = field(default="", repr=False)
    api_url: str = DEFAULT_API_URL
    timeout: httpx.Timeout = field(default_factory=lambda: DEFAULT_TIMEOUT)
    statement_descriptor: str | None = None
    binary_mode: bool = True
    excluded_payment_types: tuple[str, ...] = ("ticket",)
    installments: int = 1
    item_category_id: str | None = "services"
    time_zone: tzinfo = BRASILIA
    webhook_tolerance_s: int = signatures.DEFAULT_TOLERANCE_SECONDS


def _utcnow() -> datetime:
    return datetime.now(UTC)


class MercadoPagoGateway(ClosingGateway):
    kind = KIND

    def __init__(
        self,
        config: MercadoPagoConfig,
        *,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.config = config
        self._clock = clock
        self._http = HttpClient(
            gateway=KIND,
            base_url=config.api_url,
            error_parser=parse_error,
            timeout=config.timeout,
            headers={"Authorization": f"Bearer {config.access_token}", "Accept": "application/json"},
            transport=transport,
            transient_statuses=TRANSIENT_STATUSES,
        )

    def __repr__(self) -> str:
        return f"<MercadoPagoGateway {self.config.api_url}>"

    # --- Charges (preferences) ----------------------------------------------------------------------------------------

    def create_charge(self, request: ChargeRequest) -> Charge:
        """``POST /checkout/preferences``; ``charge_id`` is the idempotency key, so a retry returns the same link."""
        headers = {"X-Idempotency-Key": request.charge_id}
        body = self.preference_body(request)
        response = self._http.send("POST", "/checkout/preferences", json=body, headers=headers, expected=(200, 201))
        return self._parsed(lambda: self._charge(mapping(self._http.json(response)), payments=()))

    def preference_body(self, request: ChargeRequest) -> dict[str, Any]:
        """The preference for ``request``, in the field order of the contract's fixture."""
        config = self.config
        body: dict[str, Any] = {"items": self._items(request)}
        if request.payer is not None:
            body["payer"] = _payer(request.payer)
        back_urls = {
            name: url
            for name, url in (
                ("success", request.success_url),
                ("failure", request.failure_url),
                ("pending", request.pending_url),
            )
            if url
        }
        if back_urls:
            body["back_urls"] = back_urls
        if request.success_url:
            body["auto_return"] = "approved"
        body["payment_methods"] = {
            "excluded_payment_types": [{"id": kind} for kind in config.excluded_payment_types],
            "excluded_payment_methods": [],
            "installments": config.installments,
        }
        if request.notification_url:
            body["notification_url"] = request.notification_url
        body["external_reference"] = request.reference
        if config.statement_descriptor:
            body["statement_descriptor"] = config.statement_descriptor
        body["binary_mode"] = config.binary_mode
        body["expires"] = True
        body["expiration_date_from"] = iso_with_offset(self._clock(), config.time_zone)
        body["expiration_date_to"] = iso_with_offset(request.expires_at, config.time_zone)
        body["metadata"] = dict(request.metadata)
        return body

    def _items(self, request: ChargeRequest) -> list[dict[str, Any]]:
        if not request.items:
            return [self._item(request.reference, request.description, "", 1, request.amount, request.currency)]
        return [
            self._item(line.sku, line.name, line.description, line.quantity, line.unit_amount, request.currency)
            for line in request.items
        ]

    def _item(
        self, sku: str, title: str, description: str, quantity: int, amount: int, currency: str
    ) -> dict[str, Any]:
        item: dict[str, Any] = {"id": sku, "title": title}
        if description:
            item["description"] = description
        if self.config.item_category_id:
            item["category_id"] = self.config.item_category_id
        item |= {"quantity": quantity, "currency_id": currency, "unit_price": reais_number(amount)}
        return item

    def get_charge(self, psp_reference: str) -> Charge:
        """The preference and every payment carrying its ``external_reference``, newest first."""
        preference = mapping(self._http.json(self._get(f"/checkout/preferences/{segment(psp_reference, 'id')}")))
        reference = preference.get("external_reference")
        payments = tuple(self.search_payments(reference)) if isinstance(reference, str) and reference else ()
        return self._parsed(lambda: self._charge(preference, payments=payments))

    def cancel_charge(self, psp_reference: str) -> Charge:
        """Close the link by moving its expiry to now (a preference has no cancelled state).

        Returns the charge as it then is: ``CANCELED``, or ``PAID`` when a payment got in first.
        """
        now = iso_with_offset(self._clock(), self.config.time_zone)
        path = f"/checkout/preferences/{segment(psp_reference, 'id')}"
        self._http.send("PUT", path, json={"expires": True, "expiration_date_to": now}, expected=(200,))
        charge = self.get_charge(psp_reference)
        if charge.status is ChargeStatus.PAID:
            return charge
        return replace(charge, status=ChargeStatus.CANCELED)

    def _charge(self, preference: Mapping[str, Any], *, payments: tuple[ReceivedPayment, ...]) -> Charge:
        amount = sum(
            parse_reais(mapping(item)["unit_price"]) * int(mapping(item)["quantity"])
            for item in preference.get("items") or []
        )
        expires_at = parse_timestamp(preference["expiration_date_to"]) if preference.get("expires") else None
        if any(payment.status in _PAID for payment in payments):
            status = ChargeStatus.PAID
        elif expires_at is not None and self._clock() >= expires_at:
            status = ChargeStatus.EXPIRED
        else:
            status = ChargeStatus.ACTIVE
        items = preference.get("items") or []
        return Charge(
            gateway=KIND,
            psp_reference=str(preference["id"]),
            status=status,
            amount=amount,
            currency=str(mapping(items[0]).get("currency_id", "BRL")) if items else "BRL",
            expires_at=expires_at,
            payment_url=preference.get("init_point"),
            reference=preference.get("external_reference"),
            payments=payments,
        )

    # --- Payments and refunds -----------------------------------------------------------------------------------------

    def get_payment(self, psp_payment_id: str) -> ReceivedPayment:
        response = self._get(f"/v1/payments/{segment(psp_payment_id, 'payment id')}")
        return self._parsed(lambda: _payment(self._http.json(response)))

    def search_payments(self, reference: str) -> Iterator[ReceivedPayment]:
        """``GET /v1/payments/search?external_reference=…``, newest first, every page."""
        offset = 0
        while True:
            params = {
                "external_reference": reference,
                "sort": "date_created",
                "criteria": "desc",
                "limit": str(SEARCH_PAGE),
                "offset": str(offset),
            }
            data = mapping(self._http.json(self._get("/v1/payments/search", params=params)))
            results = data.get("results") or []
            yield from self._parsed(partial(_payments, results))
            offset += len(results)
            total = mapping(data.get("paging")).get("total", 0)
            if not results or not isinstance(total, int) or offset >= total:
                return

    def refund(self, *, psp_payment_id: str, amount: int, refund_id: str, reason: str = "") -> Refund:
        """``POST /v1/payments/{id}/refunds`` with ``refund_id`` as ``X-Idempotency-Key``: a retry replays the first
        answer instead of refunding twice. ``reason`` is not sent: Mercado Pago's refund has no such field."""
        path = f"/v1/payments/{segment(psp_payment_id, 'payment id')}/refunds"
        response = self._http.send(
            "POST",
            path,
            json={"amount": reais_number(amount)},
            headers={"X-Idempotency-Key": refund_id},
            expected=(200, 201),
        )
        return self._parsed(lambda: _refund(self._http.json(response), refund_id=refund_id))

    def get_refund(self, *, psp_payment_id: str, psp_refund_id: str) -> Refund:
        path = f"/v1/payments/{segment(psp_payment_id, 'payment id')}/refunds/{segment(psp_refund_id, 'refund id')}"
        return self._parsed(lambda: _refund(self._http.json(self._get(path)), refund_id=None))

    # --- Webhooks -----------------------------------------------------------------------------------------------------

    def parse_notification(
        self, *, headers: Mapping[str, str], query: Mapping[str, str], raw_body: bytes, now: float
    ) -> Notification:
        """Verify ``x-signature`` (over the query's ``data.id``, never the body's) and name the payment to re-read.

        Raises ``payments.signatures.SignatureInvalid`` unless authentic and fresh.
        """
        lower = {name.lower(): value for name, value in headers.items()}
        data_id = query.get("data.id") or None
        signatures.mercadopago_verify(
            secret=self.config.webhook_secret,
            header=lower.get(signatures.MERCADOPAGO_HEADER),
            request_id=lower.get("x-request-id"),
            data_id=data_id,
            now=now,
            tolerance_seconds=self.config.webhook_tolerance_s,
        )
        try:
            body = json.loads(raw_body) if raw_body.strip() else {}
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise NotificationMalformed("The body is not JSON.") from None
        body = mapping(body)
        topic = str(query.get("type") or body.get("type") or query.get("topic") or "")
        notification_id = body.get("id")
        return Notification(
            gateway=KIND,
            topic=topic,
            psp_payment_ids=(data_id,) if topic == "payment" and data_id else (),
            event_id=None if notification_id is None else str(notification_id),
        )

    # --- Helpers ------------------------------------------------------------------------------------------------------

    def _get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self._http.send("GET", path, expected=(200,), **kwargs)

    def _parsed(self, build: Callable[[], T]) -> T:
        try:
            return build()
        except (KeyError, TypeError, ValueError, IndexError, WireFormatError) as exc:
            raise self._http.unexpected(f"Mercado Pago's answer breaks the contract: {exc!r}") from None


def _payer(payer: Payer) -> dict[str, Any]:
    first, _, rest = payer.name.strip().partition(" ")
    data: dict[str, Any] = {"name": first}
    if rest:
        data["surname"] = rest.strip()
    if payer.email:
        data["email"] = payer.email
    if payer.tax_id:
        kind = "CPF" if len(payer.tax_id) == 11 else "CNPJ"
        data["identification"] = {"type": kind, "number": payer.tax_id}
    return data


def _payments(results: list[Any]) -> list[ReceivedPayment]:
    return [_payment(result) for result in results]


def _payment(payment: Any) -> ReceivedPayment:
    payment = mapping(payment)
    payment_id = str(payment["id"])
    approved = payment.get("date_approved")
    refunds = tuple(_refund(item, refund_id=None) for item in payment.get("refunds") or [])
    return ReceivedPayment(
        psp_payment_id=payment_id,
        amount=parse_reais(payment["transaction_amount"]),
        status=_PAYMENT_STATUS[payment["status"]],
        paid_at=parse_timestamp(approved) if approved else None,
        refunded_amount=parse_reais(payment.get("transaction_amount_refunded") or 0),
        refunds=refunds,
        reference=payment.get("external_reference"),
        detail=payment.get("status_detail"),
    )


def _refund(refund: Any, *, refund_id: str | None) -> Refund:
    refund = mapping(refund)
    created = refund.get("date_created")
    return Refund(
        refund_id=refund_id,
        psp_refund_id=str(refund["id"]),
        psp_payment_id=str(refund["payment_id"]),
        amount=parse_reais(refund["amount"]),
        status=_REFUND_STATUS[refund["status"]],
        reason=refund.get("reason"),
        requested_at=parse_timestamp(created) if created else None,
    )


def parse_error(response: httpx.Response) -> ErrorDetails:
    """``{"message", "error", "status", "cause": [{"code", "description", "data"}]}``; the first cause is the code."""
    body = mapping(body_json(response))
    causes = tuple(
        Violation(reason=str(cause.get("description") or ""), code=str(cause.get("code")))
        for cause in body.get("cause") or []
        if isinstance(cause, Mapping) and cause.get("code") is not None
    )
    message = body.get("message") or body.get("error") or f"HTTP {response.status_code}"
    code = causes[0].code if causes else (str(body["error"]) if body.get("error") else None)
    return ErrorDetails(message=str(message), code=code, violations=causes)
