"""The webhook endpoint Meta calls: verify, store the raw body, enqueue, answer 200 fast."""

from __future__ import annotations

import hashlib
import logging
from contextlib import nullcontext

from django.db import IntegrityError, connection, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.crypto import constant_time_compare
from django.views.decorators.csrf import csrf_exempt

from whatsapp.models import WebhookEvent, WhatsAppChannel
from whatsapp.signature import verify

logger = logging.getLogger(__name__)


def _error(status: int, message: str) -> JsonResponse:
    return JsonResponse({"error": {"code": "webhook_rejected", "message": message, "details": {}}}, status=status)


@csrf_exempt
def whatsapp_webhook(request: HttpRequest, webhook_key: str) -> HttpResponse:
    channel = (
        WhatsAppChannel.objects.select_related("tenant").filter(webhook_key=webhook_key, tenant__active=True).first()
    )
    if channel is None:
        return _error(404, "Unknown webhook address.")
    if request.method == "GET":
        return _verification_handshake(request, channel)
    if request.method != "POST":
        return _error(405, "Only GET (verification) and POST (events) are accepted.")
    body = request.body
    if not verify(body, request.headers.get("X-Hub-Signature-256"), channel.app_secret):
        logger.warning("Rejected a WhatsApp webhook with a missing or wrong signature for channel %s", channel.pk)
        return _error(401, "Missing or invalid X-Hub-Signature-256.")
    digest = hashlib.sha256(body).hexdigest()
    try:
        # One autocommitted INSERT (a savepoint only if a caller holds a transaction open).
        with transaction.atomic() if connection.in_atomic_block else nullcontext():
            event = WebhookEvent.objects.create(
                tenant_id=channel.tenant_id, channel=channel, body=body, body_sha256=digest
            )
    except IntegrityError:
        return HttpResponse("ok", content_type="text/plain")  # the same body again (Meta retries): stored once
    transaction.on_commit(lambda: _enqueue(event.pk, channel.pk))
    return HttpResponse("ok", content_type="text/plain")


def _enqueue(event_id: int, channel_id: int) -> None:
    from whatsapp.tasks import drain_request

    drain_request(event_id, channel_id)


def _verification_handshake(request: HttpRequest, channel: WhatsAppChannel) -> HttpResponse:
    mode = request.GET.get("hub.mode", "")
    token = request.GET.get("hub.verify_token", "")
    challenge = request.GET.get("hub.challenge", "")
    if mode == "subscribe" and challenge and constant_time_compare(token, channel.verify_token):
        return HttpResponse(challenge, content_type="text/plain")
    return _error(403, "Verification failed: wrong hub.mode or hub.verify_token.")
