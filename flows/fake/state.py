"""In-memory state of the fake transit operator: one ``TransitState`` guarded by one re-entrant lock.

Handlers run on uvicorn's event loop while test threads read and change the same objects; every read or write of
shared state happens inside ``with state.lock`` and never awaits while holding it.
"""

from __future__ import annotations

import itertools
import re
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from fakes.clock import AdjustableClock, Clock

# The operator's card numbers: 12 digits, as São Paulo's Bilhete Único prints them.
CARD_NUMBER = re.compile(r"[0-9]{12}")
CARD_STATUSES = ("active", "blocked")
CURRENCY = "BRL"
MAX_CREDIT = 100_000  # centavos: R$ 1.000,00 per credit
IDEMPOTENCY_KEY_MAX = 64
REFERENCE_MAX = 64
FAILURE_MODES = ("error_500", "timeout", "reject")
FAILURE_OPERATIONS = ("credit", "lookup")
DEFAULT_DELAY_S = 30.0
MAX_DELAY_S = 600.0


def iso(epoch: float) -> str:
    """``2026-11-05T14:32:00Z``: the operator's timestamps, UTC to the second."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def short_name(full_name: str) -> str:
    """The holder as the operator shows them to anyone who knows the number: first name and last initial."""
    words = full_name.split()
    if len(words) < 2:
        return " ".join(words)
    return f"{words[0]} {words[-1][0]}."


@dataclass
class Credit:
    id: str
    number: str
    amount: int
    balance: int  # the card's balance right after this credit
    reference: str
    idempotency_key: str
    created_at: float

    def answer(self) -> dict[str, Any]:
        """The body of ``POST /v1/cards/{number}/credits``."""
        return {
            "id": self.id,
            "number": self.number,
            "amount": self.amount,
            "balance": self.balance,
            "reference": self.reference,
            "created_at": iso(self.created_at),
        }

    def admin(self) -> dict[str, Any]:
        return {**self.answer(), "idempotency_key": self.idempotency_key}


@dataclass
class Card:
    number: str
    holder_name: str
    balance: int = 0  # centavos
    currency: str = CURRENCY
    status: str = "active"
    credits: list[Credit] = field(default_factory=list)

    def answer(self) -> dict[str, Any]:
        """The body of ``GET /v1/cards/{number}``."""
        return {
            "number": self.number,
            "holder_name": short_name(self.holder_name),
            "balance": self.balance,
            "currency": self.currency,
            "status": self.status,
        }

    def admin(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "holder_name": self.holder_name,
            "balance": self.balance,
            "currency": self.currency,
            "status": self.status,
            "credits": [credit.admin() for credit in self.credits],
        }


@dataclass
class Failure:
    """The next ``count`` calls of ``operation`` (on ``number``, or on any card) that would otherwise succeed fail
    as ``mode`` says; with ``applied`` a failed credit (500 or timeout) is made all the same."""

    mode: str
    count: int = 1
    number: str | None = None
    operation: str = "credit"
    delay_s: float = DEFAULT_DELAY_S
    applied: bool = False

    def public(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "count": self.count,
            "number": self.number,
            "operation": self.operation,
            "delay_s": self.delay_s,
            "applied": self.applied,
        }


@dataclass
class StoredAnswer:
    """The first successful answer under an idempotency key, replayed to a retry with the same request."""

    fingerprint: str
    body: dict[str, Any]


class TransitState:
    def __init__(self, *, clock: Clock | None = None) -> None:
        self.lock = threading.RLock()
        self.clock: Clock = clock or AdjustableClock()
        self.clear()

    def clear(self) -> None:
        """Forget everything: API keys, cards, credits, idempotency keys, failures and the request log."""
        with self.lock:
            self.api_keys: dict[str, str] = {}  # key -> the merchant's name
            self.cards: dict[str, Card] = {}
            self.idempotency: dict[tuple[str, str], StoredAnswer] = {}  # (API key, Idempotency-Key)
            self.failures: list[Failure] = []
            self.requests: list[dict[str, Any]] = []
            self._credit_ids = itertools.count(1)

    def now(self) -> float:
        return self.clock()

    def add_key(self, key: str, name: str = "") -> None:
        with self.lock:
            self.api_keys[key] = name or key

    def put_card(self, card: Card) -> Card:
        """Create the card, or replace it (and forget its credits)."""
        with self.lock:
            self.cards[card.number] = card
            return card

    def credit(self, card: Card, *, amount: int, reference: str, idempotency_key: str) -> Credit:
        with self.lock:
            card.balance += amount
            credit = Credit(
                id=f"cr_{next(self._credit_ids):08d}",
                number=card.number,
                amount=amount,
                balance=card.balance,
                reference=reference,
                idempotency_key=idempotency_key,
                created_at=self.now(),
            )
            card.credits.append(credit)
            return credit

    def take_failure(self, operation: str, number: str) -> Failure | None:
        """The first failure waiting for this call, counted down (and dropped when spent)."""
        with self.lock:
            for failure in self.failures:
                if failure.operation == operation and failure.number in (None, number):
                    failure.count -= 1
                    if failure.count <= 0:
                        self.failures.remove(failure)
                    return failure
        return None

    def clear_failures(self, number: str | None = None) -> None:
        with self.lock:
            self.failures = [f for f in self.failures if number is not None and f.number != number]

    def log(self, entry: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            entry = {"id": len(self.requests) + 1, "at": iso(self.now()), **entry}
            self.requests.append(entry)
            return entry
