"""Idempotency keys as Mercado Pago (``X-Idempotency-Key``) and Stripe (``Idempotency-Key``) honour them: the first
successful answer is stored and replayed to a retry with the same key and request; another request under the same
key is refused. Refused requests are not stored, so fixing one and sending it again with the key works.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from payments.fake.state import FakePspState, StoredAnswer


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    media_type: str = "application/json"
    replayed: bool = False


class KeyReused(Exception):
    """The key was first used for a different request."""


def fingerprint(method: str, path: str, params: Any) -> str:
    """What makes two requests "the same": method, path and the parameters, whatever their order, spacing or the
    trailing zeros of a number (``10.0`` and ``10.00`` are one amount)."""
    return json.dumps([method, path, _canonical(params)], sort_keys=True)


def _canonical(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _canonical(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_canonical(item) for item in value]
    if isinstance(value, int | Decimal) and not isinstance(value, bool):
        return {"number": format(Decimal(value).normalize(), "f")}
    return value


def idempotent(
    state: FakePspState, *, provider: str, account: str, key: str, request: str, run: Callable[[], Answer]
) -> Answer:
    scope = (provider, account, key)
    with state.lock:
        stored = state.idempotency.get(scope)
        if stored is not None:
            if stored.fingerprint != request:
                raise KeyReused(key)
            return Answer(stored.status, stored.body, stored.media_type, replayed=True)
        answer = run()
        if 200 <= answer.status < 300:
            state.idempotency[scope] = StoredAnswer(request, answer.status, answer.body, answer.media_type)
        return answer
