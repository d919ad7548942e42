"""The fake's own control API under ``/_fake/`` (plain JSON, never recorded): accounts of the simulated PSPs, the
simulated payer, settlement of refunds, clock, settings, fault injection and what was received and sent.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from payments.brcode import BrCodeError, parse
from payments.fake.clock import AdjustableClock
from payments.fake.delivery import Dispatcher
from payments.fake.mercadopago import CheckoutRefused, MercadoPagoEngine
from payments.fake.pix import PaymentRefused, PixEngine, render_pix
from payments.fake.state import (
    DEFAULT_SCOPES,
    FakePspState,
    Fault,
    MercadoPagoAccount,
    ReceivedPix,
    Receiver,
    StripeAccount,
)
from payments.fake.stripe import StripeEngine, StripeError
from payments.fake.wire import cents_to_bcb, compact_json, pix_time

PROVIDERS = ("pix", "mercadopago", "stripe")


class AdminError(Exception):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message, self.status = message, status


def admin(handler: Callable[[Request, Any], Awaitable[Any]]) -> Callable[[Request], Awaitable[Response]]:
    """An admin endpoint: JSON in (may be empty), JSON out, ``{"error": ...}`` on refusal."""

    async def endpoint(request: Request) -> Response:
        raw = await request.body()
        try:
            body = json.loads(raw) if raw.strip() else {}
            if not isinstance(body, dict | list):
                raise AdminError("the body must be a JSON object")
            result = await handler(request, body)
        except json.JSONDecodeError:
            return JSONResponse({"error": "the body is not JSON"}, status_code=400)
        except AdminError as error:
            return JSONResponse({"error": error.message}, status_code=error.status)
        except (PaymentRefused, CheckoutRefused) as refused:
            return JSONResponse({"error": str(refused)}, status_code=409)
        except StripeError as error:
            return JSONResponse({"error": error.message}, status_code=409)
        except (KeyError, TypeError, ValueError) as error:
            return JSONResponse({"error": f"bad request: {error}"}, status_code=400)
        return Response(compact_json(result), media_type="application/json")

    return endpoint


def state_of(request: Request) -> FakePspState:
    return request.app.state.fake


def dispatcher_of(request: Request) -> Dispatcher:
    return request.app.state.dispatcher


# --- Housekeeping -----------------------------------------------------------------------------------------------------


async def health(request: Request, body: Any) -> dict[str, Any]:
    return {"ok": True, "pending_deliveries": dispatcher_of(request).pending()}


async def reset(request: Request, body: Any) -> dict[str, Any]:
    """Forget everything but settings and the clock (accounts too: tests register their own)."""
    dispatcher_of(request).clear()
    state_of(request).clear()
    return {"ok": True}


async def settings(request: Request, body: Any) -> dict[str, Any]:
    state = state_of(request)
    with state.lock:
        if request.method == "POST":
            try:
                state.settings.update(body)
            except KeyError as unknown:
                raise AdminError(f"unknown settings: {unknown.args[0]}") from None
        return state.settings.public()


async def clock(request: Request, body: Any) -> dict[str, Any]:
    state = state_of(request)
    if request.method == "POST":
        if not isinstance(state.clock, AdjustableClock):
            raise AdminError("this fake's clock cannot be moved")
        if "set" in body:
            state.clock.set(float(body["set"]))
        else:
            state.clock.advance(float(body.get("advance_s", 0)))
    return {"now": state.now()}


async def faults(request: Request, body: Any) -> dict[str, Any]:
    state = state_of(request)
    with state.lock:
        if request.method == "DELETE":
            state.faults.clear()
        elif request.method == "POST":
            for item in body if isinstance(body, list) else [body]:
                fault = Fault(**item)
                if fault.provider not in PROVIDERS:
                    raise AdminError(f"provider must be one of {', '.join(PROVIDERS)}")
                state.faults.append(fault)
        return {"faults": [vars(fault) for fault in state.faults]}


async def requests(request: Request, body: Any) -> dict[str, Any]:
    state = state_of(request)
    query = request.query_params
    with state.lock:
        if request.method == "DELETE":
            state.requests.clear()
            return {"data": []}
        found = [
            dict(record)
            for record in state.requests
            if all(record.get(name) == query[name] for name in ("provider", "method") if name in query)
            and query.get("path_contains", "") in record["path"]
        ]
    return {"data": found}


async def deliveries(request: Request, body: Any) -> dict[str, Any]:
    state = state_of(request)
    query = request.query_params
    with state.lock:
        if request.method == "DELETE":
            state.deliveries.clear()
            return {"data": []}
        found = [
            d.public()
            for d in state.deliveries
            if all(getattr(d, name) == query[name] for name in ("provider", "state") if name in query)
        ]
    return {"data": found}


async def release(request: Request, body: Any) -> dict[str, Any]:
    return {"released": dispatcher_of(request).release(reverse=bool(body.get("reverse")))}


# --- API Pix ----------------------------------------------------------------------------------------------------------


async def pix_receivers(request: Request, body: Any) -> dict[str, Any]:
    state = state_of(request)
    with state.lock:
        if request.method == "POST":
            for item in body if isinstance(body, list) else [body]:
                receiver = Receiver(**{**item, "scopes": frozenset(item.get("scopes", DEFAULT_SCOPES))})
                if not receiver.keys:
                    raise AdminError("a receiver needs at least one Pix key")
                state.pix.receivers[receiver.id] = receiver
        return {"data": [r.public() for r in state.pix.receivers.values()]}


def _pix_engine(request: Request) -> PixEngine:
    return request.app.state.pix


def describe_cob(engine: PixEngine, cob: Any) -> dict[str, Any]:
    """What the payer's bank app shows about a charge before paying it."""
    with engine.state.lock:
        receiver = engine.state.pix.receivers.get(cob.receiver_id)
        return {
            "receiver": cob.receiver_id,
            "merchant_name": receiver.merchant_name if receiver else None,
            "txid": cob.txid,
            "status": cob.status,
            "amount": cob.original_cents,
            "valor": cents_to_bcb(cob.original_cents),
            "amount_editable": cob.modalidade == 1,
            "expires_at": pix_time(cob.created_at + cob.expiracao),
            "expired": cob.expired(engine.state.now()),
            "description": cob.solicitacao,
            "info": cob.info or [],
            "pix": [render_pix(engine.state.pix.pix[e2eid]) for e2eid in cob.pix],
        }


async def pix_cobs(request: Request, body: Any) -> dict[str, Any]:
    engine = _pix_engine(request)
    with engine.state.lock:
        cobs = list(engine.state.pix.cobs.values())
    return {"data": [describe_cob(engine, cob) for cob in cobs]}


def _cob_for(engine: PixEngine, body: dict[str, Any]) -> Any:
    if body.get("code"):
        try:
            location = parse(str(body["code"]).strip()).location
        except BrCodeError as error:
            raise AdminError(f"not a valid Pix code: {error}") from None
        if not location:
            raise AdminError("a static Pix code points at no charge of this PSP")
        cob = engine.find_cob(location=location)
    else:
        cob = engine.find_cob(txid=str(body.get("txid", "")))
    if cob is None:
        raise AdminError("no charge of this PSP has that code or txid", 404)
    return cob


async def pix_lookup(request: Request, body: Any) -> dict[str, Any]:
    engine = _pix_engine(request)
    return describe_cob(engine, _cob_for(engine, body))


async def pix_pay(request: Request, body: Any) -> dict[str, Any]:
    """The payer pays ``times`` times; later refusals are listed, a refused first payment is a 409."""
    engine = _pix_engine(request)
    cob = _cob_for(engine, body)
    amount = body.get("amount")
    if amount is not None and (not isinstance(amount, int) or isinstance(amount, bool)):
        raise AdminError("amount is an integer of centavos")
    made: list[ReceivedPix] = []
    refused: list[str] = []
    for attempt in range(int(body.get("times", 1))):
        try:
            pix = engine.pay(cob, cents=amount, force=bool(body.get("force")), info_pagador=body.get("info_pagador"))
            made.append(pix)
        except PaymentRefused as error:
            if attempt == 0:
                raise
            refused.append(str(error))
    engine.notify(made)
    with engine.state.lock:
        return {"pix": [render_pix(pix) for pix in made], "refused": refused, "status": cob.status}


async def pix_settle(request: Request, body: Any) -> dict[str, Any]:
    engine = _pix_engine(request)
    return engine.settle(body["e2eid"], body["id"], status=body.get("status", "DEVOLVIDO"), motivo=body.get("motivo"))


# --- Mercado Pago and Stripe ------------------------------------------------------------------------------------------


async def mercadopago_accounts(request: Request, body: Any) -> dict[str, Any]:
    state = state_of(request)
    with state.lock:
        if request.method == "POST":
            for item in body if isinstance(body, list) else [body]:
                account = MercadoPagoAccount(**item)
                state.mercadopago.accounts[account.access_token] = account
        return {"data": [a.public() for a in state.mercadopago.accounts.values()]}


async def mercadopago_checkout(request: Request, body: Any) -> dict[str, Any]:
    engine: MercadoPagoEngine = request.app.state.mercadopago
    return engine.checkout(request.path_params["pref_id"], str(body.get("result", "approved")))


async def mercadopago_payment(request: Request, body: Any) -> dict[str, Any]:
    engine: MercadoPagoEngine = request.app.state.mercadopago
    return engine.set_status(request.path_params["payment_id"], body["status"], body.get("status_detail"))


async def stripe_accounts(request: Request, body: Any) -> dict[str, Any]:
    state = state_of(request)
    with state.lock:
        if request.method == "POST":
            for item in body if isinstance(body, list) else [body]:
                account = StripeAccount(**item)
                state.stripe.accounts[account.secret_key] = account
        return {"data": [a.public() for a in state.stripe.accounts.values()]}


async def stripe_checkout(request: Request, body: Any) -> dict[str, Any]:
    engine: StripeEngine = request.app.state.stripe
    session_id = request.path_params["session_id"]
    if body.get("result", "paid") == "expire":
        return engine.expire(None, session_id)
    email, name = body.get("email", "cliente@example.com"), body.get("name", "Cliente Exemplo")
    return engine.complete(session_id, email=email, name=name)


def routes() -> list[Route]:
    return [
        Route("/_fake/health", admin(health), methods=["GET"]),
        Route("/_fake/reset", admin(reset), methods=["POST"]),
        Route("/_fake/settings", admin(settings), methods=["GET", "POST"]),
        Route("/_fake/clock", admin(clock), methods=["GET", "POST"]),
        Route("/_fake/faults", admin(faults), methods=["GET", "POST", "DELETE"]),
        Route("/_fake/requests", admin(requests), methods=["GET", "DELETE"]),
        Route("/_fake/deliveries", admin(deliveries), methods=["GET", "DELETE"]),
        Route("/_fake/deliveries/release", admin(release), methods=["POST"]),
        Route("/_fake/pix/receivers", admin(pix_receivers), methods=["GET", "POST"]),
        Route("/_fake/pix/cobs", admin(pix_cobs), methods=["GET"]),
        Route("/_fake/pix/lookup", admin(pix_lookup), methods=["POST"]),
        Route("/_fake/pix/pay", admin(pix_pay), methods=["POST"]),
        Route("/_fake/pix/devolucao/settle", admin(pix_settle), methods=["POST"]),
        Route("/_fake/mercadopago/accounts", admin(mercadopago_accounts), methods=["GET", "POST"]),
        Route("/_fake/mercadopago/checkout/{pref_id}", admin(mercadopago_checkout), methods=["POST"]),
        Route("/_fake/mercadopago/payments/{payment_id}", admin(mercadopago_payment), methods=["POST"]),
        Route("/_fake/stripe/accounts", admin(stripe_accounts), methods=["GET", "POST"]),
        Route("/_fake/stripe/checkout/{session_id}", admin(stripe_checkout), methods=["POST"]),
    ]
