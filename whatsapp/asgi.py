"""Meta's webhook POSTs, served straight from the ASGI server (``helpdesk.fast_posts``).

A POST costs one hop to a worker thread, which checks the signature and stores the body exactly as the
Django view does (``whatsapp.webhooks.webhook_receive``); every other request, including the GET
verification handshake, goes to Django unchanged.
"""

from __future__ import annotations

import logging
from typing import Any

from helpdesk.fast_posts import FastPostReceiver, Post, Route
from whatsapp.webhooks import Receipt, receipt_response, webhook_receive, whatsapp_webhook

logger = logging.getLogger(__name__)


def _handle(post: Post) -> Any:
    return receipt_response(
        _receive(str(post.kwargs["webhook_key"]), post.body, post.headers.get("x-hub-signature-256"))
    )


def _receive(webhook_key: str, body: bytes, signature: str | None) -> Receipt:
    try:
        return webhook_receive(webhook_key=webhook_key, body=body, signature=signature)
    except Exception:
        # Unstored, so Meta must send it again: a 503 makes it retry later.
        logger.exception("Could not store a WhatsApp webhook")
        return Receipt(503, "The webhook could not be stored; try again later.")


ROUTES = {
    whatsapp_webhook: Route(
        handle=_handle, too_large=lambda: receipt_response(Receipt(413, "The webhook body is too large."))
    )
}


class WebhookReceiver(FastPostReceiver):
    """The fast path of WhatsApp's webhooks alone, in front of ``app``."""

    def __init__(self, app: Any) -> None:
        super().__init__(app, ROUTES)
