"""A fake business endpoint for flows' integration steps: it records every request, checks its signature
as a business would (``flows.integrations.verify``), and answers what the test queued.

    endpoint = BusinessEndpoint(secret="s3cret").start()
    endpoint.queue(Reply(500), Reply(200, {"balance": 1250}))
    ... endpoint.url("/hook") ... endpoint.received ...
    endpoint.stop()

A ``Reply(hold=True)`` keeps its request waiting until ``release()`` (a slow endpoint, without sleeping).
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import anyio.to_thread
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from fakes.serving import UvicornThread, wait_for
from flows.integrations import SIGNATURE_HEADER, verify

# A held request is let go after this long even if the test never releases it (so the server can stop).
HOLD_LIMIT_SECONDS = 10.0


@dataclass
class Reply:
    """What the endpoint answers: ``json`` (encoded) or raw ``body``; ``stream``: no Content-Length."""

    status: int = 200
    json: Any = None
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    hold: bool = False
    stream: bool = False

    def content(self) -> bytes:
        if self.body is not None:
            return self.body
        return json.dumps({} if self.json is None else self.json).encode()


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    verified: bool

    def json(self) -> Any:
        return json.loads(self.body)


class BusinessEndpoint:
    """Answers queued replies in order, then ``default`` (200 with ``{}``)."""

    def __init__(self, secret: str, *, default: Reply | None = None) -> None:
        self.secret = secret
        self.default = default or Reply()
        self.received: list[Received] = []
        self._replies: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._released = threading.Event()
        self._server: UvicornThread | None = None

    def start(self) -> BusinessEndpoint:
        app = Starlette(routes=[Route("/{path:path}", self._endpoint, methods=["GET", "POST"])])
        self._server = UvicornThread(app, name="business-endpoint").start()
        return self

    def stop(self) -> None:
        self.release()
        if self._server is not None:
            self._server.stop()

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.port

    def url(self, path: str = "/hook") -> str:
        assert self._server is not None
        return f"{self._server.base_url}{path}"

    def queue(self, *replies: Reply) -> None:
        with self._lock:
            self._replies.extend(replies)

    def release(self) -> None:
        """Lets every held request (and every later one) answer."""
        self._released.set()

    def requests(self) -> list[Received]:
        with self._lock:
            return list(self.received)

    def wait_for_requests(self, count: int, timeout: float = 5.0) -> list[Received]:
        wait_for(lambda: len(self.requests()) >= count, timeout, message=f"{count} requests")
        return self.requests()

    async def _endpoint(self, request: Request) -> Response:
        body = await request.body()
        record = Received(
            method=request.method,
            path=request.url.path,
            headers={k.lower(): v for k, v in request.headers.items()},
            body=body,
            verified=verify(self.secret, request.headers.get(SIGNATURE_HEADER, ""), body),
        )
        with self._lock:
            self.received.append(record)
            reply = self._replies.popleft() if self._replies else self.default
        if reply.hold:
            await anyio.to_thread.run_sync(self._released.wait, HOLD_LIMIT_SECONDS)
        headers = {"Content-Type": "application/json", **reply.headers}
        if reply.stream:
            return StreamingResponse(_chunks(reply.content()), status_code=reply.status, headers=headers)
        return Response(reply.content(), status_code=reply.status, headers=headers)


async def _chunks(content: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(content), 16384):
        yield content[start : start + 16384]
