"""A thin client for the fake's ``/_fake/`` admin API, for tests and scripts that drive the fake from outside."""

from __future__ import annotations

from types import TracebackType
from typing import Any

import httpx


class FakeAdminClient:
    def __init__(self, base_url: str, *, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        # The fake speaks plain HTTP on a local port; skipping TLS set-up also makes a client cheap to create.
        self.http = httpx.Client(base_url=self.base_url, timeout=timeout, trust_env=False, verify=False)  # noqa: S501

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.http.request(method, path, **kwargs)
        response.raise_for_status()
        return response.json()

    def register_number(self, **fields: Any) -> dict[str, Any]:
        return self._call("POST", "/_fake/phone_numbers", json=fields)

    def phone_numbers(self) -> list[dict[str, Any]]:
        return self._call("GET", "/_fake/phone_numbers")["data"]

    def inbound(self, **fields: Any) -> dict[str, Any]:
        """Make a customer send a message: ``inbound(phone_number_id=..., from_="5511...", type="text", text="hi")``."""
        if "from_" in fields:
            fields["from"] = fields.pop("from_")
        return self._call("POST", "/_fake/inbound", json=fields)

    def customer_read(self, phone_number_id: str, customer: str, message_ids: list[str] | None = None) -> list[str]:
        body: dict[str, Any] = {"phone_number_id": phone_number_id, "customer": customer}
        if message_ids is not None:
            body["message_ids"] = message_ids
        return self._call("POST", "/_fake/read", json=body)["read"]

    def set_faults(self, **faults: Any) -> dict[str, Any]:
        return self._call("POST", "/_fake/faults", json=faults)

    def clear_faults(self) -> dict[str, Any]:
        return self._call("DELETE", "/_fake/faults")

    def messages(self, **filters: str) -> list[dict[str, Any]]:
        return self._call("GET", "/_fake/messages", params=filters)["data"]

    def message(self, wamid: str) -> dict[str, Any]:
        return self._call("GET", f"/_fake/messages/{wamid}")

    def requests(self, **filters: str) -> list[dict[str, Any]]:
        return self._call("GET", "/_fake/requests", params=filters)["data"]

    def clear_requests(self) -> None:
        self._call("DELETE", "/_fake/requests")

    def webhooks(self, **filters: str) -> list[dict[str, Any]]:
        return self._call("GET", "/_fake/webhooks", params=filters)["data"]

    def templates(self, waba_id: str | None = None) -> list[dict[str, Any]]:
        params = {"waba_id": waba_id} if waba_id else {}
        return self._call("GET", "/_fake/templates", params=params)["data"]

    def add_template(self, **fields: Any) -> dict[str, Any]:
        return self._call("POST", "/_fake/templates", json=fields)

    def approve_template(self, template_id: str) -> dict[str, Any]:
        return self._call("POST", f"/_fake/templates/{template_id}/approve", json={})

    def reject_template(self, template_id: str, reason: str = "INVALID_FORMAT", **extra: Any) -> dict[str, Any]:
        return self._call("POST", f"/_fake/templates/{template_id}/reject", json={"reason": reason, **extra})

    def pause_template(self, template_id: str, title: str = "FIRST_PAUSE", **extra: Any) -> dict[str, Any]:
        return self._call("POST", f"/_fake/templates/{template_id}/pause", json={"title": title, **extra})

    def set_template_quality(self, template_id: str, score: str) -> dict[str, Any]:
        return self._call("POST", f"/_fake/templates/{template_id}/quality", json={"score": score})

    def catalog_create(self, name: str = "", *, waba_id: str | None = None, catalog_id: str | None = None) -> str:
        """A catalog as Commerce Manager makes one (owned by ``waba_id``'s business when given); returns its id."""
        body: dict[str, Any] = {"name": name}
        if waba_id:
            body["waba_id"] = waba_id
        if catalog_id:
            body["id"] = catalog_id
        return self._call("POST", "/_fake/catalogs", json=body)["id"]

    def catalogs(self) -> list[dict[str, Any]]:
        return self._call("GET", "/_fake/catalogs")["data"]

    def catalog(self, catalog_id: str) -> dict[str, Any]:
        """A catalog with its linked WABAs and products (``price`` in minor units, ``price_display``)."""
        return self._call("GET", f"/_fake/catalogs/{catalog_id}")

    def catalog_item_errors(self, catalog_id: str, errors: dict[str, Any]) -> dict[str, Any]:
        """Make Meta refuse items: ``{"SKU": "message"}`` (at ingestion) or ``{"SKU": {"message", "stage":
        "validation"}}`` (in the batch's answer); ``None`` clears one."""
        return self._call("POST", f"/_fake/catalogs/{catalog_id}/item_errors", json=errors)["item_errors"]

    def advance_clock(self, seconds: float) -> float:
        return self._call("POST", "/_fake/clock", json={"advance_s": seconds})["now"]

    def set_clock(self, epoch_seconds: float) -> float:
        return self._call("POST", "/_fake/clock", json={"set": epoch_seconds})["now"]

    def settings(self, **values: Any) -> dict[str, Any]:
        if values:
            return self._call("POST", "/_fake/settings", json=values)
        return self._call("GET", "/_fake/settings")

    def health(self) -> dict[str, Any]:
        return self._call("GET", "/_fake/health")

    def reset(self) -> None:
        self._call("POST", "/_fake/reset")

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> FakeAdminClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
