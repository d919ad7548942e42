"""The fake PSP in-process: uvicorn on a free port in a background thread, plus polling helpers for tests.

``with FakePspServer(clock=AdjustableClock(start, frozen=True)) as fake:`` gives ``fake.pix_api_url``,
``fake.pix_token_url``, ``fake.mercadopago_url``, ``fake.stripe_url`` and ``fake.admin`` (a
:class:`FakePspAdminClient`).
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, TypeVar

import httpx
import uvicorn
from starlette.applications import Starlette

from payments.fake.app import create_app
from payments.fake.client import FakePspAdminClient
from payments.fake.clock import Clock
from payments.fake.state import FakePspState, Settings
from payments.fake.tls import ServerTls, uvicorn_options

T = TypeVar("T")


def wait_for(predicate: Callable[[], T], timeout: float = 5.0, *, interval: float = 0.01, message: str = "") -> T:
    """Poll ``predicate`` until it returns something truthy (and return that); raise after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise TimeoutError(message or f"condition not met within {timeout}s")
        time.sleep(interval)


class UvicornThread:
    """Serve ``app`` on ``host`` and a free port (or ``port``) from a daemon thread; ``stop()`` shuts it down."""

    def __init__(self, app: Any, *, host: str = "127.0.0.1", port: int = 0, tls: ServerTls | None = None) -> None:
        self.host = host
        self.scheme = "https" if tls else "http"
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, port))
        self.port = self._sock.getsockname()[1]
        options = uvicorn_options(tls) if tls else {}
        config = uvicorn.Config(
            app, log_level="warning", access_log=False, lifespan="on", timeout_graceful_shutdown=1, **options
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, name=f"fake-psp-{self.port}", daemon=True)

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"

    def _run(self) -> None:
        self._server.run(sockets=[self._sock])

    def start(self, timeout: float = 10.0) -> UvicornThread:
        self._thread.start()
        wait_for(lambda: self._server.started or not self._thread.is_alive(), timeout, message="uvicorn did not start")
        if not self._server.started:
            raise RuntimeError("uvicorn failed to start")
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._server.should_exit = True
        self._thread.join(timeout)
        self._sock.close()


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
