"""The fake transit operator in-process: uvicorn on a free port in a background thread (``fakes.serving``).

``with FakeTransitServer() as fake:`` gives ``fake.base_url`` (the product's ``TRANSIT_OPERATOR_BASE_URL``),
``fake.state`` and ``fake.admin`` (a :class:`FakeTransitAdminClient`).
"""

from __future__ import annotations

from types import TracebackType

from starlette.applications import Starlette

from fakes.clock import Clock
from fakes.serving import UvicornThread
from flows.fake.app import create_app
from flows.fake.client import FakeTransitAdminClient
from flows.fake.state import TransitState


class FakeTransitServer:
    """The fake transit operator on a background thread: ``with FakeTransitServer() as fake: ...``."""

    def __init__(self, state: TransitState | None = None, *, clock: Clock | None = None, port: int = 0) -> None:
        self.app: Starlette = create_app(state, clock=clock)
        self.state: TransitState = self.app.state.transit
        self._uvicorn = UvicornThread(self.app, port=port, name="fake-transit")
        self._admin: FakeTransitAdminClient | None = None

    @property
    def base_url(self) -> str:
        return self._uvicorn.base_url

    @property
    def admin(self) -> FakeTransitAdminClient:
        if self._admin is None:
            self._admin = FakeTransitAdminClient(self.base_url)
        return self._admin

    def start(self) -> FakeTransitServer:
        self._uvicorn.start()
        return self

    def stop(self) -> None:
        if self._admin is not None:
            self._admin.close()
        self._uvicorn.stop()

    def __enter__(self) -> FakeTransitServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
