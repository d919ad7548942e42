"""The fake Cloud API in-process (uvicorn on a background thread: ``fakes.serving``), for tests."""

from __future__ import annotations

from types import TracebackType

from starlette.applications import Starlette

from fakes.serving import UvicornThread, stays_false, wait_for
from whatsapp.fake.app import create_app
from whatsapp.fake.clock import Clock
from whatsapp.fake.engine import FakeEngine
from whatsapp.fake.state import FakeState


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


__all__ = ["FakeCloudApiServer", "UvicornThread", "stays_false", "wait_for"]
