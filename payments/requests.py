"""Payment requests and confirmations.

An agent (or a flow) asks the customer to pay an order: a charge is made at the workspace's provider (a
dynamic Pix code, a card link) or a static Pix code is built, and a WhatsApp payment message carries it.
The provider tells us of payments by webhook, but a webhook body is never trusted: the charge is read back
from the provider, and only what the provider says was paid, in full, pays the order. Payments are unique
on (account, provider's payment id), and a request turns paid in one conditional update, so duplicated,
late or concurrent webhooks and the sweeper record a payment once, mark the order paid once and tell the
customer once.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import override

from conversations import events
from conversations.actors import Actor, SystemActor, actor_audit_record, actor_user
from conversations.customer_texts import contact_language
from conversations.events.outbox import events_record
from conversations.models import Conversation
from conversations.services.outbound import OutboundSpec, message_send, reply_window_check
from helpdesk.exceptions import ApplicationError, Conflict, ValidationFailed
from payments import brcode
from payments.accounts import gateway_kept, webhook_url
from payments.gateways import Charge, ChargeItem, ChargeRequest, GatewayError, PaymentStatus, PermanentGatewayError
from payments.gateways.base import ChargeStatus
from payments.gateways.ids import new_txid
from payments.models import Order, Payment, PaymentAccount, PaymentRequest
from payments.orders import TRANSITIONS, Status, move_order, order_locked, order_mark_paid
from payments.refunds import refunds_settle
from tenants.models import AuditLogEntry
from tenants.permissions import Perm, require_perm

logger = logging.getLogger(__name__)
Kind = PaymentAccount.Kind
OPEN = PaymentRequest.Status.OPEN
# WhatsApp shows an expiry only 5 minutes or more ahead (and the message may wait in the queue a little).
MIN_MINUTES = 10


class ProviderUnavailable(ApplicationError):
    """The payment provider did not make the charge (down, or it refused): nothing was sent to the customer."""

    code = "provider_unavailable"
    status_code = 502


def _invalid(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, details={field: [message]})


def _customer_language(conversation: Conversation) -> str:
    return contact_language(contact=conversation.contact, tenant=conversation.tenant)


def _items(order: Order) -> list[dict[str, object]]:
    return [
        {"sku": line.retailer_id, "name": line.name[:60], "quantity": line.quantity, "unit_price": line.unit_price}
        for line in order.lines.all()
    ]


def _message_content(request: PaymentRequest, order: Order, account: PaymentAccount) -> dict[str, object]:
    """The channel-neutral payment message (``conversations.content.PaymentRequestContent``)."""
    with override(_customer_language(order.conversation)):  # type: ignore[arg-type]  # checked by the caller
        body = _("Order #%(number)s: review it and pay here.") % {"number": order.number}
        expiry = _("Pay before this time.")
    content: dict[str, object] = {
        "reference": request.reference,
        "body": body,
        "goods": "digital",
        "currency": order.currency,
        "items": _items(order),
        "subtotal": order.subtotal,
        "tax": order.tax,
        "shipping": order.shipping,
        "discount": order.discount,
        "total": order.total,
        "expires_at": int(request.expires_at.timestamp()),
        "expiry_description": expiry,
    }
    if request.pix_code:
        content["pix"] = {
            "code": request.pix_code,
            "merchant_name": account.merchant_name or order.tenant.name[:25],
            "key": account.pix_key,
            "key_type": account.pix_key_type,
        }
    if request.payment_url:
        content["link"] = request.payment_url
    return content


def _charge(account: PaymentAccount, request: PaymentRequest, order: Order) -> Charge:
    items = tuple(
        ChargeItem(sku=line.retailer_id or f"custom-{line.pk}", name=line.name[:60], quantity=line.quantity,
                   unit_amount=line.unit_price)
        for line in order.lines.all()
    )  # fmt: skip
    fits = sum(item.quantity * item.unit_amount for item in items) == request.amount
    charge_request = ChargeRequest(
        reference=request.reference,
        charge_id=request.charge_id,
        amount=request.amount,
        description=_("Order #%(number)s") % {"number": order.number},
        expires_at=request.expires_at,
        items=items if fits else (),
        notification_url=webhook_url(account) if account.kind != Kind.BCB_PIX else None,
    )
    return gateway_kept(account).create_charge(charge_request)


def payment_request_create(
    *, actor: Actor, order: Order, kind: str, minutes: int | None = None, request: HttpRequest | None = None
) -> PaymentRequest:
    """Ask the order's customer to pay it with the workspace's account of ``kind``: the charge is made, the
    payment message sent in their conversation, and the order awaits payment. A request still open is
    closed first (its charge canceled at the provider)."""
    require_perm(actor, Perm.REPLY, tenant_id=order.tenant_id)
    account = PaymentAccount.objects.filter(tenant_id=order.tenant_id, kind=kind, enabled=True).first()
    if account is None:
        raise _invalid("kind", _("This way of payment is not set up in the workspace."))
    minutes = settings.PAYMENTS_REQUEST_MINUTES if minutes is None else minutes
    if isinstance(minutes, bool) or not isinstance(minutes, int) or not MIN_MINUTES <= minutes <= 24 * 60:
        raise _invalid("minutes", _("A payment request stays open from 10 minutes to 24 hours."))
    if order.conversation_id is None:
        raise _invalid("order", _("The order's customer was erased: there is nobody to ask."))
    if Status.AWAITING_PAYMENT not in TRANSITIONS[order.status] and order.status != Status.AWAITING_PAYMENT:
        raise _invalid("order", _("Only an order waiting to be paid can be charged."))
    if order.total <= 0:
        raise _invalid("order", _("There is nothing to pay."))
    # The payment message is free-form: without an open reply window no charge is made at all.
    reply_window_check(conversation=order.conversation, message_type="payment_request")  # type: ignore[arg-type]
    for open_request in PaymentRequest.objects.filter(order=order, status=OPEN):
        _close(open_request, PaymentRequest.Status.CANCELED, cancel_at_provider=True)
    try:
        payment_request = _request_open(actor, order, account, minutes)
    except IntegrityError:  # another request for this order was opened at the same moment
        raise Conflict(_("Another payment request was just made for this order.")) from None
    # The provider is called outside any transaction; its idempotency key (charge_id) makes a retry safe.
    try:
        if account.kind == Kind.STATIC_PIX:
            payment_request.pix_code = brcode.static_code(
                key=account.pix_key,
                merchant_name=account.merchant_name,
                merchant_city=account.merchant_city,
                amount_cents=payment_request.amount,
                txid=payment_request.charge_id[:25],
            )
        else:
            charge = _charge(account, payment_request, order)
            payment_request.psp_reference = charge.psp_reference
            payment_request.pix_code = charge.pix_copy_paste or ""
            payment_request.payment_url = charge.payment_url or ""
    except (GatewayError, brcode.BrCodeError) as exc:
        logger.warning("Payment request %s could not be made: %s", payment_request.pk, exc)
        _close(payment_request, PaymentRequest.Status.CANCELED, cancel_at_provider=False)
        raise ProviderUnavailable(_("The payment provider could not make the charge. Try again in a moment.")) from exc
    try:
        _send(actor, payment_request, account, order, request)
    except ApplicationError:  # nothing was sent: the charge is closed, and the order waits as before
        _close(payment_request, PaymentRequest.Status.CANCELED, cancel_at_provider=True)
        raise
    return payment_request


def _request_open(actor: Actor, order: Order, account: PaymentAccount, minutes: int) -> PaymentRequest:
    """The order's next request, open (its reference and the one open request per order are unique)."""
    with transaction.atomic():
        attempt = PaymentRequest.objects.filter(order=order).count() + 1
        return PaymentRequest.objects.create(
            tenant_id=order.tenant_id,
            order=order,
            account=account,
            charge_id=new_txid(),
            reference=f"{order.number}-{attempt}",
            amount=order.total,
            currency=order.currency,
            expires_at=timezone.now() + timedelta(minutes=minutes),
            created_by=actor_user(actor),
        )


def _send(
    actor: Actor, payment_request: PaymentRequest, account: PaymentAccount, order: Order, request: HttpRequest | None
) -> None:
    """Send the payment message and move the order to awaiting payment, in one transaction."""
    with transaction.atomic():
        order = Order.objects.select_related("conversation__contact", "conversation__tenant", "tenant").get(pk=order.pk)
        content = _message_content(payment_request, order, account)
        message, _created = message_send(
            actor=actor,
            conversation=order.conversation,  # type: ignore[arg-type]
            spec=OutboundSpec(type="payment_request", text=str(content["body"]), content=content),
            idempotency_key=f"pay-{payment_request.charge_id}",
        )
        payment_request.message = message
        payment_request.save(update_fields=["psp_reference", "pix_code", "payment_url", "message", "updated_at"])
        if order.status != Status.AWAITING_PAYMENT:
            move_order(actor, order, Status.AWAITING_PAYMENT, request)
        actor_audit_record(
            actor,
            action=AuditLogEntry.Action.PAYMENT_REQUESTED,
            tenant=order.tenant,
            target=order,
            target_label=str(order),
            request=request,
            extra={"kind": account.kind, "total": payment_request.amount, "reference": payment_request.reference},
        )


def _close(payment_request: PaymentRequest, status: str, *, cancel_at_provider: bool) -> bool:
    """Close an open request (expired or canceled); the order goes back to pending if nothing else is open."""
    if cancel_at_provider and payment_request.psp_reference:
        try:
            charge = gateway_kept(payment_request.account).cancel_charge(payment_request.psp_reference)
        except GatewayError as exc:
            logger.warning("Charge of payment request %s not canceled: %s", payment_request.pk, exc)
        else:
            if charge.status == ChargeStatus.PAID:  # paid just before: keep it open, and record the payment
                charge_record(payment_request.account, charge, payment_request)
                return False
    with transaction.atomic():
        closed = PaymentRequest.objects.filter(pk=payment_request.pk, status=OPEN).update(
            status=status, closed_at=timezone.now()
        )
        if closed:
            order = Order.objects.get(pk=payment_request.order_id)
            still_open = PaymentRequest.objects.filter(order=order, status=OPEN).exists()
            if order.status == Status.AWAITING_PAYMENT and not still_open:
                move_order(SystemActor(tenant_id=order.tenant_id), order, Status.PENDING, None)
    return bool(closed)


# -- confirmations ---------------------------------------------------------------------------------------


def _status_message(order: Order, payment_request: PaymentRequest, payment_at: datetime) -> None:
    """Tell the customer the order is paid (WhatsApp's order_status: payment captured), in their language."""
    conversation = order.conversation
    if conversation is None:
        return
    with override(contact_language(contact=conversation.contact, tenant=order.tenant)):
        body = _("Payment received for order #%(number)s. Thank you!") % {"number": order.number}
    content = {
        "reference": payment_request.reference,
        "body": body,
        "status": "processing",
        "payment_status": "captured",
        "payment_at": int(payment_at.timestamp()),
    }
    try:
        message_send(
            actor=SystemActor(tenant_id=order.tenant_id),
            conversation=conversation,
            spec=OutboundSpec(type="order_status", text=body, content=content),
            idempotency_key=f"paid-{order.pk}",
        )
    except ApplicationError as exc:  # the reply window closed: the order is paid all the same
        logger.info("Order %s paid; its status message was not sent: %s", order.pk, exc)


def payment_record(
    payment_request: PaymentRequest,
    *,
    psp_payment_id: str,
    amount: int,
    paid_at: datetime,
    actor: Actor | None = None,
    request: HttpRequest | None = None,
    note: str = "",
) -> tuple[Payment | None, str]:
    """Record one payment the provider confirmed for ``payment_request``: ("paid", once per request),
    "duplicate" (seen before), or "flagged" (a wrong amount, or paid after the request closed: to refund).
    ``note`` (how a payment recorded by hand was checked) is kept with the order's move to paid."""
    with transaction.atomic():
        try:
            with transaction.atomic():
                payment = Payment.objects.create(
                    tenant_id=payment_request.tenant_id,
                    request=payment_request,
                    account_id=payment_request.account_id,
                    psp_payment_id=psp_payment_id,
                    amount=amount,
                    paid_at=paid_at,
                )
        except IntegrityError:
            return None, "duplicate"
        problem = ""
        if amount != payment_request.amount:
            problem = _("Paid %(paid)s centavos where %(asked)s were asked.") % {
                "paid": amount,
                "asked": payment_request.amount,
            }
        # One conditional update turns the request paid: whoever loses the race records a duplicate.
        elif not PaymentRequest.objects.filter(pk=payment_request.pk, status=OPEN).update(
            status=PaymentRequest.Status.PAID, closed_at=timezone.now()
        ):
            problem = _("Paid after the payment request was closed.")
        if problem:
            payment.flagged = problem[:200]
            payment.save(update_fields=["flagged", "updated_at"])
            return payment, "flagged"
        order = order_locked(payment_request.order_id, payment_request.tenant_id, related=("conversation__contact",))
        system = actor or SystemActor(tenant_id=order.tenant_id)
        actor_audit_record(
            system,
            action=AuditLogEntry.Action.PAYMENT_RECEIVED,
            tenant=order.tenant,
            target=order,
            target_label=str(order),
            request=request,
            extra={"total": amount, "reference": payment_request.reference},
        )
        if Status.PAID in TRANSITIONS[order.status]:
            order = move_order(system, order, Status.PAID, request, note=note, locked=True)
            events_record([
                events.PaymentConfirmed(
                    tenant_id=order.tenant_id,
                    order_id=order.pk,
                    order_number=order.number,
                    conversation_id=order.conversation_id,
                    contact_id=order.contact_id,
                    amount=amount,
                    currency=payment_request.currency,
                    reference=payment_request.reference,
                )
            ])  # fmt: skip
            _status_message(order, payment_request, paid_at)
        else:
            payment.flagged = _("The order was %(status)s when it was paid.") % {"status": order.get_status_display()}
            payment.save(update_fields=["flagged", "updated_at"])
            return payment, "flagged"
    return payment, "paid"


def charge_record(account: PaymentAccount, charge: Charge, payment_request: PaymentRequest | None = None) -> list[str]:
    """Record what a charge read back from the provider says was paid (never what a webhook said), for
    ``payment_request`` (found by the charge's reference when not given)."""
    if payment_request is None:
        payment_request = PaymentRequest.objects.filter(account=account, psp_reference=charge.psp_reference).first()
    if payment_request is None:
        return []
    outcomes = []
    refunds_settle(account, (refund for received in charge.payments for refund in received.refunds))
    for received in charge.payments:
        if received.status != PaymentStatus.PAID or received.paid_at is None:
            continue
        _payment, outcome = payment_record(
            payment_request, psp_payment_id=received.psp_payment_id, amount=received.amount, paid_at=received.paid_at
        )
        outcomes.append(outcome)
    return outcomes


def charges_check(account: PaymentAccount, psp_references: Iterable[str]) -> list[str]:
    """Read each named charge of ``account`` back from the provider and record its payments."""
    known = {
        request.psp_reference: request
        for request in PaymentRequest.objects.filter(account=account, psp_reference__in=set(psp_references))
    }
    outcomes: list[str] = []
    if not known:
        return outcomes
    gateway = gateway_kept(account)
    for reference in sorted(known):
        try:
            charge = gateway.get_charge(reference)
        except PermanentGatewayError as exc:  # refused for good: the others are read all the same
            logger.warning("Charge %s of account %s not read back: %s", reference, account.pk, exc)
            continue
        outcomes += charge_record(account, charge, known[reference])
    return outcomes


def notification_process(account: PaymentAccount, *, references: list[str], payment_ids: list[str]) -> list[str]:
    """What webhooks named: the charges (by the provider's reference) and payments (by id) are read back from
    the provider, each payment's charge found by our reference, and recorded. A charge is read back whole, so
    ``notifications_queue`` names payments only for a notification that names no charge."""
    references = list(references)
    if payment_ids:
        gateway = gateway_kept(account)
        for payment_id in payment_ids[:20]:
            try:
                received = gateway.get_payment(payment_id)
            except PermanentGatewayError as exc:  # unknown to the provider: a forged or foreign notification
                logger.info("Payment %s named by a webhook of account %s: %s", payment_id, account.pk, exc)
                continue
            found = PaymentRequest.objects.filter(account=account)
            if received.psp_reference:
                found = found.filter(psp_reference=received.psp_reference)
            elif received.reference:
                found = found.filter(reference=received.reference)
            else:
                continue
            references += [r for r in found.values_list("psp_reference", flat=True) if r]
    return charges_check(account, references[:50])


def payment_requests_sweep(*, now: datetime | None = None, limit: int = 200) -> dict[str, int]:
    """The sweeper: read back open charges whose webhook may never have come, and close expired requests.

    A pass reads at most ``limit`` charges: the expired ones first (read once more, so a payment made just
    before is recorded, then closed), then the others in turn, those read back longest ago (or never) first,
    so with more requests open than ``limit`` every one is still read within a few passes.
    """
    now = now or timezone.now()
    counts = {"checked": 0, "expired": 0}
    still_open = PaymentRequest.objects.filter(status=OPEN).select_related("account")
    expired = list(still_open.filter(expires_at__lte=now).order_by("expires_at")[:limit])
    in_turn = still_open.filter(expires_at__gt=now).order_by(F("checked_at").asc(nulls_first=True), "expires_at", "pk")
    due = expired + list(in_turn[: limit - len(expired)])
    for payment_request in due:
        if payment_request.psp_reference:
            try:
                counts["checked"] += 1
                charges_check(payment_request.account, [payment_request.psp_reference])
            except (GatewayError, ApplicationError) as exc:  # one account's trouble never stops the pass
                logger.warning("Payment request %s not checked: %s", payment_request.pk, exc)
                continue
            finally:
                PaymentRequest.objects.filter(pk=payment_request.pk).update(checked_at=timezone.now())
        payment_request.refresh_from_db(fields=["status"])
        expired_now = payment_request.status == OPEN and payment_request.expires_at <= now
        if expired_now and _close(payment_request, PaymentRequest.Status.EXPIRED, cancel_at_provider=True):
            counts["expired"] += 1
    return counts


@transaction.atomic
def payment_mark_received(*, actor: Actor, order: Order, note: str = "", request: HttpRequest | None = None) -> Order:
    """An admin records a payment made outside the providers (a static Pix seen on the statement, cash):
    the open request is paid with it, and the customer is told as for any payment."""
    require_perm(actor, Perm.MANAGE_PAYMENTS, tenant_id=order.tenant_id)
    open_request = PaymentRequest.objects.filter(order=order, status=OPEN).first()
    if open_request is None:
        return order_mark_paid(actor=actor, order=order, note=note, request=request)
    _payment, outcome = payment_record(
        open_request,
        psp_payment_id=f"manual-{open_request.pk}",
        amount=open_request.amount,
        paid_at=timezone.now(),
        actor=actor,
        request=request,
        note=note,
    )
    if outcome != "paid":
        raise _invalid("order", _("This order cannot be recorded as paid."))
    return Order.objects.get(pk=order.pk)
