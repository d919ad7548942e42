"""A thin client for the fake PSP's ``/_fake/`` admin API, for tests and scripts that drive the fake from outside."""

from __future__ import annotations

from types import TracebackType
from typing import Any

import httpx


class FakeAdminError(Exception):
    """The admin API refused: 400 (bad request), 404 (unknown charge), 409 (the payer's bank or checkout refused)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


class FakePspAdminClient:
    def __init__(self, base_url: str, *, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.http = httpx.Client(base_url=self.base_url, timeout=timeout, trust_env=False)

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.http.request(method, path, **kwargs)
        if response.status_code >= 400:
            raise FakeAdminError(response.status_code, response.json().get("error", response.text))
        return response.json()

    # --- Housekeeping -----------------------------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        return self._call("GET", "/_fake/health")

    def reset(self) -> None:
        self._call("POST", "/_fake/reset")

    def settings(self, **values: Any) -> dict[str, Any]:
        if values:
            return self._call("POST", "/_fake/settings", json=values)
        return self._call("GET", "/_fake/settings")

    def now(self) -> float:
        return self._call("GET", "/_fake/clock")["now"]

    def advance_clock(self, seconds: float) -> float:
        return self._call("POST", "/_fake/clock", json={"advance_s": seconds})["now"]

    def set_clock(self, epoch_seconds: float) -> float:
        return self._call("POST", "/_fake/clock", json={"set": epoch_seconds})["now"]

    def add_fault(self, provider: str, *, status: int | None = None, delay_ms: int = 0, times: int = 1) -> None:
        """The next ``times`` requests to ``provider`` (pix, mercadopago, stripe) answer ``status``, or wait first."""
        self._call(
            "POST", "/_fake/faults", json={"provider": provider, "status": status, "delay_ms": delay_ms, "times": times}
        )

    def faults(self) -> list[dict[str, Any]]:
        return self._call("GET", "/_fake/faults")["faults"]

    def clear_faults(self) -> None:
        self._call("DELETE", "/_fake/faults")

    def requests(self, provider: str | None = None, **filters: str) -> list[dict[str, Any]]:
        """Requests received by the provider APIs (``method=``, ``path_contains=``), oldest first."""
        params = {**filters, **({"provider": provider} if provider else {})}
        return self._call("GET", "/_fake/requests", params=params)["data"]

    def clear_requests(self) -> None:
        self._call("DELETE", "/_fake/requests")

    def deliveries(self, provider: str | None = None, state: str | None = None) -> list[dict[str, Any]]:
        """Callbacks and webhooks the fake sent, with every attempt (``state``: held, pending, delivered, failed)."""
        params = {name: value for name, value in (("provider", provider), ("state", state)) if value}
        return self._call("GET", "/_fake/deliveries", params=params)["data"]

    def clear_deliveries(self) -> None:
        self._call("DELETE", "/_fake/deliveries")

    def release_deliveries(self, *, reverse: bool = False) -> int:
        return self._call("POST", "/_fake/deliveries/release", json={"reverse": reverse})["released"]

    # --- API Pix ----------------------------------------------------------------------------------------------------

    def add_pix_receiver(self, **fields: Any) -> dict[str, Any]:
        """``id, client_id, client_secret, keys, cert_thumbprint?, scopes?, merchant_name?, merchant_city?``."""
        return self._call("POST", "/_fake/pix/receivers", json=fields)

    def pix_cobs(self) -> list[dict[str, Any]]:
        return self._call("GET", "/_fake/pix/cobs")["data"]

    def pix_lookup(self, code: str) -> dict[str, Any]:
        return self._call("POST", "/_fake/pix/lookup", json={"code": code})

    def pix_pay(
        self,
        txid: str | None = None,
        *,
        code: str | None = None,
        amount: int | None = None,
        times: int = 1,
        force: bool = False,
        info_pagador: str | None = None,
    ) -> dict[str, Any]:
        """The payer pays the charge (by ``txid`` or copy-and-paste ``code``); ``amount`` in centavos."""
        body = {"txid": txid, "code": code, "amount": amount, "times": times, "force": force}
        if info_pagador:
            body["info_pagador"] = info_pagador
        return self._call("POST", "/_fake/pix/pay", json=body)

    def pix_settle_refund(
        self, e2eid: str, refund_id: str, *, status: str = "DEVOLVIDO", motivo: str | None = None
    ) -> dict[str, Any]:
        body = {"e2eid": e2eid, "id": refund_id, "status": status, "motivo": motivo}
        return self._call("POST", "/_fake/pix/devolucao/settle", json=body)

    # --- Mercado Pago and Stripe ------------------------------------------------------------------------------------

    def add_mercadopago_account(self, **fields: Any) -> dict[str, Any]:
        """``access_token, webhook_secret, collector_id?, client_id?, name?, webhook_url?``."""
        return self._call("POST", "/_fake/mercadopago/accounts", json=fields)

    def mercadopago_checkout(self, preference_id: str, result: str = "approved") -> dict[str, Any]:
        """One attempt on the link's checkout: ``approved``, ``rejected`` or ``pending``; returns the payment."""
        return self._call("POST", f"/_fake/mercadopago/checkout/{preference_id}", json={"result": result})

    def mercadopago_set_status(self, payment_id: str, status: str, detail: str | None = None) -> dict[str, Any]:
        body = {"status": status, "status_detail": detail}
        return self._call("POST", f"/_fake/mercadopago/payments/{payment_id}", json=body)

    def add_stripe_account(self, **fields: Any) -> dict[str, Any]:
        """``secret_key, webhook_secret, webhook_url?``."""
        return self._call("POST", "/_fake/stripe/accounts", json=fields)

    def stripe_checkout(self, session_id: str, result: str = "paid", **payer: str) -> dict[str, Any]:
        """The payer pays (``paid``) or cancels (``expire``) on the hosted checkout page; returns the session."""
        return self._call("POST", f"/_fake/stripe/checkout/{session_id}", json={"result": result, **payer})

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> FakePspAdminClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
