"""The payment providers' webhooks: ``/webhooks/payments/<key>/`` (Mercado Pago, Stripe: signed) and
``/webhooks/payments/<key>/pix`` (API Pix: the PSP posts to the registered URL plus ``/pix``; no signature,
mutual TLS at the edge). A notification only names charges or payments: they are read back from the
provider by a job, and only what the provider says pays an order. A bad signature is a 401 and nothing is
kept; an unknown address a 404."""

from __future__ import annotations

import logging
import time

from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from helpdesk.jobs import BROKER_ERRORS
from payments.accounts import gateway_of
from payments.gateways import GatewayError, NotificationMalformed
from payments.models import PaymentAccount
from payments.signatures import SignatureInvalid

logger = logging.getLogger(__name__)
BODY_MAX = 256 * 1024


def _answer(status: int, text: str) -> HttpResponse:
    return HttpResponse(text, status=status, content_type="text/plain")


@csrf_exempt
def payments_webhook(request: HttpRequest, webhook_key: str, pix: bool = False) -> HttpResponse:
    if request.method != "POST":
        return _answer(405, "Only POST is accepted.")
    account = PaymentAccount.objects.filter(webhook_key=webhook_key, enabled=True).first()
    if account is None or account.kind == PaymentAccount.Kind.STATIC_PIX:
        return _answer(404, "Unknown webhook address.")
    if pix != (account.kind == PaymentAccount.Kind.BCB_PIX):
        return _answer(404, "Unknown webhook address.")
    if len(request.body) > BODY_MAX:
        return _answer(413, "The body is too large.")
    try:
        with gateway_of(account) as gateway:
            notification = gateway.parse_notification(
                headers=dict(request.headers), query=request.GET.dict(), raw_body=request.body, now=time.time()
            )
    except SignatureInvalid as exc:
        logger.info("Payment webhook for account %s refused: %s", account.pk, exc.reason)
        return _answer(401, "Invalid signature.")
    except (NotificationMalformed, GatewayError) as exc:
        logger.warning("Payment webhook for account %s not understood: %s", account.pk, exc)
        return _answer(400, "The notification could not be read.")
    references, payment_ids = list(notification.psp_references), list(notification.psp_payment_ids)
    if references or payment_ids:
        transaction.on_commit(lambda: _enqueue(account.pk, references, payment_ids))
    return _answer(200, "ok")


def _enqueue(account_id: int, references: list[str], payment_ids: list[str]) -> None:
    from payments.tasks import payment_notification_process

    try:
        payment_notification_process.delay(account_id, references, payment_ids)
    except BROKER_ERRORS as exc:  # the sweeper reads open charges back anyway
        logger.warning("Payment notification of account %s not enqueued: %s", account_id, type(exc).__name__)
