"""The ASGI handler: reads run side by side on the thread pool, writes in turn on their one thread."""

from __future__ import annotations

import asyncio
import threading
from types import SimpleNamespace
from typing import Any

from asgiref.sync import async_to_sync
from django.core.handlers.base import BaseHandler

from helpdesk import handlers


def handler_with(monkeypatch: Any, probe: Any) -> handlers.SyncStackASGIHandler:
    def load(self: BaseHandler, is_async: bool = False) -> None:
        self._middleware_chain = probe

    monkeypatch.setattr(BaseHandler, "load_middleware", load)
    return handlers.SyncStackASGIHandler()


def test_two_reads_run_at_the_same_time_and_give_their_connections_back(monkeypatch):
    both_in = threading.Barrier(2, timeout=10)  # broken (an error) unless both reads are in at once
    threads: list[int] = []
    released: list[int] = []
    monkeypatch.setattr(handlers, "close_old_connections", lambda: released.append(threading.get_ident()))

    def probe(request: Any) -> str:
        threads.append(threading.get_ident())
        both_in.wait()
        return "ok"

    handler = handler_with(monkeypatch, probe)

    async def two_reads() -> list[Any]:
        return await asyncio.gather(
            handler._middleware_chain(SimpleNamespace(method="GET")),
            handler._middleware_chain(SimpleNamespace(method="HEAD")),
        )

    assert async_to_sync(two_reads)() == ["ok", "ok"]
    assert len(set(threads)) == 2
    # Each thread hands its connections back before and after its request.
    assert sorted(released) == sorted(threads * 2)


def test_writes_run_in_turn_on_one_thread(monkeypatch):
    threads: list[int] = []
    inside = 0
    overlapped = False
    released: list[int] = []
    monkeypatch.setattr(handlers, "close_old_connections", lambda: released.append(threading.get_ident()))

    def probe(request: Any) -> str:
        nonlocal inside, overlapped
        inside += 1
        overlapped = overlapped or inside > 1
        threads.append(threading.get_ident())
        inside -= 1
        return request.method

    handler = handler_with(monkeypatch, probe)

    async def writes() -> list[Any]:
        return await asyncio.gather(
            *(handler._middleware_chain(SimpleNamespace(method=m)) for m in ("POST", "PUT", "DELETE", "POST"))
        )

    assert async_to_sync(writes)() == ["POST", "PUT", "DELETE", "POST"]
    # The one thread of synchronous code: under async_to_sync, the thread that called it (this one).
    assert threads == [threading.get_ident()] * 4 and not overlapped
    assert released == []  # the request's own signals close the connections of that thread
