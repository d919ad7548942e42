"""The fake transit operator as one Starlette app: the card API under ``/v1/`` (the contract: README.md beside this
file) and the fake's own admin API under ``/_fake/``.

``create_app()`` holds no global state: two apps (two tests' servers) can live in one process. The fake never imports
Django nor the product.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from fakes.clock import Clock
from flows.fake import admin
from flows.fake.state import (
    CARD_NUMBER,
    IDEMPOTENCY_KEY_MAX,
    MAX_CREDIT,
    REFERENCE_MAX,
    Failure,
    StoredAnswer,
    TransitState,
)


def error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """The operator's one error shape: ``{"error": {"code": ..., "message": ...}}``."""
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


class Refusal(Exception):
    """A request the operator answers with an error; raised inside a handler, rendered by ``operator_endpoint``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def state_of(request: Request) -> TransitState:
    return request.app.state.transit


def authenticate(request: Request) -> str:
    """The caller's API key (``Authorization: Bearer <key>``), or a 401."""
    scheme, _, key = request.headers.get("authorization", "").partition(" ")
    key = key.strip()
    state = state_of(request)
    with state.lock:
        known = scheme.lower() == "bearer" and key in state.api_keys
    if not known:
        raise Refusal(401, "unauthorized", "A valid API key is required (Authorization: Bearer <key>).")
    return key


def card_number(request: Request) -> str:
    number = request.path_params["number"]
    if not CARD_NUMBER.fullmatch(number):
        raise Refusal(400, "invalid_card_number", "A card number is 12 digits.")
    return number


async def json_object(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body())
    except (UnicodeDecodeError, json.JSONDecodeError):
        body = None
    if not isinstance(body, dict):
        raise Refusal(400, "invalid_request", "The body must be a JSON object.")
    return body


async def until_disconnected(request: Request) -> None:
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def slow(request: Request, delay_s: float) -> bool:
    """Wait ``delay_s`` seconds or until the client gives up; True if it did (then nobody reads the answer)."""
    try:
        await asyncio.wait_for(until_disconnected(request), delay_s)
    except TimeoutError:
        return False
    return True


async def fail(request: Request, failure: Failure, entry: dict[str, Any], done: Response | None) -> Response:
    """The answer of an injected failure; ``done`` is the real answer when the failed call was carried out."""
    if failure.mode == "reject":
        return error(422, "credit_refused", "The operator refused this credit.")
    if failure.mode == "error_500":
        return error(500, "internal_error", "The operator's system failed.")
    if await slow(request, failure.delay_s):
        entry["client_gone"] = True
    return done or error(504, "timeout", "The operator's system did not answer in time.")


def operator_endpoint(handler: Any) -> Any:
    """A card API endpoint: every call is logged (method, path, idempotency key, body, status; never the key)."""

    async def endpoint(request: Request) -> Response:
        state = state_of(request)
        entry: dict[str, Any] = {"method": request.method, "path": request.url.path, "status_code": None}
        try:
            response = await handler(request, entry)
        except Refusal as refusal:
            response = error(
                refusal.status,
                refusal.code,
                refusal.message,
                {"WWW-Authenticate": "Bearer"} if refusal.status == 401 else None,
            )
        entry["status_code"] = response.status_code
        state.log(entry)
        return response

    return endpoint


async def card_lookup(request: Request, entry: dict[str, Any]) -> Response:
    authenticate(request)
    number = card_number(request)
    state = state_of(request)
    with state.lock:
        card = state.cards.get(number)
        if card is None:
            raise Refusal(404, "card_not_found", "No card has this number.")
        answer = JSONResponse(card.answer())
        failure = state.take_failure("lookup", number)
    if failure is not None:
        return await fail(request, failure, entry, None)
    return answer


def credit_request(body: dict[str, Any]) -> tuple[int, str, str]:
    amount, currency, reference = body.get("amount"), body.get("currency"), body.get("reference")
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise Refusal(400, "invalid_request", "amount must be an integer of centavos.")
    if not isinstance(currency, str):
        raise Refusal(400, "invalid_request", "currency is required.")
    if not isinstance(reference, str) or not 0 < len(reference) <= REFERENCE_MAX:
        raise Refusal(400, "invalid_request", f"reference is required (at most {REFERENCE_MAX} characters).")
    return amount, currency, reference


async def card_credit(request: Request, entry: dict[str, Any]) -> Response:
    api_key = authenticate(request)
    number = card_number(request)
    key = request.headers.get("idempotency-key", "")
    entry["idempotency_key"] = key or None
    if not key:
        raise Refusal(400, "idempotency_key_required", "The Idempotency-Key header is required.")
    if len(key) > IDEMPOTENCY_KEY_MAX:
        raise Refusal(400, "invalid_idempotency_key", f"An Idempotency-Key has at most {IDEMPOTENCY_KEY_MAX} chars.")
    body = await json_object(request)
    entry["json"] = body
    amount, currency, reference = credit_request(body)
    fingerprint = json.dumps([number, amount, currency, reference])
    state = state_of(request)
    with state.lock:
        stored = state.idempotency.get((api_key, key))
        if stored is not None:
            if stored.fingerprint != fingerprint:
                raise Refusal(409, "idempotency_conflict", "This Idempotency-Key was used for another request.")
            return JSONResponse(stored.body, status_code=200, headers={"Idempotent-Replayed": "true"})
        if not 0 < amount <= MAX_CREDIT:
            raise Refusal(422, "invalid_amount", f"A credit is between 1 and {MAX_CREDIT} centavos.")
        card = state.cards.get(number)
        if card is None:
            raise Refusal(404, "card_not_found", "No card has this number.")
        if currency != card.currency:
            raise Refusal(422, "invalid_currency", f"This card holds {card.currency}.")
        if card.status != "active":
            raise Refusal(422, "card_blocked", "This card is blocked.")
        failure = state.take_failure("credit", number)
        done: Response | None = None
        if failure is None or (failure.applied and failure.mode != "reject"):
            credit = state.credit(card, amount=amount, reference=reference, idempotency_key=key)
            state.idempotency[(api_key, key)] = StoredAnswer(fingerprint, credit.answer())
            done = JSONResponse(credit.answer(), status_code=201)
            if failure is None:
                return done
    return await fail(request, failure, entry, done)


async def not_found(request: Request, exc: Exception) -> Response:
    if isinstance(exc, HTTPException) and exc.status_code == 405:
        return error(405, "method_not_allowed", "This method is not allowed here.")
    return error(404, "not_found", "There is nothing at this address.")


def create_app(state: TransitState | None = None, *, clock: Clock | None = None) -> Starlette:
    """A fresh fake operator. ``clock`` returns epoch seconds (default: real time) and dates the credits."""
    app = Starlette(
        routes=[
            Route("/v1/cards/{number}", operator_endpoint(card_lookup), methods=["GET"]),
            Route("/v1/cards/{number}/credits", operator_endpoint(card_credit), methods=["POST"]),
            *admin.routes(),
        ],
        exception_handlers={HTTPException: not_found},
    )
    app.state.transit = state or TransitState(clock=clock)
    return app
