"""A thin client for the fake transit operator's ``/_fake/`` admin API, for tests and scripts."""

from __future__ import annotations

from types import TracebackType
from typing import Any

import httpx


class FakeAdminError(Exception):
    """The admin API refused: 400 (bad request) or 404 (unknown card)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message


class FakeTransitAdminClient:
    def __init__(self, base_url: str, *, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.http = httpx.Client(base_url=self.base_url, timeout=timeout, trust_env=False)

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.http.request(method, path, **kwargs)
        if response.status_code >= 400:
            problem = response.json().get("error", {})
            raise FakeAdminError(response.status_code, problem.get("code", ""), problem.get("message", ""))
        return response.json()

    def health(self) -> dict[str, Any]:
        return self._call("GET", "/_fake/health")

    def reset(self, *, demo: bool = False) -> None:
        """Forget everything (keys, cards, credits, failures, the request log); ``demo`` seeds the demo again."""
        self._call("POST", "/_fake/reset", json={"demo": demo})

    def add_key(self, key: str, name: str = "") -> None:
        self._call("POST", "/_fake/keys", json={"key": key, "name": name})

    def add_card(
        self, number: str, holder_name: str, *, balance: int = 0, currency: str = "BRL", status: str = "active"
    ) -> dict[str, Any]:
        """Create or replace the card (a replaced card's credits are forgotten); ``balance`` in centavos."""
        body = {"number": number, "holder_name": holder_name, "balance": balance, "currency": currency}
        return self._call("POST", "/_fake/cards", json={**body, "status": status})

    def card(self, number: str) -> dict[str, Any]:
        """The card as the fake keeps it: full holder name, balance and every credit (with its idempotency key)."""
        return self._call("GET", f"/_fake/cards/{number}")

    def cards(self) -> list[dict[str, Any]]:
        return self._call("GET", "/_fake/cards")["data"]

    def fail(
        self,
        mode: str,
        *,
        count: int = 1,
        number: str | None = None,
        operation: str = "credit",
        delay_s: float | None = None,
        applied: bool = False,
    ) -> list[dict[str, Any]]:
        """The next ``count`` calls (``credit`` or ``lookup``, on ``number`` or any card) that would succeed fail:
        ``error_500``, ``timeout`` (answer after ``delay_s``) or ``reject``; ``none`` drops the waiting ones."""
        body: dict[str, Any] = {"mode": mode, "count": count, "number": number, "operation": operation}
        if delay_s is not None:
            body["delay_s"] = delay_s
        if applied:
            body["applied"] = True
        return self._call("POST", "/_fake/failures", json=body)["data"]

    def failures(self) -> list[dict[str, Any]]:
        return self._call("GET", "/_fake/failures")["data"]

    def requests(self) -> list[dict[str, Any]]:
        """Calls of the card API, oldest first: method, path, idempotency_key, json, status_code (never the key)."""
        return self._call("GET", "/_fake/requests")["data"]

    def clear_requests(self) -> None:
        self._call("DELETE", "/_fake/requests")

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> FakeTransitAdminClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
