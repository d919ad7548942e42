"""The webhook endpoint Meta calls: verify, store the raw body, enqueue, answer 200 fast."""

from __future__ import annotations

import hashlib
import logging
import time
from contextlib import nullcontext
from dataclasses import dataclass

from django.db import IntegrityError, connection, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.crypto import constant_time_compare
from django.views.decorators.csrf import csrf_exempt

from helpdesk import crypto
from helpdesk.exceptions import error_body
from helpdesk.jobs import BROKER_ERRORS
from whatsapp import selectors
from whatsapp.coordination import drain_request
from whatsapp.models import WebhookEvent, WhatsAppChannel
from whatsapp.signature import verify

logger = logging.getLogger(__name__)


def _error(status: int, message: str) -> JsonResponse:
    return JsonResponse(error_body("webhook_rejected", message), status=status)


@dataclass(frozen=True)
class _Endpoint:
    """What a POST needs to know about the channel behind a webhook address (its secret still encrypted)."""

    channel_id: int
    tenant_id: int
    app_secret_encrypted: str


# Meta posts every event to the same address: looking the channel up once every few seconds per
# process, not once per webhook, keeps ingest cheap. A new secret verifies at once (a signature
# that does not verify is checked again against the stored secret), the old one until the entry
# expires; a deleted channel is noticed at the insert; a deactivated workspace's webhooks are
# refused once the entry expires.
ENDPOINT_TTL = 5.0
_endpoints: dict[str, tuple[float, _Endpoint]] = {}


def _endpoint(webhook_key: str, *, fresh: bool = False) -> tuple[_Endpoint | None, bool]:
    """The endpoint of an active channel, and whether it came from the cache."""
    now = time.monotonic()
    cached = None if fresh else _endpoints.get(webhook_key)
    if cached is not None and cached[0] > now:
        return cached[1], True
    row = selectors.channel_endpoint_by_key(webhook_key=webhook_key)
    if row is None:
        _endpoints.pop(webhook_key, None)
        return None, False
    endpoint = _Endpoint(*row)
    if len(_endpoints) > 10_000:
        _endpoints.clear()
    _endpoints[webhook_key] = (now + ENDPOINT_TTL, endpoint)
    return endpoint, False


def endpoint_cache_clear() -> None:
    _endpoints.clear()


def _signed_by(endpoint: _Endpoint, body: bytes, header: str | None) -> bool:
    return verify(body, header, crypto.decrypt(endpoint.app_secret_encrypted))


@dataclass(frozen=True)
class Receipt:
    """The answer to one POSTed webhook: 200 when stored (or already stored), else a status and why."""

    status: int
    message: str = ""


def webhook_receive(*, webhook_key: str, body: bytes, signature: str | None) -> Receipt:
    """Check one POSTed webhook's signature and store it; its processing is enqueued after commit.

    Shared by the Django view and the ASGI receiver (``whatsapp.asgi``), which serves POSTs in production.
    """
    endpoint, cached = _endpoint(webhook_key)
    if endpoint is None:
        return Receipt(404, "Unknown webhook address.")
    signed = _signed_by(endpoint, body, signature)
    if not signed and cached:
        # The secret may have changed since the lookup: check against the stored one.
        endpoint, _cached = _endpoint(webhook_key, fresh=True)
        if endpoint is None:
            return Receipt(404, "Unknown webhook address.")
        signed = _signed_by(endpoint, body, signature)
    if not signed:
        logger.warning(
            "Rejected a WhatsApp webhook with a missing or wrong signature for channel %s", endpoint.channel_id
        )
        return Receipt(401, "Missing or invalid X-Hub-Signature-256.")
    digest = hashlib.sha256(body).hexdigest()
    try:
        # One autocommitted INSERT (a savepoint only if a caller holds a transaction open).
        with transaction.atomic() if connection.in_atomic_block else nullcontext():
            event = WebhookEvent.objects.create(
                tenant_id=endpoint.tenant_id, channel_id=endpoint.channel_id, body=body, body_sha256=digest
            )
    except IntegrityError:
        if WebhookEvent.objects.filter(channel_id=endpoint.channel_id, body_sha256=digest).exists():
            return Receipt(200)  # the same body again (Meta retries): stored once
        _endpoints.pop(webhook_key, None)  # the channel was deleted since it was looked up
        return Receipt(404, "Unknown webhook address.")
    channel_id = endpoint.channel_id
    transaction.on_commit(lambda: _enqueue(event.pk, channel_id))
    return Receipt(200)


def receipt_response(receipt: Receipt) -> HttpResponse:
    if receipt.status == 200:
        return HttpResponse("ok", content_type="text/plain")
    return _error(receipt.status, receipt.message)


@csrf_exempt
def whatsapp_webhook(request: HttpRequest, webhook_key: str) -> HttpResponse:
    if request.method == "GET":
        channel = selectors.channel_by_key(webhook_key=webhook_key)
        if channel is None:
            return _error(404, "Unknown webhook address.")
        return _verification_handshake(request, channel)
    if request.method != "POST":
        return _error(405, "Only GET (verification) and POST (events) are accepted.")
    return receipt_response(
        webhook_receive(
            webhook_key=webhook_key, body=request.body, signature=request.headers.get("X-Hub-Signature-256")
        )
    )


def _enqueue(event_id: int, channel_id: int) -> None:
    try:
        drain_request(event_id, channel_id)
    except BROKER_ERRORS as exc:
        # The event is stored: the webhook sweeper processes it once the broker is back, and Meta
        # gets its 200 (a 500 would only make it send the same event again).
        logger.warning("Webhook event %s not enqueued, left for the sweeper: %s", event_id, type(exc).__name__)


def _verification_handshake(request: HttpRequest, channel: WhatsAppChannel) -> HttpResponse:
    mode = request.GET.get("hub.mode", "")
    token = request.GET.get("hub.verify_token", "")
    challenge = request.GET.get("hub.challenge", "")
    if mode == "subscribe" and challenge and constant_time_compare(token, channel.verify_token):
        return HttpResponse(challenge, content_type="text/plain")
    return _error(403, "Verification failed: wrong hub.mode or hub.verify_token.")
