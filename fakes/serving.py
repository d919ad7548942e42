"""An ASGI app served by uvicorn on a background thread (tests, in-process fakes), and polling for conditions."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import uvicorn

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


def stays_false(predicate: Callable[[], Any], duration: float = 0.3, *, interval: float = 0.01) -> bool:
    """Bounded poll for "nothing else happens": True if ``predicate`` stayed falsy for ``duration`` seconds."""
    deadline = time.monotonic() + duration
    while time.monotonic() < deadline:
        if predicate():
            return False
        time.sleep(interval)
    return not predicate()


class UvicornThread:
    """Serve ``app`` on ``host`` and a free port (or ``port``) from a daemon thread; ``stop()`` shuts it down.

    ``tls_options`` are uvicorn's ``ssl_*`` settings: given, the server speaks HTTPS.
    """

    def __init__(
        self,
        app: Any,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        tls_options: Mapping[str, Any] | None = None,
        name: str = "uvicorn",
    ) -> None:
        self.app = app
        self.host = host
        self.scheme = "https" if tls_options else "http"
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, port))
        self.port = self._sock.getsockname()[1]
        config = uvicorn.Config(
            app,
            log_level="warning",
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=1,
            timeout_keep_alive=5,
            **dict(tls_options or {}),
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, name=f"{name}-{self.port}", daemon=True)

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
