"""The ASGI handler of the product's HTTP side."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIHandler
from django.db import close_old_connections
from django.http import HttpRequest, HttpResponse

# Reads run side by side on a few threads; writes keep their one thread (their order and locks are
# as they were, and a burst of reads never waits behind them nor they behind it).
PARALLEL_METHODS = frozenset({"GET", "HEAD"})


class SyncStackASGIHandler(ASGIHandler):
    """Django's ASGI handler, with the middleware stack and the views run as one synchronous call.

    Every middleware and view of the product is synchronous. Django's own ASGI handler keeps the
    innermost handler asynchronous, so a request crosses threads three times (into the middleware,
    back to the event loop under the last middleware, into the view); here it crosses once, which
    makes a cheap request such as a webhook about a third cheaper. WebSockets are not affected.

    Reads (GET, HEAD: the inbox's fragments after a live gap, pages) run on the event loop's thread
    pool rather than all in turn on the one thread of writes; each gives its database connection
    back (to the pool) before its thread takes the next request.
    """

    def load_middleware(self, is_async: bool = False) -> None:
        super().load_middleware(is_async=False)
        chain = self._middleware_chain
        serial = sync_to_async(chain, thread_sensitive=True)
        parallel = sync_to_async(_releasing_connections(chain), thread_sensitive=False)

        async def dispatch(request: HttpRequest) -> HttpResponse:
            if request.method in PARALLEL_METHODS:
                return await parallel(request)  # type: ignore[no-any-return]
            return await serial(request)  # type: ignore[no-any-return]

        self._middleware_chain: Any = dispatch


def _releasing_connections(chain: Callable[[HttpRequest], HttpResponse]) -> Callable[[HttpRequest], HttpResponse]:
    def run(request: HttpRequest) -> HttpResponse:
        close_old_connections()
        try:
            return chain(request)
        finally:
            # request_finished closes the connections of the thread that sends it, not this one's.
            close_old_connections()

    return run
