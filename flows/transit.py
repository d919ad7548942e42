"""The transit operator's card API as the product uses it: look a bus card up, credit a recharge.

An adapter (DESIGN.md §4): httpx only, never the ORM; the operator's JSON stays here and the rest of the product sees
:class:`TransitCard` and :class:`TransitCredit`. The protocol is written down in ``flows/fake/README.md`` (the fake
operator speaks exactly that). The base URL is the deployment's ``TRANSIT_OPERATOR_BASE_URL``; the API key is the
workspace's, passed in by the caller and never put in a message, a ``repr`` or a URL.

Errors say what to do next, by class: :class:`TransitUnavailable` — retry later with the same idempotency key (a
credit is never made twice); :class:`TransitCardNotFound`, :class:`TransitCardBlocked`, :class:`TransitRefused` —
permanent, tell the customer or an agent.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

import httpx

CARD_NUMBER_LENGTH = 12
IDEMPOTENCY_KEY_MAX = 64
_CARD_NUMBER = re.compile(rf"[0-9]{{{CARD_NUMBER_LENGTH}}}")
# What people type between the groups of digits: spaces of any kind, dots and dashes of any kind.
_SEPARATORS = re.compile(r"[\s.\-\u2010-\u2015\u2212]+")
_HEADER_VALUE = re.compile(r"[\x21-\x7e]+")
UNEXPECTED_RESPONSE = "unexpected_response"


def card_number_normalise(raw: str) -> str | None:
    """The 12-digit card number in what a customer typed (``1234 5678-9012`` → ``123456789012``), or ``None``."""
    digits = _SEPARATORS.sub("", raw)
    return digits if _CARD_NUMBER.fullmatch(digits) else None


def masked(number: str) -> str:
    """A card number as agents see it: ``•••• 9012``."""
    digits = re.sub(r"[^0-9]", "", number)
    return f"•••• {digits[-4:]}" if len(digits) >= 4 else "••••"


@dataclass(frozen=True)
class TransitCard:
    number: str
    holder_name: str  # as the operator shows it to anyone with the number: "Maria S."
    balance: int  # minor units (centavos)
    currency: str
    active: bool  # False: blocked, it cannot be credited


@dataclass(frozen=True)
class TransitCredit:
    id: str  # the operator's
    amount: int  # minor units
    balance: int  # the card's balance right after this credit
    reference: str  # ours (the order's), echoed


class TransitError(Exception):
    """A call to the transit operator that did not succeed; never carries the API key."""

    def __init__(self, message: str, *, http_status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.http_status = http_status
        self.code = code

    def __str__(self) -> str:
        code = f" [{self.code}]" if self.code else ""
        status = f" (HTTP {self.http_status})" if self.http_status is not None else ""
        return f"transit operator: {self.message}{code}{status}"


class TransitCardNotFound(TransitError):
    """No card has this number (or it is not a card number at all)."""


class TransitCardBlocked(TransitError):
    """The card exists but is blocked: it cannot be credited."""


class TransitRefused(TransitError):
    """Permanent: the operator refused the request (``credit_refused``, ``invalid_amount``, ``unauthorized``,
    ``idempotency_conflict``...) or it cannot be sent. Retrying the same request cannot help."""


class TransitUnavailable(TransitError):
    """Transient: network trouble, a timeout, 429 or 5xx, or an answer that cannot be read. Retry later with the
    same idempotency key: whether or not the credit was made, the retry settles it exactly once."""


class TransitOperatorClient:
    """One workspace's client of the operator: ``with TransitOperatorClient(url, key) as client: ...``."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not base_url:
            raise ValueError("The transit operator's base URL is not configured (TRANSIT_OPERATOR_BASE_URL).")
        if not _HEADER_VALUE.fullmatch(api_key):
            raise ValueError("The transit operator's API key is empty or has characters a header cannot carry.")
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"),
            timeout=httpx.Timeout(timeout),
            headers={"Authorization": f"Bearer {api_key}", "Accept": "application/json"},
            transport=transport,
            follow_redirects=False,
        )

    def __repr__(self) -> str:
        return f"<TransitOperatorClient {self._http.base_url}>"

    def card_lookup(self, number: str) -> TransitCard:
        """The card with this number (typed by a customer: separators are fine)."""
        card = self._card_number(number)
        body = self._send("GET", f"/v1/cards/{card}", expected=(200,))
        try:
            status = body["status"]
            found = TransitCard(
                number=_text(body, "number"),
                holder_name=_text(body, "holder_name"),
                balance=_integer(body, "balance"),
                currency=_text(body, "currency"),
                active=status == "active",
            )
        except (KeyError, TypeError) as exc:
            raise _unexpected(f"GET /v1/cards/{card}", exc) from exc
        if found.number != card or not isinstance(status, str):
            raise _unexpected(f"GET /v1/cards/{card}", ValueError("another card"))
        return found

    def card_credit(
        self, number: str, *, amount: int, reference: str, idempotency_key: str, currency: str = "BRL"
    ) -> TransitCredit:
        """Credit ``amount`` minor units to the card, once per ``idempotency_key`` (1-64 characters, ours): a retry
        with the same key and request answers the first credit again instead of making another."""
        card = self._card_number(number)
        if isinstance(amount, bool) or not isinstance(amount, int):
            raise TypeError(f"The amount is an integer of minor units, not {amount!r}.")
        if not reference:
            raise ValueError("A credit needs the order's reference.")
        if len(idempotency_key) > IDEMPOTENCY_KEY_MAX or not _HEADER_VALUE.fullmatch(idempotency_key):
            raise ValueError(f"An idempotency key is 1-{IDEMPOTENCY_KEY_MAX} printable characters without spaces.")
        body = self._send(
            "POST",
            f"/v1/cards/{card}/credits",
            expected=(200, 201),
            json={"amount": amount, "currency": currency, "reference": reference},
            headers={"Idempotency-Key": idempotency_key},
        )
        try:
            return TransitCredit(
                id=_text(body, "id"),
                amount=_integer(body, "amount"),
                balance=_integer(body, "balance"),
                reference=_text(body, "reference"),
            )
        except (KeyError, TypeError) as exc:
            raise _unexpected(f"POST /v1/cards/{card}/credits", exc) from exc

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # --- Plumbing -----------------------------------------------------------------------------------------------------

    @staticmethod
    def _card_number(number: str) -> str:
        card = card_number_normalise(number)
        if card is None:
            # Not worth a request: no card has this number.
            raise TransitCardNotFound("This is not a card number.", code="invalid_card_number")
        return card

    def _send(self, method: str, path: str, *, expected: tuple[int, ...], **kwargs: Any) -> dict[str, Any]:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TimeoutException as exc:
            raise TransitUnavailable(f"{method} {path} timed out ({type(exc).__name__})") from exc
        except (httpx.UnsupportedProtocol, httpx.LocalProtocolError, httpx.InvalidURL) as exc:
            raise TransitRefused(f"{method} {path} cannot be sent: {type(exc).__name__}") from exc
        except httpx.TransportError as exc:
            raise TransitUnavailable(f"{method} {path} failed: {type(exc).__name__}") from exc
        if response.status_code not in expected:
            raise _error_for(method, path, response)
        try:
            body = response.json()
        except ValueError as exc:
            raise _unexpected(f"{method} {path}", exc) from exc
        if not isinstance(body, dict):
            raise _unexpected(f"{method} {path}", TypeError("not a JSON object"))
        return body


def _text(body: dict[str, Any], name: str) -> str:
    value = body[name]
    if not isinstance(value, str):
        raise TypeError(f"{name} is not a string")
    return value


def _integer(body: dict[str, Any], name: str) -> int:
    value = body[name]
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} is not an integer")
    return value


def _unexpected(call: str, exc: Exception) -> TransitUnavailable:
    # An answer we cannot read leaves the outcome unknown; a retry with the same idempotency key settles it.
    return TransitUnavailable(f"{call}: unexpected answer ({type(exc).__name__}: {exc})", code=UNEXPECTED_RESPONSE)


def _error_for(method: str, path: str, response: httpx.Response) -> TransitError:
    status = response.status_code
    code, message = None, f"{method} {path} answered {status}"
    try:
        problem = response.json()["error"]
        if isinstance(problem, dict):
            code = problem.get("code") if isinstance(problem.get("code"), str) else None
            message = problem["message"] if isinstance(problem.get("message"), str) else message
    except (ValueError, KeyError, TypeError):
        pass
    if (status, code) in ((404, "card_not_found"), (400, "invalid_card_number")):
        return TransitCardNotFound(message, http_status=status, code=code)
    if status == 422 and code == "card_blocked":
        return TransitCardBlocked(message, http_status=status, code=code)
    if 400 <= status < 500 and status not in (408, 429):
        return TransitRefused(message, http_status=status, code=code)
    return TransitUnavailable(message, http_status=status, code=code)


# Clients kept for the process, by base URL and key: a connection to the operator (and its TLS session) outlives one
# step of a flow, instead of costing a handshake before every lookup and credit.
_KEPT: OrderedDict[str, TransitOperatorClient] = OrderedDict()
_KEPT_LOCK = threading.Lock()
KEPT_MAX = 64


def client_kept(base_url: str, api_key: str) -> TransitOperatorClient:
    """The process's client for this operator and key; never close it. Another key (a workspace's new one) makes
    another client; the least recently used beyond ``KEPT_MAX`` are forgotten (not closed: a thread may be using
    one; its sockets go with it)."""
    key = hashlib.sha256(f"{base_url}\x00{api_key}".encode()).hexdigest()
    with _KEPT_LOCK:
        client = _KEPT.get(key)
        if client is not None:
            _KEPT.move_to_end(key)
            return client
        client = _KEPT[key] = TransitOperatorClient(base_url, api_key)
        while len(_KEPT) > KEPT_MAX:
            _KEPT.popitem(last=False)
    return client
