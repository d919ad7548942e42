"""Webhook POSTs served straight from the ASGI server.

Webhooks are the product's busiest requests and need none of what Django's request handling does for
browsers (sessions, CSRF, authentication, locale, messages, tenant resolution). ``FastPostReceiver`` sits in
front of Django: a POST to one of the views it was given costs one hop to a worker thread, where that view's
handler does what the view does with the body; every other request, including a host Django would refuse,
goes to Django unchanged. Nothing here knows an app: the ASGI wiring hands it the apps' handlers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import close_old_connections
from django.http import HttpResponse
from django.http.request import split_domain_port, validate_host
from django.urls import Resolver404, resolve

logger = logging.getLogger(__name__)

Scope = dict[str, Any]


@dataclass(frozen=True)
class Post:
    """A webhook POST as a handler sees it: the URL's keyword arguments (with the route's extra ones), the
    raw body, the headers (names in lower case) and the query string."""

    kwargs: Mapping[str, Any]
    body: bytes
    headers: Mapping[str, str]
    query: Mapping[str, str]


@dataclass(frozen=True)
class Route:
    """What serves the POSTs of one view: ``handle`` (called on a worker thread) and the answer to a body
    larger than ``limit`` bytes (Django's ``DATA_UPLOAD_MAX_MEMORY_SIZE`` when not given)."""

    handle: Callable[[Post], HttpResponse]
    too_large: Callable[[], HttpResponse]
    limit: int | None = None


class FastPostReceiver:
    """ASGI middleware in front of Django: POSTs to the views of ``routes`` go to their route."""

    def __init__(self, app: Any, routes: Mapping[Callable[..., Any], Route]) -> None:
        self.app = app
        self.routes = dict(routes)

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        found = self._route_for(scope)
        if found is None:
            await self.app(scope, receive, send)
            return
        route, kwargs = found
        body = await _read_body(receive, limit=route.limit or settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
        if body is None:
            await _respond(send, route.too_large())
            return
        headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]}
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True))
        post = Post(kwargs=kwargs, body=body, headers=headers, query=query)
        response = await sync_to_async(_run, thread_sensitive=False)(route, post)
        await _respond(send, response)

    def _route_for(self, scope: Scope) -> tuple[Route, dict[str, Any]] | None:
        if scope["type"] != "http" or scope["method"] != "POST":
            return None
        path = scope["path"]
        root = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :]
        try:
            match = resolve(path)  # the project's own URL of the view
        except Resolver404:
            return None
        route = self.routes.get(match.func)
        if route is None or not _host_allowed(header(scope, b"host") or ""):
            return None  # Django answers, as for any other address (a refused host gets its 400)
        return route, dict(match.kwargs)


def _run(route: Route, post: Post) -> HttpResponse:
    try:
        return route.handle(post)
    except Exception:
        # Nothing was kept, so the sender must post it again: a 503 makes it retry later.
        logger.exception("Could not take a webhook")
        return HttpResponse("The webhook could not be stored; try again later.", status=503, content_type="text/plain")
    finally:
        # As at the end of a Django request: give the connection back (to the pool on PostgreSQL).
        close_old_connections()


def _host_allowed(host: str) -> bool:
    allowed = settings.ALLOWED_HOSTS
    if settings.DEBUG and not allowed:
        allowed = [".localhost", "127.0.0.1", "[::1]"]
    domain, _port = split_domain_port(host)
    return bool(domain) and validate_host(domain, allowed)


def header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key.lower() == name:
            return value.decode("latin-1")
    return None


async def _read_body(receive: Any, *, limit: int | None) -> bytes | None:
    """The request body, or None once it grows past ``limit`` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if limit is not None and size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def _respond(send: Any, response: HttpResponse) -> None:
    body = response.content
    headers = [(b"content-type", response["Content-Type"].encode("latin-1")), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": body})
