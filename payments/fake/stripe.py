"""A small fake Stripe (CONTRACT §4, §7 "Fake Stripe"): Checkout Sessions from form-encoded bracket parameters,
``Idempotency-Key`` replay, expiry (by the fake clock or ``…/expire``), PaymentIntents once paid, refunds and signed
events. Mounted under ``/stripe`` (the adapter's base URL is ``<fake>/stripe``).
"""

from __future__ import annotations

import base64
import binascii
import secrets
import string
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from payments import signatures
from payments.fake.delivery import Dispatcher
from payments.fake.idempotency import Answer, KeyReused, fingerprint, idempotent
from payments.fake.state import FakePspState, StripeAccount, public
from payments.fake.wire import compact_json

PREFIX = "/stripe"
API_VERSION = "2026-06-24.dahlia"
MIN_EXPIRY_S = 1800
MAX_EXPIRY_S = 86400
IDEMPOTENCY_KEY_LIMIT = 255
_ALNUM = string.ascii_letters + string.digits


class StripeError(Exception):
    """``{"error": {"type", "code"?, "message", "param"?}}`` with its HTTP status."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        kind: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.kind, self.code, self.param = status, message, kind, code, param

    def response(self) -> Response:
        error: dict[str, Any] = {"type": self.kind, "message": self.message}
        if self.code:
            error["code"] = self.code
        if self.param:
            error["param"] = self.param
        return Response(compact_json({"error": error}), status_code=self.status, media_type="application/json")


def new_id(prefix: str, length: int = 24) -> str:
    return prefix + "".join(secrets.choice(_ALNUM) for _ in range(length))


def parse_form(raw: bytes) -> dict[str, Any]:
    """``a[b][0][c]=1`` -> ``{"a": {"b": [{"c": "1"}]}}``: Stripe's bracket notation, lists from numeric keys."""
    root: dict[str, Any] = {}
    for key, value in parse_qsl(raw.decode(), keep_blank_values=True):
        parts = key.replace("]", "").split("[")
        node = root
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise StripeError(400, f"Invalid parameter: {key}", param=key)
        node[parts[-1]] = value
    return _lists(root)


def _lists(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    converted = {key: _lists(value) for key, value in node.items()}
    if converted and all(key.isdigit() for key in converted):
        return [converted[key] for key in sorted(converted, key=int)]
    return converted


def _positive_int(value: Any, param: str, *, minimum: int = 1) -> int:
    if not isinstance(value, str) or not value.isdigit() or int(value) < minimum:
        raise StripeError(400, f"Invalid integer: {value}", param=param)
    return int(value)


class StripeEngine:
    def __init__(self, state: FakePspState, dispatcher: Dispatcher) -> None:
        self.state = state
        self.dispatcher = dispatcher

    def account(self, authorization: str | None) -> StripeAccount:
        scheme, _, value = (authorization or "").partition(" ")
        key = value.strip()
        if scheme.lower() == "basic":
            try:
                key = base64.b64decode(key).decode().partition(":")[0]
            except (binascii.Error, UnicodeDecodeError):
                key = ""
        with self.state.lock:
            account = self.state.stripe.accounts.get(key) if scheme.lower() in ("bearer", "basic") else None
        if account is None:
            raise StripeError(401, f"Invalid API Key provided: {'*' * 8}{key[-4:]}")
        return account

    # --- Checkout Sessions ------------------------------------------------------------------------------------------

    def create_session(self, account: StripeAccount, params: dict[str, Any], base_url: str) -> dict[str, Any]:
        if params.get("mode") != "payment":
            raise StripeError(400, "This fake only supports mode=payment.", param="mode")
        lines = params.get("line_items")
        if not isinstance(lines, list) or not lines:
            raise StripeError(400, "line_items is required in payment mode.", param="line_items")
        currency, total = self._lines(lines)
        now = int(self.state.now())
        expires_at = _positive_int(params.get("expires_at", str(now + MAX_EXPIRY_S)), "expires_at")
        if not now + MIN_EXPIRY_S <= expires_at <= now + MAX_EXPIRY_S:
            message = "The `expires_at` timestamp must be between 30 minutes and 24 hours from session creation."
            raise StripeError(400, message, param="expires_at")
        session_id = new_id("cs_test_", 54)
        session = {
            "id": session_id,
            "object": "checkout.session",
            "amount_subtotal": total,
            "amount_total": total,
            "cancel_url": params.get("cancel_url"),
            "client_reference_id": params.get("client_reference_id"),
            "created": now,
            "currency": currency,
            "customer": None,
            "customer_email": params.get("customer_email"),
            "expires_at": expires_at,
            "livemode": False,
            "metadata": dict(params.get("metadata") or {}),
            "mode": "payment",
            "payment_intent": None,
            "payment_link": None,
            "payment_method_types": list(params.get("payment_method_types") or ["card"]),
            "payment_status": "unpaid",
            "status": "open",
            "success_url": params.get("success_url"),
            "url": f"{base_url.rstrip('/')}{PREFIX}/c/pay/{session_id}",
            "_account": account.secret_key,
            "_intent_metadata": dict((params.get("payment_intent_data") or {}).get("metadata") or {}),
        }
        with self.state.lock:
            self.state.stripe.sessions[session_id] = session
        return public(session)

    @staticmethod
    def _lines(lines: list[Any]) -> tuple[str, int]:
        currencies, total = set(), 0
        for index, line in enumerate(lines):
            price = line.get("price_data") if isinstance(line, dict) else None
            name = (price or {}).get("product_data", {}).get("name") if isinstance(price, dict) else None
            if not isinstance(price, dict) or not name:
                message = "Each line item needs price_data with a product name."
                raise StripeError(400, message, param=f"line_items[{index}]")
            param = f"line_items[{index}][price_data][unit_amount]"
            total += _positive_int(price.get("unit_amount"), param, minimum=0) * _positive_int(
                line.get("quantity"), f"line_items[{index}][quantity]"
            )
            currencies.add(str(price.get("currency", "")).lower())
        if len(currencies) != 1 or len(next(iter(currencies))) != 3:
            raise StripeError(400, "All line items need one three-letter currency.", param="line_items")
        return currencies.pop(), total

    def session(self, account: StripeAccount | None, session_id: str) -> dict[str, Any]:
        """The session, expired first if the fake clock has passed ``expires_at`` (``checkout.session.expired``)."""
        with self.state.lock:
            session = self.state.stripe.sessions.get(session_id)
            if session is None or (account is not None and session["_account"] != account.secret_key):
                message = f"No such checkout.session: '{session_id}'"
                raise StripeError(404, message, code="resource_missing", param="id")
            lapsed = session["status"] == "open" and self.state.now() >= session["expires_at"]
        if lapsed:
            self._expire(session)
        return session

    def expire(self, account: StripeAccount | None, session_id: str) -> dict[str, Any]:
        session = self.session(account, session_id)
        if session["status"] != "open":
            message = (
                'Only Checkout Sessions with a status in ["open"] can be expired. This Checkout Session has a status '
                f'of "{session["status"]}".'
            )
            raise StripeError(400, message)
        self._expire(session)
        return public(session)

    def _expire(self, session: dict[str, Any]) -> None:
        with self.state.lock:
            if session["status"] != "open":
                return
            session |= {"status": "expired", "url": None}
        self.emit(session["_account"], "checkout.session.expired", public(session))

    def complete(self, session_id: str, *, email: str, name: str) -> dict[str, Any]:
        """The payer pays on the checkout page: a succeeded PaymentIntent and ``checkout.session.completed``."""
        session = self.session(None, session_id)
        with self.state.lock:
            if session["status"] != "open":
                raise StripeError(400, f"The Checkout Session is {session['status']}.")
            intent = {
                "id": new_id("pi_"),
                "object": "payment_intent",
                "amount": session["amount_total"],
                "amount_received": session["amount_total"],
                "currency": session["currency"],
                "created": int(self.state.now()),
                "latest_charge": new_id("ch_"),
                "metadata": dict(session["_intent_metadata"]),
                "status": "succeeded",
                "_account": session["_account"],
            }
            self.state.stripe.intents[intent["id"]] = intent
            session |= {
                "payment_intent": intent["id"],
                "payment_status": "paid",
                "status": "complete",
                "url": None,
                "customer_details": {"email": email, "name": name},
            }
        self.emit(session["_account"], "checkout.session.completed", public(session))
        return public(session)

    # --- PaymentIntents and refunds ---------------------------------------------------------------------------------

    def intent(self, account: StripeAccount, intent_id: str) -> dict[str, Any]:
        with self.state.lock:
            intent = self.state.stripe.intents.get(intent_id)
        if intent is None or intent["_account"] != account.secret_key:
            raise StripeError(404, f"No such payment_intent: '{intent_id}'", code="resource_missing", param="intent")
        return intent

    def refund(self, account: StripeAccount, params: dict[str, Any]) -> dict[str, Any]:
        intent_id = params.get("payment_intent")
        if not isinstance(intent_id, str):
            raise StripeError(400, "Specify payment_intent.", param="payment_intent")
        intent = self.intent(account, intent_id)
        with self.state.lock:
            refunded = sum(r["amount"] for r in self.state.stripe.refunds.values() if r["payment_intent"] == intent_id)
            remaining = intent["amount"] - refunded
            if remaining <= 0:
                message = f"Charge {intent['latest_charge']} has already been refunded."
                raise StripeError(400, message, code="charge_already_refunded")
            amount = _positive_int(params.get("amount", str(remaining)), "amount")
            if amount > remaining:
                message = f"Refund amount ({amount}) is greater than unrefunded amount on charge ({remaining})"
                raise StripeError(400, message, code="amount_too_large", param="amount")
            refund = {
                "id": new_id("re_"),
                "object": "refund",
                "amount": amount,
                "charge": intent["latest_charge"],
                "created": int(self.state.now()),
                "currency": intent["currency"],
                "metadata": dict(params.get("metadata") or {}),
                "payment_intent": intent_id,
                "reason": params.get("reason"),
                "status": "succeeded",
                "_account": account.secret_key,
            }
            self.state.stripe.refunds[refund["id"]] = refund
        self.emit(account.secret_key, "refund.created", public(refund))
        return public(refund)

    def refund_of(self, account: StripeAccount, refund_id: str) -> dict[str, Any]:
        with self.state.lock:
            refund = self.state.stripe.refunds.get(refund_id)
        if refund is None or refund["_account"] != account.secret_key:
            raise StripeError(404, f"No such refund: '{refund_id}'", code="resource_missing", param="id")
        return public(refund)

    def refunds(self, account: StripeAccount, query: dict[str, str]) -> dict[str, Any]:
        limit = _positive_int(query.get("limit", "10"), "limit")
        with self.state.lock:
            found = [
                public(r)
                for r in self.state.stripe.refunds.values()
                if r["_account"] == account.secret_key
                and ("payment_intent" not in query or r["payment_intent"] == query["payment_intent"])
            ]
        found.sort(key=lambda r: r["created"], reverse=True)
        return {"object": "list", "data": found[:limit], "has_more": len(found) > limit, "url": "/v1/refunds"}

    # --- Events -----------------------------------------------------------------------------------------------------

    def emit(self, secret_key: str, kind: str, obj: dict[str, Any]) -> None:
        """A signed event to the account's endpoint; signed again (fresh ``t``) at every attempt."""
        with self.state.lock:
            account = self.state.stripe.accounts.get(secret_key)
            if account is None or not account.webhook_url:
                return
            event = {
                "id": new_id("evt_"),
                "object": "event",
                "api_version": API_VERSION,
                "created": int(self.state.now()),
                "data": {"object": obj},
                "livemode": False,
                "pending_webhooks": 1,
                "request": {"id": None, "idempotency_key": None},
                "type": kind,
            }
            url, secret = account.webhook_url, account.webhook_secret

        def sign(body: bytes) -> dict[str, str]:
            header = signatures.stripe_sign(secret=secret, payload=body, timestamp=int(self.state.now()))
            return {signatures.STRIPE_HEADER: header}

        headers = {"Content-Type": "application/json; charset=utf-8"}
        self.dispatcher.send("stripe", url, compact_json(event), headers, sign)


# --- HTTP -------------------------------------------------------------------------------------------------------------


def engine_of(request: Request) -> StripeEngine:
    return request.app.state.stripe


def stripe_json(data: Any, status_code: int = 200) -> Response:
    return Response(compact_json(data), status_code=status_code, media_type="application/json")


Handler = Callable[[Request, StripeEngine, StripeAccount], Awaitable[Response]]


def api(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        engine = engine_of(request)
        try:
            return await handler(request, engine, engine.account(request.headers.get("authorization")))
        except StripeError as error:
            return error.response()

    return endpoint


async def idempotent_post(
    request: Request, account: StripeAccount, produce: Callable[[dict[str, Any]], dict[str, Any]]
) -> Response:
    """Parse the form and run ``produce``; with an ``Idempotency-Key`` the first answer is replayed to retries."""
    params = parse_form(await request.body())

    def run() -> Answer:
        return Answer(200, compact_json(produce(params)))

    key = request.headers.get("idempotency-key")
    if not key:
        answer = run()
    else:
        if len(key) > IDEMPOTENCY_KEY_LIMIT:
            raise StripeError(400, "Idempotency-Key is longer than 255 characters.")
        try:
            answer = idempotent(
                engine_of(request).state,
                provider="stripe",
                account=account.secret_key,
                key=key,
                request=fingerprint(request.method, request.url.path, params),
                run=run,
            )
        except KeyReused:
            message = (
                "Keys for idempotent requests can only be used with the same parameters they were first used with. "
                f"Try using a key other than '{key}' if you meant to execute a different request."
            )
            raise StripeError(400, message, kind="idempotency_error") from None
    headers = {"Idempotent-Replayed": "true"} if answer.replayed else {}
    return Response(answer.body, status_code=answer.status, media_type=answer.media_type, headers=headers)


async def session_create(request: Request, engine: StripeEngine, account: StripeAccount) -> Response:
    base_url = engine.state.settings.public_base_url or str(request.base_url)
    return await idempotent_post(request, account, lambda params: engine.create_session(account, params, base_url))


async def session_get(request: Request, engine: StripeEngine, account: StripeAccount) -> Response:
    return stripe_json(public(engine.session(account, request.path_params["session_id"])))


async def session_expire(request: Request, engine: StripeEngine, account: StripeAccount) -> Response:
    session_id = request.path_params["session_id"]
    return await idempotent_post(request, account, lambda params: engine.expire(account, session_id))


async def intent_get(request: Request, engine: StripeEngine, account: StripeAccount) -> Response:
    return stripe_json(public(engine.intent(account, request.path_params["intent_id"])))


async def refund_create(request: Request, engine: StripeEngine, account: StripeAccount) -> Response:
    return await idempotent_post(request, account, lambda params: engine.refund(account, params))


async def refund_get(request: Request, engine: StripeEngine, account: StripeAccount) -> Response:
    return stripe_json(engine.refund_of(account, request.path_params["refund_id"]))


async def refund_list(request: Request, engine: StripeEngine, account: StripeAccount) -> Response:
    return stripe_json(engine.refunds(account, dict(request.query_params)))


def routes(prefix: str = PREFIX) -> list[Route]:
    v1 = f"{prefix}/v1"
    return [
        Route(f"{v1}/checkout/sessions", api(session_create), methods=["POST"]),
        Route(f"{v1}/checkout/sessions/{{session_id}}", api(session_get), methods=["GET"]),
        Route(f"{v1}/checkout/sessions/{{session_id}}/expire", api(session_expire), methods=["POST"]),
        Route(f"{v1}/payment_intents/{{intent_id}}", api(intent_get), methods=["GET"]),
        Route(f"{v1}/refunds", api(refund_create), methods=["POST"]),
        Route(f"{v1}/refunds", api(refund_list), methods=["GET"]),
        Route(f"{v1}/refunds/{{refund_id}}", api(refund_get), methods=["GET"]),
    ]
