"""The payment providers' webhooks: ``/webhooks/payments/<key>/`` (Mercado Pago, Stripe: signed) and
``/webhooks/payments/<key>/pix`` (API Pix: the PSP posts to the registered URL plus ``/pix``; no signature,
mutual TLS at the edge). A notification only names charges or payments: they are read back from the
provider by a job, and only what the provider says pays an order. A bad signature is a 401 and nothing is
kept; an unknown address a 404; a signed notification whose body cannot be read is kept for an admin
(``UnreadNotification``) and answered 200, so the provider does not send it again and again."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from helpdesk.exceptions import ApplicationError
from payments.accounts import gateway_kept
from payments.gateways import GatewayError, NotificationMalformed
from payments.models import PaymentAccount, UnreadNotification
from payments.notifications import notifications_queue
from payments.signatures import SignatureInvalid

logger = logging.getLogger(__name__)
BODY_MAX = 256 * 1024


def _answer(status: int, text: str) -> HttpResponse:
    return HttpResponse(text, status=status, content_type="text/plain")


@csrf_exempt
def payments_webhook(request: HttpRequest, webhook_key: str, pix: bool = False) -> HttpResponse:
    if request.method != "POST":
        return _answer(405, "Only POST is accepted.")
    return webhook_accept(
        webhook_key, pix=pix, body=request.body, headers=dict(request.headers), query=request.GET.dict()
    )


def webhook_accept(
    webhook_key: str, *, pix: bool, body: bytes, headers: Mapping[str, str], query: Mapping[str, str]
) -> HttpResponse:
    """Take one notification: checked (a signature) and read (what it names), then queued for a job that reads
    those charges back from the provider. Shared by the Django view and the ASGI fast path (``payments.asgi``)."""
    account = PaymentAccount.objects.filter(webhook_key=webhook_key, enabled=True).first()
    if account is None or account.kind == PaymentAccount.Kind.STATIC_PIX:
        return _answer(404, "Unknown webhook address.")
    if pix != (account.kind == PaymentAccount.Kind.BCB_PIX):
        return _answer(404, "Unknown webhook address.")
    if len(body) > BODY_MAX:
        return _answer(413, "The body is too large.")
    try:
        gateway = gateway_kept(account)
    except ApplicationError as exc:  # its provider is no longer offered: the address is dead
        logger.warning("Payment webhook for account %s refused: %s", account.pk, exc)
        return _answer(404, "Unknown webhook address.")
    try:
        notification = gateway.parse_notification(headers=headers, query=query, raw_body=body, now=time.time())
    except SignatureInvalid as exc:
        logger.info("Payment webhook for account %s refused: %s", account.pk, exc.reason)
        return _answer(401, "Invalid signature.")
    except (NotificationMalformed, GatewayError) as exc:
        logger.warning("Payment webhook for account %s not understood: %s", account.pk, exc)
        if account.kind == PaymentAccount.Kind.BCB_PIX:  # unsigned: anyone could post it, nothing is kept
            return _answer(400, "The notification could not be read.")
        # Signed by the provider (the signature is checked first), so it is kept for an admin to read.
        UnreadNotification.objects.create(
            tenant_id=account.tenant_id,
            account=account,
            reason=str(exc)[:300],
            body=body[: UnreadNotification.BODY_MAX].decode("utf-8", errors="replace"),
            content_type=str(headers.get("content-type") or headers.get("Content-Type") or "")[:200],
        )
        return _answer(200, "Kept for review: the notification could not be read.")
    notifications_queue(account.pk, notification.psp_references, notification.psp_payment_ids)
    return _answer(200, "ok")
