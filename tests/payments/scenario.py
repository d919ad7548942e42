"""A workspace's payments of two days, made through the services against the fake PSP, for the payments pages,
the reconciliation and their API.

The fake's clock stands at the contract's instant (2026-11-05 14:32 UTC), so every payment a provider reports
is of that moment; what the product stamps itself (an order turning paid, a payment recorded by hand, a
refund asked) is moved to fixed moments afterwards, so that the days are certain. The workspace is in
America/Sao_Paulo (UTC-3): 2026-11-05 02:00 UTC is still 4 November there.

| order | total | what happened | shows as |
|---|---|---|---|
| #1 | 25,00 | Pix through the bank's API, paid; R$ 10,00 refunded, still processing | refund_open |
| #2 | 40,00 | Pix, R$ 20,00 paid; R$ 10,00 of it refunded, refused by the bank | unmatched_payment, refund_open |
| #3 | 30,00 | Pix, paid after its request expired | unmatched_payment (late) |
| #4 | 10,00 | marked paid by the owner, "Dinheiro no balcão", on the 4th (local) | paid_by_hand |
| #5 | 15,00 | static Pix recorded by the owner | paid_by_hand |
| #6 | 50,00 | Pix, paid; the order's total then changed to 55,00 | amount_mismatch |
| #7 | 12,00 | Pix requested, still open after its expiry | unconfirmed |
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.utils import timezone

from payments.accounts import payment_account_save
from payments.models import Order, Payment, PaymentRequest, Refund
from payments.orders import order_create, order_mark_paid
from payments.refunds import payment_refund, refunds_follow
from payments.requests import charges_check, payment_mark_received, payment_request_create, payment_requests_sweep
from tenants.models import Membership, Tenant
from tests.factories import owner_of

PSP_MOMENT = datetime(2026, 11, 5, 14, 32, tzinfo=UTC)


def at(hour: int, minute: int = 0, day: int = 5) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


@dataclass
class Scenario:
    tenant: Tenant
    owner: Membership
    orders: dict[int, Order]
    payments: dict[int, Payment]  # by order number
    refunds: dict[int, Refund]  # by order number
    open_request: PaymentRequest


def accounts(tenant: Tenant, psp: Any) -> None:
    owner = owner_of(tenant)
    payment_account_save(actor=owner, tenant=tenant, kind="bcb_pix",
                         values={"provider": "fake", "pix_key": psp.pix_key, "pix_key_type": "EVP",
                                 "client_id": psp.client_id, "merchant_name": "Transporte Exemplo"},
                         secrets={"client_secret": psp.client_secret})  # fmt: skip
    payment_account_save(actor=owner, tenant=tenant, kind="static_pix",
                         values={"pix_key": "+5511912345678", "pix_key_type": "PHONE", "merchant_name": "Transporte",
                                 "merchant_city": "Sao Paulo"}, secrets={})  # fmt: skip


def _pix(order: Order, capture: Any) -> PaymentRequest:
    with capture(execute=True):
        return payment_request_create(actor=owner_of(order.tenant), order=order, kind="bcb_pix")


def build(tenant: Tenant, conversation: Any, psp: Any, capture: Any) -> Scenario:
    """The table above; ``psp`` is the running fake (``pix_settings`` of the tests), ``capture`` runs on-commit
    work."""
    accounts(tenant, psp)
    owner = owner_of(tenant)
    totals = {1: 2500, 2: 4000, 3: 3000, 4: 1000, 5: 1500, 6: 5000, 7: 1200}
    orders = {
        number: order_create(actor=owner, conversation=conversation, amount=amount, description=f"Pedido {number}")
        for number, amount in totals.items()
    }
    assert [order.number for order in orders.values()] == list(totals)

    first = _pix(orders[1], capture)
    psp.admin.pix_pay(first.charge_id)
    with capture(execute=True):
        payment_requests_sweep()

    second = _pix(orders[2], capture)
    psp.admin.pix_pay(second.charge_id, amount=2000, force=True)
    with capture(execute=True):
        payment_requests_sweep()

    third = _pix(orders[3], capture)
    with capture(execute=True):  # both open requests expire (and are canceled at the bank)
        payment_requests_sweep(now=timezone.now() + timedelta(minutes=61))
    psp.admin.pix_pay(third.charge_id, force=True)
    with capture(execute=True):  # what the bank's webhook makes the job do
        charges_check(third.account, [third.psp_reference])

    with capture(execute=True):
        order_mark_paid(actor=owner, order=orders[4], note="Dinheiro no balcão")
        payment_request_create(actor=owner, order=orders[5], kind="static_pix")
        payment_mark_received(actor=owner, order=orders[5])

    sixth = _pix(orders[6], capture)
    psp.admin.pix_pay(sixth.charge_id)
    with capture(execute=True):
        payment_requests_sweep()
    # No service changes a paid order's total: the reconciliation is there for what should never happen.
    Order.objects.filter(pk=orders[6].pk).update(subtotal=5500, total=5500)

    payments = {
        p.request.order.number: p for p in Payment.objects.filter(tenant=tenant).select_related("request__order")
    }
    assert sorted(payments) == [1, 2, 3, 5, 6]
    with capture(execute=True):
        refunds = {
            1: payment_refund(actor=owner, payment=payments[1], amount=1000, reason="Parcial"),
            2: payment_refund(actor=owner, payment=payments[2], amount=1000, reason="Valor errado"),
        }
    psp.admin.pix_settle_refund(payments[2].psp_payment_id, refunds[2].refund_id, status="NAO_REALIZADO",
                                motivo="Conta encerrada")  # fmt: skip
    with capture(execute=True):
        refunds_follow()

    seventh = _pix(orders[7], capture)  # last: no sweep runs after it

    # The moments the product stamped itself, fixed (the bank's are already the fake's clock).
    for number, moment in ((1, at(14, 33)), (4, at(2)), (5, at(15)), (6, at(14, 40))):
        Order.objects.filter(pk=orders[number].pk).update(paid_at=moment)
    Payment.objects.filter(pk=payments[5].pk).update(paid_at=at(15))
    Refund.objects.filter(tenant=tenant).update(created_at=at(16))
    PaymentRequest.objects.filter(pk=seventh.pk).update(created_at=at(17), expires_at=at(18))

    return Scenario(
        tenant=tenant,
        owner=owner,
        orders={number: Order.objects.get(pk=order.pk) for number, order in orders.items()},
        payments={number: Payment.objects.get(pk=payment.pk) for number, payment in payments.items()},
        refunds={number: Refund.objects.get(pk=refund.pk) for number, refund in refunds.items()},
        open_request=PaymentRequest.objects.get(pk=seventh.pk),
    )


def pix_settings(settings: Any, psp: Any) -> Any:
    settings.PAYMENTS_PIX_PROVIDERS = {
        "fake": {"name": "Fake PSP", "api_url": psp.server.pix_api_url, "token_url": psp.server.pix_token_url}
    }
    settings.PAYMENTS_ALLOW_PLAIN_HTTP = True
    return psp
