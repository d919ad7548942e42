"""The fake PSP as one Starlette app: API Pix under ``/pix``, Mercado Pago under ``/mercadopago``, Stripe under
``/stripe``, the admin API under ``/_fake/`` and the payer's pages.

``create_app()`` holds no global state: two apps (two tests' servers) can live in one process. The fake never imports
Django nor the product; from ``payments`` it uses only the standard-library modules ``brcode`` and ``signatures``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qsl

import httpx
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from payments.fake import admin, mercadopago, pages, pix, problems, stripe
from payments.fake.clock import Clock
from payments.fake.delivery import Dispatcher
from payments.fake.state import FakePspState, Fault, Settings
from payments.fake.wire import compact_json

# Pages under the providers' prefixes: a person's browser, not an API client.
PAGE_PREFIXES = ("/mercadopago/checkout/v1/", "/mercadopago/sandbox/", "/stripe/c/")
PROVIDER_PREFIXES = {"/pix/": "pix", "/mercadopago/": "mercadopago", "/stripe/": "stripe"}
BODY_RECORD_LIMIT = 20_000


def provider_of(path: str) -> str | None:
    if path.startswith(PAGE_PREFIXES):
        return None
    return next((name for prefix, name in PROVIDER_PREFIXES.items() if path.startswith(prefix)), None)


def fault_response(provider: str, status: int) -> Response:
    """An injected failure in the provider's own error shape."""
    if provider == "pix":
        problem = {503: problems.servico_indisponivel, 504: problems.tempo_esgotado}.get(
            status, problems.erro_interno
        )()
        problem.status = status
        return problem.response()
    headers = {"Retry-After": "1"} if status in (423, 429) else {}
    if provider == "mercadopago":
        body: dict[str, Any] = {"message": "fake fault", "error": "internal_error", "status": status, "cause": []}
    else:
        kind = "rate_limit_error" if status == 429 else "api_error"
        body = {"error": {"type": kind, "message": "fake fault"}}
    return Response(compact_json(body), status_code=status, media_type="application/json", headers=headers)


class ProviderTraffic:
    """Pure ASGI middleware for the provider APIs: injects the configured faults and records every request."""

    def __init__(self, app: ASGIApp, state: FakePspState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        provider = provider_of(scope.get("path", "")) if scope["type"] == "http" else None
        if provider is None:
            await self.app(scope, receive, send)
            return
        record = self._record(scope, provider)
        fault = self._take_fault(provider)
        if fault is not None and fault.delay_ms:
            await asyncio.sleep(fault.delay_ms / 1000)
        app: ASGIApp = self.app
        if fault is not None and fault.status:
            app = fault_response(provider, fault.status)
        await app(scope, self._recording_receive(receive, record), self._recording_send(send, record))

    def _record(self, scope: Scope, provider: str) -> dict[str, Any]:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        authorization = headers.pop("authorization", None)
        with self.state.lock:
            record: dict[str, Any] = {
                "id": self.state.next_id(),
                "at": self.state.now(),
                "provider": provider,
                "method": scope["method"],
                "path": scope["path"],
                "query": dict(parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)),
                "headers": headers,
                # The scheme only: credentials never reach the request log.
                "authorization": authorization.split(" ", 1)[0] if authorization else None,
                "status_code": None,
            }
            self.state.requests.append(record)
        return record

    def _take_fault(self, provider: str) -> Fault | None:
        with self.state.lock:
            for fault in self.state.faults:
                if fault.provider == provider:
                    fault.times -= 1
                    if fault.times <= 0:
                        self.state.faults.remove(fault)
                    return fault
        return None

    def _recording_receive(self, receive: Receive, record: dict[str, Any]) -> Receive:
        chunks: list[bytes] = []

        async def recording_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                chunks.append(message.get("body", b""))
                if not message.get("more_body"):
                    self._record_body(record, b"".join(chunks))
            return message

        return recording_receive

    def _record_body(self, record: dict[str, Any], raw: bytes) -> None:
        if not raw:
            return
        text = raw[:BODY_RECORD_LIMIT].decode("utf-8", "replace")
        content_type = record["headers"].get("content-type", "")
        with self.state.lock:
            record["body"] = text
            if content_type.startswith("application/x-www-form-urlencoded"):
                record["form"] = dict(parse_qsl(text, keep_blank_values=True))
            else:
                with contextlib.suppress(json.JSONDecodeError):
                    record["json"] = json.loads(text)

    def _recording_send(self, send: Send, record: dict[str, Any]) -> Send:
        async def recording_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                with self.state.lock:
                    record["status_code"] = message["status"]
            await send(message)

        return recording_send


def create_app(
    state: FakePspState | None = None,
    *,
    clock: Clock | None = None,
    settings: Settings | None = None,
    delivery_transport: httpx.BaseTransport | None = None,
    delivery_tls: ssl.SSLContext | None = None,
) -> Starlette:
    """A fresh fake PSP. ``clock`` returns epoch seconds (default: real time that ``/_fake/clock`` can move);
    ``delivery_transport`` lets a test receive callbacks and webhooks without a socket; ``delivery_tls`` (a context
    with the PSP's client certificate loaded) makes callbacks mutual TLS, as API Pix requires."""
    state = state or FakePspState(settings, clock=clock)
    dispatcher = Dispatcher(state, transport=delivery_transport, tls=delivery_tls)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        dispatcher.stop()

    app = Starlette(
        routes=[*pix.routes(), *mercadopago.routes(), *stripe.routes(), *admin.routes(), *pages.routes()],
        lifespan=lifespan,
    )
    app.state.fake = state
    app.state.dispatcher = dispatcher
    app.state.pix = pix.PixEngine(state, dispatcher)
    app.state.mercadopago = mercadopago.MercadoPagoEngine(state, dispatcher)
    app.state.stripe = stripe.StripeEngine(state, dispatcher)
    app.add_middleware(ProviderTraffic, state=state)
    return app
