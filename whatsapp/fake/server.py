"""Run an ASGI app with uvicorn in a background thread (tests, in-process use) and poll for conditions."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, TypeVar

import uvicorn
from starlette.applications import Starlette

from whatsapp.fake.app import create_app
from whatsapp.fake.clock import Clock
from whatsapp.fake.engine import FakeEngine
from whatsapp.fake.state import FakeState

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
    """Serve ``app`` on 127.0.0.1 and a free port from a daemon thread; ``stop()`` shuts it down."""

    def __init__(self, app: Any, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        self.host = host
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
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, name=f"uvicorn-{self.port}", daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

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


class FakeCloudApiServer:
    """The fake Cloud API in-process: ``with FakeCloudApiServer() as fake: httpx.post(fake.base_url + ...)``."""

    def __init__(self, state: FakeState | None = None, *, clock: Clock | None = None, port: int = 0) -> None:
        self.app: Starlette = create_app(state, clock=clock)
        self.engine: FakeEngine = self.app.state.engine
        self.state: FakeState = self.engine.state
        self._uvicorn = UvicornThread(self.app, port=port)

    @property
    def base_url(self) -> str:
        return self._uvicorn.base_url

    def start(self) -> FakeCloudApiServer:
        self._uvicorn.start()
        return self

    def stop(self) -> None:
        # Release hanging "timeout" responses first so uvicorn's graceful shutdown does not wait for them.
        self.engine.abort_hangs()
        self.engine.stopping.set()
        self._uvicorn.stop()
        self.engine.stop()

    def __enter__(self) -> FakeCloudApiServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
