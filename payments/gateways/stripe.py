"""Stripe Checkout for one workspace's account: Checkout Sessions as payment links, refunds by PaymentIntent and
signed events (payments CONTRACT §4). Stripe takes form-encoded bodies with bracketed keys and integer minor units.

Every ``POST`` carries an ``Idempotency-Key`` (our charge or refund id): Stripe replays the first answer to a retry.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import urlencode

import httpx

from payments import signatures
from payments.gateways.base import (
    Charge,
    ChargeRequest,
    ChargeStatus,
    Notification,
    NotificationMalformed,
    PaymentStatus,
    PermanentGatewayError,
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
from payments.gateways.wire import WireFormatError, from_epoch

KIND = "stripe"
DEFAULT_API_URL = "https://api.stripe.com"
# Stripe accepts expires_at from 30 minutes to 24 hours after the session's creation, by its own clock: keep a
# minute inside both ends so a slow request or a clock a little off is not refused.
MIN_EXPIRY = timedelta(minutes=30)
MAX_EXPIRY = timedelta(hours=24)
EXPIRY_MARGIN = timedelta(minutes=1)
# The PaymentIntent carries the order reference too, so events about it (refunds) lead back to the order.
REFERENCE_METADATA_KEY = "order_id"
# 409: the same idempotency key is still being processed; 429: rate limited.
TRANSIENT_STATUSES = (409, 429)

T = TypeVar("T")

_REFUND_STATUS = {
    "pending": RefundStatus.PROCESSING,
    "requires_action": RefundStatus.PROCESSING,
    "succeeded": RefundStatus.DONE,
    "failed": RefundStatus.FAILED,
    "canceled": RefundStatus.FAILED,
}


@dataclass(frozen=True)
class StripeConfig:
    secret_key: str = field(repr=False)
    webhook_secret: str = field(default="", repr=False)
    api_url: str = DEFAULT_API_URL
    api_version: str | None = None  # Stripe-Version, e.g. "2026-06-24.dahlia"; None: the account's default
    timeout: httpx.Timeout = field(default_factory=lambda: DEFAULT_TIMEOUT)
    payment_method_types: tuple[str, ...] = ("card",)
    webhook_tolerance_s: int = signatures.DEFAULT_TOLERANCE_SECONDS


def _utcnow() -> datetime:
    return datetime.now(UTC)


class StripeGateway(ClosingGateway):
    kind = KIND

    def __init__(
        self,
        config: StripeConfig,
        *,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.config = config
        self._clock = clock
        headers = {"Authorization": f"Bearer {config.secret_key}"}
        if config.api_version:
            headers["Stripe-Version"] = config.api_version
        self._http = HttpClient(
            gateway=KIND,
            base_url=config.api_url,
            error_parser=parse_error,
            timeout=config.timeout,
            headers=headers,
            transport=transport,
            transient_statuses=TRANSIENT_STATUSES,
        )

    def __repr__(self) -> str:
        return f"<StripeGateway {self.config.api_url}>"

    # --- Charges (Checkout Sessions) ----------------------------------------------------------------------------------

    def create_charge(self, request: ChargeRequest) -> Charge:
        response = self._post("/v1/checkout/sessions", self.session_form(request), idempotency_key=request.charge_id)
        return self._parsed(lambda: self._charge(mapping(self._http.json(response)), refunds=()))

    def session_form(self, request: ChargeRequest) -> list[tuple[str, str]]:
        """The form fields of the session, in the order of the contract's fixture."""
        currency = request.currency.lower()
        lines = [(item.name, item.unit_amount, item.quantity) for item in request.items] or [
            (request.description, request.amount, 1)
        ]
        form = [("mode", "payment")]
        for index, (name, unit_amount, quantity) in enumerate(lines):
            prefix = f"line_items[{index}]"
            form += [
                (f"{prefix}[price_data][currency]", currency),
                (f"{prefix}[price_data][unit_amount]", str(unit_amount)),
                (f"{prefix}[price_data][product_data][name]", name),
                (f"{prefix}[quantity]", str(quantity)),
            ]
        form += [(f"payment_method_types[{i}]", kind) for i, kind in enumerate(self.config.payment_method_types)]
        if request.success_url:
            form.append(("success_url", request.success_url))
        if request.failure_url:
            form.append(("cancel_url", request.failure_url))
        form.append(("client_reference_id", request.reference))
        form += [(f"metadata[{key}]", value) for key, value in request.metadata.items()]
        form.append((f"payment_intent_data[metadata][{REFERENCE_METADATA_KEY}]", request.reference))
        form.append(("expires_at", str(self._expires_at(request.expires_at))))
        return form

    def _expires_at(self, wanted: datetime) -> int:
        """``wanted`` moved into Stripe's window (30 minutes to 24 hours from now), as Unix seconds."""
        now = self._clock()
        earliest, latest = now + MIN_EXPIRY + EXPIRY_MARGIN, now + MAX_EXPIRY - EXPIRY_MARGIN
        return int(min(max(wanted, earliest), latest).timestamp())

    def get_charge(self, psp_reference: str) -> Charge:
        session = mapping(self._http.json(self._get(f"/v1/checkout/sessions/{segment(psp_reference, 'session id')}")))
        intent = session.get("payment_intent")
        refunds = self._refunds_of(intent) if isinstance(intent, str) and intent else ()
        return self._parsed(lambda: self._charge(session, refunds=refunds))

    def cancel_charge(self, psp_reference: str) -> Charge:
        """``POST …/expire``; returns the charge as it then is: ``CANCELED``, or ``PAID`` if the payer got in first."""
        path = f"/v1/checkout/sessions/{segment(psp_reference, 'session id')}/expire"
        try:
            response = self._post(path, [], idempotency_key=None)
        except PermanentGatewayError as error:
            if error.http_status != 400:
                raise
            charge = self.get_charge(psp_reference)
            if charge.status is ChargeStatus.ACTIVE:
                raise
            return charge
        charge = self._parsed(lambda: self._charge(mapping(self._http.json(response)), refunds=()))
        return replace(charge, status=ChargeStatus.CANCELED)

    def _charge(self, session: Mapping[str, Any], *, refunds: tuple[Refund, ...]) -> Charge:
        expires_at = from_epoch(session["expires_at"])
        state, paid = session["status"], session["payment_status"] in ("paid", "no_payment_required")
        if state == "complete" and paid:
            status = ChargeStatus.PAID
        elif state == "expired" or (state == "open" and self._clock() >= expires_at):
            status = ChargeStatus.EXPIRED
        else:
            status = ChargeStatus.ACTIVE  # open, or complete with an asynchronous payment still on its way
        intent = session.get("payment_intent")
        payments = (self._session_payment(session, intent, paid, refunds),) if isinstance(intent, str) else ()
        return Charge(
            gateway=KIND,
            psp_reference=str(session["id"]),
            status=status,
            amount=int(session["amount_total"]),
            currency=str(session["currency"]).upper(),
            expires_at=expires_at,
            payment_url=session.get("url"),
            reference=session.get("client_reference_id"),
            payments=payments,
        )

    @staticmethod
    def _session_payment(
        session: Mapping[str, Any], intent: str, paid: bool, refunds: tuple[Refund, ...]
    ) -> ReceivedPayment:
        amount = int(session["amount_total"])
        refunded = sum(refund.amount for refund in refunds if refund.status is RefundStatus.DONE)
        status = PaymentStatus.PENDING if not paid else PaymentStatus.PAID
        return ReceivedPayment(
            psp_payment_id=intent,
            amount=amount,
            status=PaymentStatus.REFUNDED if paid and refunded >= amount else status,
            refunded_amount=refunded,
            refunds=refunds,
            psp_reference=str(session["id"]),
            reference=session.get("client_reference_id"),
        )

    # --- Payments and refunds -----------------------------------------------------------------------------------------

    def get_payment(self, psp_payment_id: str) -> ReceivedPayment:
        intent = mapping(self._http.json(self._get(f"/v1/payment_intents/{segment(psp_payment_id, 'intent id')}")))
        refunds = self._refunds_of(psp_payment_id)
        return self._parsed(lambda: _intent_payment(intent, refunds))

    def refund(self, *, psp_payment_id: str, amount: int, refund_id: str, reason: str = "") -> Refund:
        form = [("payment_intent", psp_payment_id), ("amount", str(amount)), ("metadata[refund_id]", refund_id)]
        if reason:
            form.append(("metadata[reason]", reason))
        response = self._post("/v1/refunds", form, idempotency_key=refund_id)
        return self._parsed(lambda: _refund(self._http.json(response)))

    def get_refund(self, *, psp_payment_id: str, psp_refund_id: str) -> Refund:
        return self._parsed(lambda: _refund(self._http.json(self._get(f"/v1/refunds/{segment(psp_refund_id, 'id')}"))))

    def _refunds_of(self, intent: str) -> tuple[Refund, ...]:
        data = mapping(self._http.json(self._get("/v1/refunds", params={"payment_intent": intent, "limit": "100"})))
        return self._parsed(lambda: tuple(_refund(item) for item in data.get("data") or []))

    # --- Webhooks -----------------------------------------------------------------------------------------------------

    def parse_notification(
        self, *, headers: Mapping[str, str], query: Mapping[str, str], raw_body: bytes, now: float
    ) -> Notification:
        """Verify ``Stripe-Signature`` over the exact body, then name the session or PaymentIntent to re-read."""
        lower = {name.lower(): value for name, value in headers.items()}
        signatures.stripe_verify(
            secret=self.config.webhook_secret,
            header=lower.get(signatures.STRIPE_HEADER.lower()),
            payload=raw_body,
            now=now,
            tolerance_seconds=self.config.webhook_tolerance_s,
        )
        try:
            event = mapping(json.loads(raw_body))
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise NotificationMalformed("The body is not JSON.") from None
        target = mapping(mapping(event.get("data")).get("object"))
        kind, object_id = target.get("object"), target.get("id")
        intent = object_id if kind == "payment_intent" else target.get("payment_intent")
        return Notification(
            gateway=KIND,
            topic=str(event.get("type") or ""),
            psp_references=(object_id,) if kind == "checkout.session" and isinstance(object_id, str) else (),
            psp_payment_ids=(intent,) if isinstance(intent, str) and intent else (),
            event_id=event.get("id") if isinstance(event.get("id"), str) else None,
        )

    # --- Helpers ------------------------------------------------------------------------------------------------------

    def _post(self, path: str, form: list[tuple[str, str]], *, idempotency_key: str | None) -> httpx.Response:
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        return self._http.send("POST", path, content=urlencode(form).encode(), headers=headers, expected=(200,))

    def _get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self._http.send("GET", path, expected=(200,), **kwargs)

    def _parsed(self, build: Callable[[], T]) -> T:
        try:
            return build()
        except (KeyError, TypeError, ValueError, WireFormatError) as exc:
            raise self._http.unexpected(f"Stripe's answer breaks the contract: {exc!r}") from None


def _intent_payment(intent: Mapping[str, Any], refunds: tuple[Refund, ...]) -> ReceivedPayment:
    amount = int(intent["amount"])
    refunded = sum(refund.amount for refund in refunds if refund.status is RefundStatus.DONE)
    succeeded = intent["status"] == "succeeded"
    if succeeded:
        status = PaymentStatus.REFUNDED if refunded >= amount else PaymentStatus.PAID
    else:
        status = PaymentStatus.CANCELED if intent["status"] == "canceled" else PaymentStatus.PENDING
    metadata = mapping(intent.get("metadata"))
    return ReceivedPayment(
        psp_payment_id=str(intent["id"]),
        amount=amount,
        status=status,
        paid_at=from_epoch(intent["created"]) if succeeded else None,
        refunded_amount=refunded,
        refunds=refunds,
        reference=metadata.get(REFERENCE_METADATA_KEY),
    )


def _refund(refund: Any) -> Refund:
    refund = mapping(refund)
    metadata = mapping(refund.get("metadata"))
    return Refund(
        refund_id=metadata.get("refund_id"),
        psp_refund_id=str(refund["id"]),
        psp_payment_id=str(refund["payment_intent"]),
        amount=int(refund["amount"]),
        status=_REFUND_STATUS[refund["status"]],
        reason=refund.get("failure_reason") or metadata.get("reason"),
        requested_at=from_epoch(refund["created"]),
    )


def parse_error(response: httpx.Response) -> ErrorDetails:
    """``{"error": {"type", "code", "message", "param"}}``: the code (else the type) identifies it."""
    error = mapping(mapping(body_json(response)).get("error"))
    message = str(error.get("message") or f"HTTP {response.status_code}")
    code = error.get("code") or error.get("type")
    param = error.get("param")
    violations = (Violation(reason=message, property=str(param)),) if param else ()
    return ErrorDetails(message=message, code=str(code) if code else None, violations=violations)
