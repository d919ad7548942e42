"""Meta's webhook POSTs, served straight from the ASGI server.

Webhooks are the product's busiest request and need none of what Django's request handling does
for browsers (sessions, CSRF, authentication, locale, messages, tenant resolution). Here a POST
costs one hop to a worker thread, which checks the signature and stores the body exactly as the
Django view does (``whatsapp.webhooks.webhook_receive``); every other request, including the GET
verification handshake and a host Django would refuse, goes to Django unchanged.
"""

from __future__ import annotations

import logging
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import close_old_connections
from django.http.request import split_domain_port, validate_host
from django.urls import Resolver404, resolve

from whatsapp.webhooks import Receipt, receipt_response, webhook_receive, whatsapp_webhook

logger = logging.getLogger(__name__)

Scope = dict[str, Any]


class WebhookReceiver:
    """ASGI middleware in front of Django: takes WhatsApp webhook POSTs, passes everything else on."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        key = _webhook_key(scope)
        if key is None:
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive, limit=settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
        if body is None:
            await _respond(send, Receipt(413, "The webhook body is too large."))
            return
        signature = _header(scope, b"x-hub-signature-256")
        receipt = await sync_to_async(_receive, thread_sensitive=False)(key, body, signature)
        await _respond(send, receipt)


def _webhook_key(scope: Scope) -> str | None:
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
    if match.func is not whatsapp_webhook or not _host_allowed(_header(scope, b"host") or ""):
        return None  # Django answers, as for any other address (a refused host gets its 400)
    return str(match.kwargs["webhook_key"])


def _host_allowed(host: str) -> bool:
    allowed = settings.ALLOWED_HOSTS
    if settings.DEBUG and not allowed:
        allowed = [".localhost", "127.0.0.1", "[::1]"]
    domain, _port = split_domain_port(host)
    return bool(domain) and validate_host(domain, allowed)


def _header(scope: Scope, name: bytes) -> str | None:
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


def _receive(webhook_key: str, body: bytes, signature: str | None) -> Receipt:
    try:
        return webhook_receive(webhook_key=webhook_key, body=body, signature=signature)
    except Exception:
        # Unstored, so Meta must send it again: a 503 makes it retry later.
        logger.exception("Could not store a WhatsApp webhook")
        return Receipt(503, "The webhook could not be stored; try again later.")
    finally:
        # As at the end of a Django request: give the connection back (to the pool on PostgreSQL).
        close_old_connections()


async def _respond(send: Any, receipt: Receipt) -> None:
    response = receipt_response(receipt)  # the same answer the Django view gives
    body = response.content
    headers = [(b"content-type", response["Content-Type"].encode("latin-1")), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": body})
