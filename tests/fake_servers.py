"""What the fake servers' test fixtures share: the shape of a JSON value, and a tiny HTTP server standing in
for the product's webhook endpoints (it records every request verbatim)."""

from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any, ClassVar

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from fakes.serving import UvicornThread, wait_for


def shape(value: Any) -> Any:
    """The structure of a JSON value: dict keys (recursively) and list item shapes, without the data."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(item) for item in value[:1]]
    return type(value).__name__


@dataclass
class ReceivedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class RecordingServer:
    """Records every request verbatim and answers the statuses queued with ``fail_next`` (200 otherwise)."""

    methods: ClassVar[tuple[str, ...]] = ("POST",)

    received: list[ReceivedRequest] = field(default_factory=list)
    _statuses: deque[int] = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: UvicornThread | None = None

    def start(self) -> Any:
        app = Starlette(routes=[Route("/{path:path}", self._endpoint, methods=list(self.methods))])
        self._server = UvicornThread(app).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()

    @property
    def base_url(self) -> str:
        assert self._server is not None
        return self._server.base_url

    async def _endpoint(self, request: Request) -> Response:
        record = ReceivedRequest(
            method=request.method,
            path=request.url.path,
            query=dict(request.query_params),
            headers={k.lower(): v for k, v in request.headers.items()},
            body=await request.body(),
        )
        with self._lock:
            self.received.append(record)
            status = self._statuses.popleft() if self._statuses else 200
        return self.answer(request, status)

    def answer(self, request: Request, status: int) -> Response:
        return PlainTextResponse("ok" if status < 300 else "error", status_code=status)

    def fail_next(self, count: int, status: int = 500) -> None:
        with self._lock:
            self._statuses.extend([status] * count)

    def reset_responses(self) -> None:
        with self._lock:
            self._statuses.clear()

    def clear(self) -> None:
        with self._lock:
            self.received.clear()

    def posts(self, path: str | None = None) -> list[ReceivedRequest]:
        with self._lock:
            return [r for r in self.received if r.method == "POST" and (path is None or r.path == path)]

    def wait_for_posts(self, count: int, path: str | None = None, timeout: float = 5.0) -> list[ReceivedRequest]:
        return wait_for(lambda: len(self.posts(path)) >= count and self.posts(path), timeout, message=f"{count} posts")
