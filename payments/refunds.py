"""Refunds ("Manage payments and catalog"): all or part of a payment given back, never more than was paid.

The amount is reserved on the payment (``refunded_amount``) in the same transaction that records the refund,
so two refunds at once cannot pass the payment's amount. The provider is then asked outside any
transaction with our ``refund_id`` as its idempotency key (the Pix devolução id, Mercado Pago's
``X-Idempotency-Key``, Stripe's ``Idempotency-Key``): asking again after a lost answer refunds once. A
refund the provider refuses gives its amount back to the payment; one still processing is followed by the
sweeper. A payment recorded by hand (a static Pix) is refunded by hand, and recorded as done. Once the whole
order is given back it is refunded; the customer is told in their language.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.db import transaction
from django.db.models import F, Sum
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import override

from conversations.actors import Actor, AutomationActor, SystemActor, actor_audit_record, actor_user
from conversations.customer_texts import contact_language
from conversations.services.outbound import OutboundSpec, message_send
from helpdesk.exceptions import ApplicationError, PermissionDenied, ValidationFailed
from payments.accounts import gateway_kept
from payments.gateways import GatewayError, PermanentGatewayError, RefundStatus
from payments.gateways import Refund as ProviderRefund
from payments.gateways.ids import new_refund_id
from payments.models import Order, Payment, PaymentAccount, Refund
from payments.money import amount_format
from payments.orders import TRANSITIONS, Status, move_order
from tenants.models import AuditLogEntry
from tenants.permissions import Perm, require_perm

logger = logging.getLogger(__name__)
REASON_MAX = 140


def _invalid(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, details={field: [message]})


def _by_hand(payment: Payment) -> bool:
    return payment.psp_payment_id.startswith("manual-") or payment.account.kind == PaymentAccount.Kind.STATIC_PIX


def refundable(payment: Payment) -> int:
    """What is left to give back of ``payment`` (refunds being processed count as given)."""
    return payment.amount - payment.refunded_amount


def payment_refund(
    *, actor: Actor, payment: Payment, amount: int, reason: str = "", request: HttpRequest | None = None
) -> Refund:
    """Give back ``amount`` centavos of ``payment``."""
    require_perm(actor, Perm.MANAGE_PAYMENTS, tenant_id=payment.tenant_id)
    return _refund(actor=actor, payment=payment, amount=amount, reason=reason, request=request)


def order_refund_undelivered(*, actor: AutomationActor, order: Order, reason: str) -> list[Refund]:
    """An automation that sold ``order`` could not deliver it (a recharge the operator refused after the
    payment): everything still refundable of its payments goes back. Only an automation of the order's
    workspace may do this, and only for an order it made (people refund with ``payment_refund``)."""
    if not isinstance(actor, AutomationActor) or actor.tenant_id != order.tenant_id:
        raise PermissionDenied(_("Only the automation that sold an order gives it back this way."))
    if order.source != Order.Source.AUTOMATION:
        raise PermissionDenied(_("Only the automation that sold an order gives it back this way."))
    refunds = []
    for payment in Payment.objects.filter(tenant_id=order.tenant_id, request__order=order).order_by("pk"):
        amount = refundable(payment)
        if amount > 0:
            refunds.append(_refund(actor=actor, payment=payment, amount=amount, reason=reason[:REASON_MAX]))
    return refunds


def _refund(
    *, actor: Actor, payment: Payment, amount: int, reason: str = "", request: HttpRequest | None = None
) -> Refund:
    reason = " ".join(reason.split())
    if len(reason) > REASON_MAX:
        raise _invalid("reason", _("At most %(max)s characters.") % {"max": REASON_MAX})
    if isinstance(amount, bool) or not isinstance(amount, int) or amount < 1:
        raise _invalid("amount", _("The amount must be above zero."))
    with transaction.atomic():
        locked = Payment.objects.select_for_update().select_related("account").get(pk=payment.pk)
        if amount > refundable(locked):
            raise _invalid(
                "amount",
                _("At most %(amount)s can still be given back.") % {"amount": amount_format(refundable(locked))},
            )
        Payment.objects.filter(pk=locked.pk).update(refunded_amount=F("refunded_amount") + amount)
        refund = Refund.objects.create(
            tenant_id=locked.tenant_id,
            payment=locked,
            refund_id=new_refund_id(),
            amount=amount,
            reason=reason,
            created_by=actor_user(actor),
        )
        order = Order.objects.select_related("tenant").get(pk=locked.request.order_id)
        actor_audit_record(
            actor,
            action=AuditLogEntry.Action.PAYMENT_REFUNDED,
            tenant=order.tenant,
            target=order,
            target_label=str(order),
            request=request,
            extra={"total": amount, "reason": reason} if reason else {"total": amount},
        )
    if _by_hand(locked):
        _settle(refund, RefundStatus.DONE, psp_refund_id="")
    else:
        refund_ask(refund)
    refund.refresh_from_db()
    if refund.status == Refund.Status.FAILED:
        raise ApplicationError(_("The payment provider refused the refund: %(why)s") % {"why": refund.failure})
    return refund


def refund_ask(refund: Refund) -> None:
    """Ask the provider (again: the same ``refund_id`` refunds once) and record what it answers."""
    payment = refund.payment
    try:
        answer = gateway_kept(payment.account).refund(
            psp_payment_id=payment.psp_payment_id,
            amount=refund.amount,
            refund_id=refund.refund_id,
            reason=refund.reason,
        )
    except PermanentGatewayError as exc:
        _settle(refund, RefundStatus.FAILED, psp_refund_id="", failure=str(exc))
        return
    except GatewayError as exc:  # not known yet: the sweeper asks again with the same id
        logger.warning("Refund %s left processing: %s", refund.pk, exc)
        return
    _settle(refund, answer.status, psp_refund_id=answer.psp_refund_id, failure=answer.reason or "")


def _settle(refund: Refund, status: RefundStatus, *, psp_refund_id: str, failure: str = "") -> None:
    """Record the provider's answer once: a failed refund gives its amount back to the payment; a done one
    may finish refunding the order, and the customer is told."""
    new = {RefundStatus.DONE: Refund.Status.DONE, RefundStatus.FAILED: Refund.Status.FAILED}.get(status)
    with transaction.atomic():
        if new is None:
            if psp_refund_id:
                Refund.objects.filter(pk=refund.pk).update(psp_refund_id=psp_refund_id)
            return
        moved = Refund.objects.filter(pk=refund.pk, status=Refund.Status.PROCESSING).update(
            status=new,
            psp_refund_id=psp_refund_id or F("psp_refund_id"),
            failure=failure[:200] if new == Refund.Status.FAILED else "",
            settled_at=timezone.now(),
        )
        if not moved:
            return
        if new == Refund.Status.FAILED:
            Payment.objects.filter(pk=refund.payment_id).update(refunded_amount=F("refunded_amount") - refund.amount)
            return
        order = Order.objects.select_related("tenant", "conversation__contact", "conversation__tenant").get(
            pk=refund.payment.request.order_id
        )
        paid = Payment.objects.filter(request__order=order, flagged="").aggregate(total=Sum("amount"))["total"] or 0
        given = (
            Refund.objects.filter(payment__request__order=order, payment__flagged="", status=Refund.Status.DONE)
            .aggregate(total=Sum("amount"))
            .get("total")
            or 0
        )
        if paid and given >= paid and Status.REFUNDED in TRANSITIONS[order.status]:
            move_order(SystemActor(tenant_id=order.tenant_id), order, Status.REFUNDED, None)
        _tell(order, refund.amount)


def _tell(order: Order, amount: int) -> None:
    conversation = order.conversation
    if conversation is None:
        return
    with override(contact_language(contact=conversation.contact, tenant=conversation.tenant)):
        text = _("A refund of %(amount)s for order #%(number)s is on its way to you.") % {
            "amount": amount_format(amount),
            "number": order.number,
        }
    try:
        message_send(
            actor=SystemActor(tenant_id=order.tenant_id),
            conversation=conversation,
            spec=OutboundSpec(type="text", text=text),
        )
    except ApplicationError as exc:  # the reply window closed: the refund stands all the same
        logger.info("Refund of order %s done; the customer was not told: %s", order.pk, exc)


def refunds_settle(account: PaymentAccount, answers: Iterable[ProviderRefund]) -> int:
    """Settle our refunds still processing that the provider's own account of them says are done or refused
    (a Pix callback after a devolução settles: the charge read back carries its devoluções), without waiting
    for the sweeper's next pass."""
    final = {a.refund_id: a for a in answers if a.status in (RefundStatus.DONE, RefundStatus.FAILED)}
    if not final:
        return 0
    waiting = Refund.objects.filter(payment__account=account, status=Refund.Status.PROCESSING, refund_id__in=final)
    settled = 0
    for refund in waiting.select_related("payment__account"):
        answer = final[refund.refund_id]
        _settle(refund, answer.status, psp_refund_id=answer.psp_refund_id, failure=answer.reason or "")
        settled += 1
    return settled


def refunds_follow(*, limit: int = 100) -> int:
    """The sweeper: ask again for refunds still processing (a lost answer, a PSP that settles later)."""
    done = 0
    for refund in Refund.objects.filter(status=Refund.Status.PROCESSING).select_related("payment__account")[:limit]:
        if _by_hand(refund.payment):
            continue
        try:
            refund_ask(refund)
        except ApplicationError as exc:  # the account can no longer be used: the others are asked all the same
            logger.warning("Refund %s not asked again: %s", refund.pk, exc)
            continue
        done += 1
    return done
