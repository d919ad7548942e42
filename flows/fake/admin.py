"""The fake's own control API under ``/_fake/`` (plain JSON, never logged): API keys, cards and their credits,
failures on demand, the request log, reset. Errors have the operator's shape, ``{"error": {"code", "message"}}``."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from flows.fake.state import (
    CARD_NUMBER,
    CARD_STATUSES,
    CURRENCY,
    DEFAULT_DELAY_S,
    FAILURE_MODES,
    FAILURE_OPERATIONS,
    MAX_DELAY_S,
    Card,
    Failure,
    TransitState,
)

# What ``--demo`` (and ``POST /_fake/reset {"demo": true}``) sets up; ``__main__`` prints it at start.
DEMO: dict[str, Any] = {
    "api_keys": [{"key": "demo-transit-key", "name": "Demo workspace"}],
    "cards": [
        {"number": "123456789012", "holder_name": "Maria Souza", "balance": 1250},
        {"number": "987654321098", "holder_name": "João Lima", "balance": 0},
        {"number": "111122223333", "holder_name": "Ana Costa", "balance": 500, "status": "blocked"},
    ],
}


class AdminError(Exception):
    def __init__(self, message: str, status: int = 400, code: str = "invalid_request") -> None:
        super().__init__(message)
        self.message, self.status, self.code = message, status, code


def admin(handler: Callable[[Request, Any], Awaitable[Any]]) -> Callable[[Request], Awaitable[Response]]:
    """An admin endpoint: JSON in (may be empty), JSON out."""

    async def endpoint(request: Request) -> Response:
        raw = await request.body()
        try:
            body = json.loads(raw) if raw.strip() else {}
            if not isinstance(body, dict | list):
                raise AdminError("The body must be a JSON object or a list.")
            result = await handler(request, body)
        except (UnicodeDecodeError, json.JSONDecodeError):
            return JSONResponse({"error": {"code": "invalid_request", "message": "The body is not JSON."}}, 400)
        except AdminError as refused:
            return JSONResponse({"error": {"code": refused.code, "message": refused.message}}, refused.status)
        return JSONResponse(result)

    return endpoint


def state_of(request: Request) -> TransitState:
    return request.app.state.transit


def _items(body: Any) -> list[Any]:
    items = body if isinstance(body, list) else [body]
    if not all(isinstance(item, dict) for item in items):
        raise AdminError("Every item must be a JSON object.")
    return items


def _number(value: Any) -> str:
    if not isinstance(value, str) or not CARD_NUMBER.fullmatch(value):
        raise AdminError("A card number is 12 digits.", code="invalid_card_number")
    return value


def _int(value: Any, name: str, *, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise AdminError(f"{name} must be an integer of at least {minimum}.")
    return value


def card_from(item: dict[str, Any]) -> Card:
    unknown = set(item) - {"number", "holder_name", "balance", "currency", "status"}
    if unknown:
        raise AdminError(f"Unknown fields: {', '.join(sorted(unknown))}.")
    holder_name = item.get("holder_name")
    if not isinstance(holder_name, str) or not holder_name.strip():
        raise AdminError("holder_name is required.")
    status = item.get("status", "active")
    if status not in CARD_STATUSES:
        raise AdminError(f"status is one of {', '.join(CARD_STATUSES)}.")
    currency = item.get("currency", CURRENCY)
    if not isinstance(currency, str) or len(currency) != 3:
        raise AdminError("currency is a 3-letter code.")
    return Card(
        number=_number(item.get("number")),
        holder_name=holder_name.strip(),
        balance=_int(item.get("balance", 0), "balance"),
        currency=currency,
        status=status,
    )


def key_from(item: Any) -> tuple[str, str]:
    if isinstance(item, str):
        item = {"key": item}
    if not isinstance(item, dict):
        raise AdminError("An API key is a string or {key, name}.")
    key, name = item.get("key"), item.get("name", "")
    if not isinstance(key, str) or not key or any(not 0x21 <= ord(c) <= 0x7E for c in key):
        raise AdminError("key is required: printable ASCII without spaces.")
    if not isinstance(name, str):
        raise AdminError("name must be a string.")
    return key, name


def register(state: TransitState, config: dict[str, Any]) -> None:
    """Add the ``api_keys`` and ``cards`` of a configuration (``--config``, ``--demo``); all or nothing."""
    if not isinstance(config, dict) or set(config) - {"api_keys", "cards"}:
        raise AdminError('A configuration is {"api_keys": [...], "cards": [...]}.')
    keys_given, cards_given = config.get("api_keys", []), config.get("cards", [])
    if not isinstance(keys_given, list) or not isinstance(cards_given, list):
        raise AdminError("api_keys and cards are lists.")
    keys = [key_from(item) for item in keys_given]
    cards = [card_from(item) for item in _items(cards_given)]
    with state.lock:
        for key, name in keys:
            state.add_key(key, name)
        for card in cards:
            state.put_card(card)


def failure_from(item: dict[str, Any]) -> tuple[str | None, Failure | None]:
    """The card number (``None``: any card) and the failure asked for (``None`` for mode ``none``)."""
    unknown = set(item) - {"mode", "count", "number", "operation", "delay_s", "applied"}
    if unknown:
        raise AdminError(f"Unknown fields: {', '.join(sorted(unknown))}.")
    number = None if item.get("number") is None else _number(item["number"])
    mode = item.get("mode")
    if mode == "none":
        return number, None
    if mode not in FAILURE_MODES:
        raise AdminError(f"mode is one of {', '.join(FAILURE_MODES)} or none.")
    operation = item.get("operation", "credit")
    if operation not in FAILURE_OPERATIONS:
        raise AdminError(f"operation is one of {', '.join(FAILURE_OPERATIONS)}.")
    if mode == "reject" and operation != "credit":
        raise AdminError("Only credits can be refused.")
    delay_s = item.get("delay_s", DEFAULT_DELAY_S)
    if isinstance(delay_s, bool) or not isinstance(delay_s, int | float) or not 0 <= delay_s <= MAX_DELAY_S:
        raise AdminError(f"delay_s is between 0 and {MAX_DELAY_S:g} seconds.")
    applied = item.get("applied", False)
    if not isinstance(applied, bool):
        raise AdminError("applied is true or false.")
    return number, Failure(
        mode=mode,
        count=_int(item.get("count", 1), "count", minimum=1),
        number=number,
        operation=operation,
        delay_s=float(delay_s),
        applied=applied,
    )


# --- Endpoints --------------------------------------------------------------------------------------------------------


async def health(request: Request, body: Any) -> dict[str, Any]:
    return {"ok": True}


async def reset(request: Request, body: Any) -> dict[str, Any]:
    """Forget everything; ``{"demo": true}`` sets the demo up again."""
    if not isinstance(body, dict) or not isinstance(body.get("demo", False), bool):
        raise AdminError('The body is {} or {"demo": true}.')
    state = state_of(request)
    with state.lock:
        state.clear()
        if body.get("demo"):
            register(state, DEMO)
    return {"ok": True}


async def keys_add(request: Request, body: Any) -> dict[str, Any]:
    added = [key_from(item) for item in (body if isinstance(body, list) else [body])]
    state = state_of(request)
    with state.lock:
        for key, name in added:
            state.add_key(key, name)
    return {"added": len(added)}


async def keys_list(request: Request, body: Any) -> dict[str, Any]:
    state = state_of(request)
    with state.lock:
        return {"data": [{"key": key, "name": name} for key, name in state.api_keys.items()]}


async def cards_put(request: Request, body: Any) -> Any:
    """Create or replace cards (a replaced card's credits are forgotten)."""
    cards = [card_from(item) for item in _items(body)]
    state = state_of(request)
    with state.lock:
        answers = [state.put_card(card).admin() for card in cards]
    return answers if isinstance(body, list) else answers[0]


async def cards_list(request: Request, body: Any) -> dict[str, Any]:
    state = state_of(request)
    with state.lock:
        return {"data": [card.admin() for card in state.cards.values()]}


async def card_get(request: Request, body: Any) -> dict[str, Any]:
    number = request.path_params["number"]
    state = state_of(request)
    with state.lock:
        card = state.cards.get(number)
        if card is None:
            raise AdminError("No card has this number.", status=404, code="card_not_found")
        return card.admin()


async def failures_add(request: Request, body: Any) -> dict[str, Any]:
    """Queue failures for the next calls; ``mode: none`` drops those waiting (for ``number``, or all of them)."""
    asked = [failure_from(item) for item in _items(body)]
    state = state_of(request)
    with state.lock:
        for number, failure in asked:
            if failure is None:
                state.clear_failures(number)
            else:
                state.failures.append(failure)
        return {"data": [failure.public() for failure in state.failures]}


async def failures_list(request: Request, body: Any) -> dict[str, Any]:
    state = state_of(request)
    with state.lock:
        return {"data": [failure.public() for failure in state.failures]}


async def requests_list(request: Request, body: Any) -> dict[str, Any]:
    state = state_of(request)
    with state.lock:
        return {"data": [dict(entry) for entry in state.requests]}


async def requests_clear(request: Request, body: Any) -> dict[str, Any]:
    state = state_of(request)
    with state.lock:
        state.requests.clear()
    return {"ok": True}


def routes() -> list[Route]:
    return [
        Route("/_fake/health", admin(health), methods=["GET"]),
        Route("/_fake/reset", admin(reset), methods=["POST"]),
        Route("/_fake/keys", admin(keys_add), methods=["POST"]),
        Route("/_fake/keys", admin(keys_list), methods=["GET"]),
        Route("/_fake/cards", admin(cards_put), methods=["POST"]),
        Route("/_fake/cards", admin(cards_list), methods=["GET"]),
        Route("/_fake/cards/{number}", admin(card_get), methods=["GET"]),
        Route("/_fake/failures", admin(failures_add), methods=["POST"]),
        Route("/_fake/failures", admin(failures_list), methods=["GET"]),
        Route("/_fake/requests", admin(requests_list), methods=["GET"]),
        Route("/_fake/requests", admin(requests_clear), methods=["DELETE"]),
    ]
