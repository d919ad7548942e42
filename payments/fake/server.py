"""The fake PSP in-process: uvicorn on a free port in a background thread, plus polling helpers for tests.

``with FakePspServer(clock=AdjustableClock(start, frozen=True)) as fake:`` gives ``fake.pix_api_url``,
``fake.pix_token_url``, ``fake.mercadopago_url``, ``fake.stripe_url`` and ``fake.admin`` (a
:class:`FakePspAdminClient`).
"""

from __future__ import annotations

import ssl
from types import TracebackType
from typing import Any

import httpx
from starlette.applications import Starlette

from fakes import serving
from fakes.serving import wait_for
from payments.fake.app import create_app
from payments.fake.client import FakePspAdminClient
from payments.fake.clock import Clock
from payments.fake.state import FakePspState, Settings
from payments.fake.tls import ServerTls, uvicorn_options


class UvicornThread(serving.UvicornThread):
    """The fakes' server thread (``fakes.serving``), speaking HTTPS with mutual TLS when given ``tls``."""

    def __init__(self, app: Any, *, host: str = "127.0.0.1", port: int = 0, tls: ServerTls | None = None) -> None:
        super().__init__(app, host=host, port=port, tls_options=uvicorn_options(tls) if tls else None, name="fake-psp")


class FakePspServer:
    """The fake PSP on a background thread: ``with FakePspServer() as fake: ...``."""

    def __init__(
        self,
        state: FakePspState | None = None,
        *,
        clock: Clock | None = None,
        settings: Settings | None = None,
        port: int = 0,
        tls: ServerTls | None = None,
        delivery_transport: httpx.BaseTransport | None = None,
        delivery_tls: ssl.SSLContext | None = None,
    ) -> None:
        self.app: Starlette = create_app(
            state,
            clock=clock,
            settings=settings,
            delivery_transport=delivery_transport,
            delivery_tls=delivery_tls,
        )
        self.state: FakePspState = self.app.state.fake
        self._uvicorn = UvicornThread(self.app, port=port, tls=tls)
        self._admin: FakePspAdminClient | None = None

    @property
    def base_url(self) -> str:
        return self._uvicorn.base_url

    @property
    def pix_api_url(self) -> str:
        return f"{self.base_url}/pix/api/v2"

    @property
    def pix_token_url(self) -> str:
        return f"{self.base_url}/pix/oauth/token"

    @property
    def mercadopago_url(self) -> str:
        return f"{self.base_url}/mercadopago"

    @property
    def stripe_url(self) -> str:
        return f"{self.base_url}/stripe"

    @property
    def admin(self) -> FakePspAdminClient:
        """An admin client (over plain HTTP only; a TLS fake is driven through ``state`` and the engines)."""
        if self._admin is None:
            self._admin = FakePspAdminClient(self.base_url)
        return self._admin

    def pending_deliveries(self) -> int:
        return int(self.app.state.dispatcher.pending())

    def start(self) -> FakePspServer:
        self._uvicorn.start()
        return self

    def stop(self) -> None:
        if self._admin is not None:
            self._admin.close()
        self.app.state.dispatcher.stop()
        self._uvicorn.stop()

    def __enter__(self) -> FakePspServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


__all__ = ["FakePspServer", "UvicornThread", "wait_for"]
