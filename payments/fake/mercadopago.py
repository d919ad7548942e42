"""The fake Mercado Pago (CONTRACT §3 and §7 "Fake Mercado Pago"): Checkout Pro preferences whose ``init_point`` is
the fake's own checkout page, payments made there, their search, idempotent refunds and signed webhooks.

Mounted under ``/mercadopago`` (so the adapter's base URL is ``<fake>/mercadopago``). Amounts are JSON numbers in
reais, read as ``Decimal`` and never as floats.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeGuard
from urllib.parse import urlencode, urlsplit

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from payments import signatures
from payments.fake.delivery import Dispatcher
from payments.fake.idempotency import Answer, KeyReused, fingerprint, idempotent
from payments.fake.state import FakePspState, MercadoPagoAccount, public
from payments.fake.wire import compact_json, mp_time, parse_time

PREFIX = "/mercadopago"
IDEMPOTENCY_HEADER = "x-idempotency-key"
IDEMPOTENCY_KEY_LIMIT = 64
SEARCH_LIMIT_DEFAULT = 30
SEARCH_LIMIT_MAX = 1000
MONEY_RELEASE_DAYS = 30
RESULTS = {
    "approved": ("approved", "accredited"),
    "rejected": ("rejected", "cc_rejected_insufficient_amount"),
    "pending": ("pending", "pending_contingency"),
}
CENT = Decimal("0.01")
FIRST_PAYMENT_ID = 123_456_789_000
FIRST_REFUND_ID = 1_091_618_000


class MpError(Exception):
    """An error answered in Mercado Pago's shape: ``{"message", "error", "status", "cause": [...]}``."""

    def __init__(self, status: int, error: str, message: str, code: str | int | None = None) -> None:
        super().__init__(message)
        self.status, self.error, self.message, self.code = status, error, message, code

    def body(self) -> dict[str, Any]:
        cause = [] if self.code is None else [{"code": self.code, "description": self.message, "data": None}]
        return {"message": self.message, "error": self.error, "status": self.status, "cause": cause}

    def response(self) -> Response:
        return Response(compact_json(self.body()), status_code=self.status, media_type="application/json")


class CheckoutRefused(Exception):
    """The checkout page cannot take a payment on this link (expired, not yet valid, unknown)."""


def _money(value: Decimal) -> Decimal:
    return value.quantize(CENT)


def _is_number(value: Any) -> TypeGuard[int | Decimal]:
    return isinstance(value, int | Decimal) and not isinstance(value, bool)


class MercadoPagoEngine:
    def __init__(self, state: FakePspState, dispatcher: Dispatcher) -> None:
        self.state = state
        self.dispatcher = dispatcher

    def account(self, authorization: str | None) -> MercadoPagoAccount:
        scheme, _, token = (authorization or "").partition(" ")
        with self.state.lock:
            account = self.state.mercadopago.accounts.get(token.strip()) if scheme.lower() == "bearer" else None
        if account is None:
            raise MpError(401, "unauthorized", "invalid access token")
        return account

    # --- Preferences ------------------------------------------------------------------------------------------------

    def create_preference(self, account: MercadoPagoAccount, body: Any, base_url: str) -> dict[str, Any]:
        _check_preference(body)
        now = self.state.now()
        pref_id = f"{account.collector_id}-{uuid.uuid4()}"
        link = f"{base_url.rstrip('/')}{PREFIX}/checkout/v1/redirect?pref_id={pref_id}"
        preference = dict(body)
        methods = body.get("payment_methods")
        if isinstance(methods, dict):
            defaults = {name: None for name in ("default_installments", "default_payment_method_id")}
            preference["payment_methods"] = {**methods, **{k: v for k, v in defaults.items() if k not in methods}}
        preference |= {
            "id": pref_id,
            "init_point": link,
            "sandbox_init_point": link.replace("/checkout/", "/sandbox/checkout/", 1),
            "collector_id": account.collector_id,
            "client_id": account.client_id,
            "operation_type": "regular_payment",
            "marketplace": "NONE",
            "marketplace_fee": 0,
            "date_created": mp_time(now),
            "last_updated": None,
            "date_of_expiration": None,
            "additional_info": "",
            "shipments": {"mode": "not_specified"},
            "_account": account.access_token,
        }
        with self.state.lock:
            self.state.mercadopago.preferences[pref_id] = preference
        return public(preference)

    def preference(self, account: MercadoPagoAccount | None, pref_id: str) -> dict[str, Any]:
        with self.state.lock:
            preference = self.state.mercadopago.preferences.get(pref_id)
        if preference is None or (account is not None and preference["_account"] != account.access_token):
            raise MpError(404, "not_found", "Preference not found", "not_found")
        return preference

    def update_preference(self, account: MercadoPagoAccount, pref_id: str, body: Any) -> dict[str, Any]:
        preference = self.preference(account, pref_id)
        if not isinstance(body, dict):
            raise MpError(400, "bad_request", "The body must be a JSON object.", "invalid_body")
        for name in ("expiration_date_from", "expiration_date_to"):
            if name in body and parse_time(body[name]) is None:
                raise MpError(400, "bad_request", f"{name} is not a date", f"invalid_{name}")
        with self.state.lock:
            preference |= {key: value for key, value in body.items() if key not in ("id", "init_point")}
            preference["last_updated"] = mp_time(self.state.now())
        return public(preference)

    # --- Checkout (the payer) ---------------------------------------------------------------------------------------

    def checkout(self, pref_id: str, result: str, payer_email: str = "cliente@example.com") -> dict[str, Any]:
        """The payer submits the checkout form: one attempt, one new payment, one ``payment.created`` webhook."""
        if result not in RESULTS:
            raise CheckoutRefused(f"result must be one of {', '.join(RESULTS)}")
        with self.state.lock:
            preference = self.state.mercadopago.preferences.get(pref_id)
            if preference is None:
                raise CheckoutRefused("No such payment link.")
            self.check_open(preference)
            payment = self._payment(preference, *RESULTS[result], payer_email=payer_email)
            self.state.mercadopago.payments[str(payment["id"])] = payment
        self.notify(payment, "payment.created")
        return public(payment)

    def check_open(self, preference: dict[str, Any]) -> None:
        if not preference.get("expires"):
            return
        now = self.state.now()
        start, end = (parse_time(preference.get(k) or "") for k in ("expiration_date_from", "expiration_date_to"))
        if start is not None and now < start:
            raise CheckoutRefused("This payment link is not valid yet.")
        if end is not None and now >= end:
            raise CheckoutRefused("This payment link has expired.")

    def _payment(self, preference: dict[str, Any], status: str, detail: str, *, payer_email: str) -> dict[str, Any]:
        now = self.state.now()
        items = preference["items"]
        amount = _money(sum((Decimal(item["unit_price"]) * item["quantity"] for item in items), Decimal(0)))
        approved = status == "approved"
        fee = _money(amount * Decimal(self.state.settings.mp_fee_percent) / 100)
        identification = (preference.get("payer") or {}).get("identification")
        return {
            # 12 digits like real ids, increasing so that payments made in the same instant still sort by age.
            "id": FIRST_PAYMENT_ID + self.state.next_id(),
            "date_created": mp_time(now),
            "date_approved": mp_time(now) if approved else None,
            "date_last_updated": mp_time(now),
            "date_of_expiration": None,
            "money_release_date": mp_time(now + MONEY_RELEASE_DAYS * 86400) if approved else None,
            "operation_type": "regular_payment",
            "issuer_id": "24",
            "payment_method_id": "master",
            "payment_type_id": "credit_card",
            "status": status,
            "status_detail": detail,
            "currency_id": items[0].get("currency_id", "BRL"),
            "description": items[0]["title"],
            "transaction_amount": amount,
            "transaction_amount_refunded": _money(Decimal(0)),
            "coupon_amount": _money(Decimal(0)),
            "captured": approved,
            "binary_mode": bool(preference.get("binary_mode")),
            "installments": 1,
            "statement_descriptor": preference.get("statement_descriptor"),
            "external_reference": preference.get("external_reference"),
            "notification_url": preference.get("notification_url"),
            "order": {"id": str(self.state.next_id() + 9876543209), "type": "mercadopago"},
            "payer": {"id": "123456789", "email": payer_email, "identification": identification, "type": None},
            "metadata": dict(preference.get("metadata") or {}),
            "transaction_details": {
                "net_received_amount": amount - fee if approved else _money(Decimal(0)),
                "total_paid_amount": amount,
                "overpaid_amount": _money(Decimal(0)),
                "installment_amount": amount,
            },
            "card": {
                "first_six_digits": "503143",
                "last_four_digits": "6351",
                "expiration_month": 11,
                "expiration_year": 2030,
                "cardholder": {"name": "APRO" if approved else "FUND"},
            },
            "refunds": [],
            "_account": preference["_account"],
        }

    def set_status(self, payment_id: str, status: str, detail: str | None) -> dict[str, Any]:
        """A pending payment settles (approved, rejected, cancelled...): ``payment.updated``."""
        with self.state.lock:
            payment = self.state.mercadopago.payments.get(payment_id)
            if payment is None:
                raise CheckoutRefused("No such payment.")
            now = mp_time(self.state.now())
            payment |= {"status": status, "status_detail": detail or status, "date_last_updated": now}
            if status == "approved":
                payment |= {"date_approved": now, "captured": True}
        self.notify(payment, "payment.updated")
        return public(payment)

    # --- Payments and refunds ---------------------------------------------------------------------------------------

    def payment(self, account: MercadoPagoAccount, payment_id: str) -> dict[str, Any]:
        with self.state.lock:
            payment = self.state.mercadopago.payments.get(payment_id)
        if payment is None or payment["_account"] != account.access_token:
            raise MpError(404, "not_found", "Payment not found", 2000)
        return payment

    def search(self, account: MercadoPagoAccount, query: dict[str, str]) -> dict[str, Any]:
        limit, offset = _int_param(query, "limit", SEARCH_LIMIT_DEFAULT), _int_param(query, "offset", 0)
        if not 1 <= limit <= SEARCH_LIMIT_MAX or offset < 0:
            raise MpError(400, "bad_request", "Invalid paging parameters", "invalid_paging")
        with self.state.lock:
            found = [
                public(p)
                for p in self.state.mercadopago.payments.values()
                if p["_account"] == account.access_token
                and all(str(p.get(name)) == query[name] for name in ("external_reference", "status") if name in query)
            ]
        found.sort(key=lambda p: (p["date_created"], p["id"]), reverse=query.get("criteria", "desc") == "desc")
        return {"paging": {"total": len(found), "limit": limit, "offset": offset}, "results": found[offset:][:limit]}

    def refund(self, account: MercadoPagoAccount, payment_id: str, body: Any) -> dict[str, Any]:
        payment = self.payment(account, payment_id)
        with self.state.lock:
            amount = self._refund_amount(payment, body)
            now = self.state.now()
            refund = {
                "id": FIRST_REFUND_ID + self.state.next_id(),
                "payment_id": payment["id"],
                "amount": amount,
                "metadata": {},
                "source": {"id": str(account.collector_id), "name": account.name, "type": "collector"},
                "date_created": mp_time(now),
                "unique_sequence_number": None,
                "refund_mode": "standard",
                "adjustment_amount": 0,
                "status": "approved",
                "reason": None,
                "labels": [],
            }
            refunded = payment["transaction_amount_refunded"] + amount
            full = refunded == payment["transaction_amount"]
            payment |= {
                "transaction_amount_refunded": refunded,
                "status": "refunded" if full else "approved",
                "status_detail": "refunded" if full else "partially_refunded",
                "date_last_updated": mp_time(now),
            }
            payment["refunds"].append(refund)
        self.notify(payment, "payment.updated")
        return refund

    @staticmethod
    def _refund_amount(payment: dict[str, Any], body: Any) -> Decimal:
        if body is not None and not isinstance(body, dict):
            raise MpError(400, "bad_request", "The body must be a JSON object.", "invalid_body")
        if payment["status"] == "refunded":
            raise MpError(400, "bad_request", "Payment already refunded", 4296)
        if payment["status"] != "approved":
            raise MpError(400, "bad_request", "The payment's status does not allow a refund", 2063)
        remaining = payment["transaction_amount"] - payment["transaction_amount_refunded"]
        if not body or "amount" not in body:
            return _money(remaining)
        amount = body["amount"]
        if not _is_number(amount):
            raise MpError(400, "bad_request", "The amount must be a number", 4041)
        if amount <= 0 or Decimal(amount) != _money(Decimal(amount)):
            raise MpError(400, "bad_request", "The amount must be a positive number of centavos", 4040)
        if amount > remaining:
            raise MpError(
                400, "bad_request", "The refund amount exceeds the available balance", "refund_amount_exceeds"
            )
        return _money(Decimal(amount))

    def refunds(self, account: MercadoPagoAccount, payment_id: str) -> list[dict[str, Any]]:
        return list(self.payment(account, payment_id)["refunds"])

    def refund_of(self, account: MercadoPagoAccount, payment_id: str, refund_id: str) -> dict[str, Any]:
        for refund in self.refunds(account, payment_id):
            if str(refund["id"]) == refund_id:
                return refund
        raise MpError(404, "not_found", "Refund not found", "not_found")

    # --- Webhooks ---------------------------------------------------------------------------------------------------

    def notify(self, payment: dict[str, Any], action: str) -> None:
        """``POST <url>?data.id=…&type=payment`` signed with the account's secret, to the link's ``notification_url``
        or else the account's panel URL."""
        with self.state.lock:
            account = self.state.mercadopago.accounts.get(payment["_account"])
            url = payment.get("notification_url") or (account.webhook_url if account else None)
            if account is None or not url:
                return
            payment_id = str(payment["id"])
            body = {
                "action": action,
                "api_version": "v1",
                "data": {"id": payment_id},
                "date_created": datetime.fromtimestamp(self.state.now(), UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "id": self.state.next_id() + 117832495820,
                "live_mode": False,
                "type": "payment",
                "user_id": account.collector_id,
            }
            target = (
                f"{url}{'&' if urlsplit(url).query else '?'}{urlencode({'data.id': payment_id, 'type': 'payment'})}"
            )
            secret = account.webhook_secret

        def sign(_body: bytes) -> dict[str, str]:
            request_id = str(uuid.uuid4())
            header = signatures.mercadopago_sign(
                secret=secret, request_id=request_id, data_id=payment_id, ts=int(self.state.now())
            )
            return {"x-signature": header, "x-request-id": request_id}

        self.dispatcher.send("mercadopago", target, compact_json(body), {"Content-Type": "application/json"}, sign)


def _check_preference(body: Any) -> None:
    if not isinstance(body, dict):
        raise MpError(400, "bad_request", "The body must be a JSON object.", "invalid_body")
    items = body.get("items")
    if not isinstance(items, list) or not items or not all(_item_ok(item) for item in items):
        raise MpError(
            400, "bad_request", "items invalid: each needs a title, a quantity and a unit_price", "invalid_items"
        )
    if body.get("auto_return") and not (body.get("back_urls") or {}).get("success"):
        message = "auto_return invalid. back_url.success must be defined"
        raise MpError(400, "bad_request", message, "invalid_auto_return")
    for name in ("expiration_date_from", "expiration_date_to"):
        if name in body and parse_time(body[name]) is None:
            raise MpError(400, "bad_request", f"{name} is not a date", f"invalid_{name}")
    url = body.get("notification_url")
    if url is not None and (not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https")):
        raise MpError(400, "bad_request", "notification_url must be a URL", "invalid_notification_url")


def _item_ok(item: Any) -> bool:
    if not isinstance(item, dict):
        return False
    quantity, price = item.get("quantity"), item.get("unit_price")
    return (
        isinstance(item.get("title"), str)
        and bool(item["title"])
        and isinstance(quantity, int)
        and not isinstance(quantity, bool)
        and quantity >= 1
        and _is_number(price)
        and Decimal(price) > 0
        and item.get("currency_id", "BRL") == "BRL"
    )


def _int_param(query: dict[str, str], name: str, default: int) -> int:
    value = query.get(name)
    if value is None:
        return default
    if not value.lstrip("-").isdigit():
        raise MpError(400, "bad_request", f"{name} must be an integer", f"invalid_{name}")
    return int(value)


# --- HTTP -------------------------------------------------------------------------------------------------------------


def engine_of(request: Request) -> MercadoPagoEngine:
    return request.app.state.mercadopago


def mp_json(data: Any, status_code: int = 200) -> Response:
    return Response(compact_json(public(data)), status_code=status_code, media_type="application/json")


async def body_of(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        return None
    try:
        return json.loads(raw, parse_float=Decimal)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise MpError(400, "bad_request", "The body is not valid JSON.", "invalid_json") from None


Handler = Callable[[Request, MercadoPagoEngine, MercadoPagoAccount], Awaitable[Response]]


def api(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        engine = engine_of(request)
        try:
            return await handler(request, engine, engine.account(request.headers.get("authorization")))
        except MpError as error:
            return error.response()

    return endpoint


async def with_idempotency(
    request: Request, account: MercadoPagoAccount, body: Any, *, required: bool, run: Callable[[], Answer]
) -> Response:
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if not key:
        if required:
            raise MpError(400, "bad_request", "Header X-Idempotency-Key can't be null", 4292)
        answer = run()
    else:
        if len(key) > IDEMPOTENCY_KEY_LIMIT:
            raise MpError(400, "bad_request", "X-Idempotency-Key is too long", "invalid_idempotency_key")
        request_print = fingerprint(request.method, request.url.path, body)
        try:
            answer = idempotent(
                engine_of(request).state,
                provider="mercadopago",
                account=account.access_token,
                key=key,
                request=request_print,
                run=run,
            )
        except KeyReused:
            message = "The idempotency key was already used with a different request"
            raise MpError(409, "conflict", message, "idempotency_key_already_used") from None
    return Response(answer.body, status_code=answer.status, media_type=answer.media_type)


async def preference_create(request: Request, engine: MercadoPagoEngine, account: MercadoPagoAccount) -> Response:
    body = await body_of(request)
    base_url = engine.state.settings.public_base_url or str(request.base_url)

    def run() -> Answer:
        return Answer(201, compact_json(engine.create_preference(account, body, base_url)))

    return await with_idempotency(request, account, body, required=False, run=run)


async def preference_get(request: Request, engine: MercadoPagoEngine, account: MercadoPagoAccount) -> Response:
    return mp_json(engine.preference(account, request.path_params["pref_id"]))


async def preference_put(request: Request, engine: MercadoPagoEngine, account: MercadoPagoAccount) -> Response:
    body = await body_of(request)
    return mp_json(engine.update_preference(account, request.path_params["pref_id"], body))


async def payment_get(request: Request, engine: MercadoPagoEngine, account: MercadoPagoAccount) -> Response:
    return mp_json(engine.payment(account, request.path_params["payment_id"]))


async def payment_search(request: Request, engine: MercadoPagoEngine, account: MercadoPagoAccount) -> Response:
    return mp_json(engine.search(account, dict(request.query_params)))


async def refund_create(request: Request, engine: MercadoPagoEngine, account: MercadoPagoAccount) -> Response:
    body = await body_of(request)
    payment_id = request.path_params["payment_id"]
    engine.payment(account, payment_id)  # 404 before the idempotency header is looked at

    def run() -> Answer:
        return Answer(201, compact_json(engine.refund(account, payment_id, body)))

    return await with_idempotency(request, account, body, required=True, run=run)


async def refund_list(request: Request, engine: MercadoPagoEngine, account: MercadoPagoAccount) -> Response:
    return Response(
        compact_json(engine.refunds(account, request.path_params["payment_id"])), media_type="application/json"
    )


async def refund_get(request: Request, engine: MercadoPagoEngine, account: MercadoPagoAccount) -> Response:
    path = request.path_params
    return mp_json(engine.refund_of(account, path["payment_id"], path["refund_id"]))


def routes(prefix: str = PREFIX) -> list[Route]:
    return [
        Route(f"{prefix}/checkout/preferences", api(preference_create), methods=["POST"]),
        Route(f"{prefix}/checkout/preferences/{{pref_id}}", api(preference_get), methods=["GET"]),
        Route(f"{prefix}/checkout/preferences/{{pref_id}}", api(preference_put), methods=["PUT"]),
        Route(f"{prefix}/v1/payments/search", api(payment_search), methods=["GET"]),
        Route(f"{prefix}/v1/payments/{{payment_id}}", api(payment_get), methods=["GET"]),
        Route(f"{prefix}/v1/payments/{{payment_id}}/refunds", api(refund_create), methods=["POST"]),
        Route(f"{prefix}/v1/payments/{{payment_id}}/refunds", api(refund_list), methods=["GET"]),
        Route(f"{prefix}/v1/payments/{{payment_id}}/refunds/{{refund_id}}", api(refund_get), methods=["GET"]),
    ]
