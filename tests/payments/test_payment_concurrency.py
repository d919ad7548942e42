"""Exactly once under concurrency (PostgreSQL, threads): the same payment reported by several webhooks at
once, and a second payment of the same request racing it, record two payments, turn the request and the
order paid once, send the customer one status message and record one PaymentConfirmed."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connections
from django.utils import timezone

from conversations.models import OutboxEvent
from payments.accounts import payment_account_save
from payments.models import Order, Payment, PaymentRequest
from payments.requests import payment_record, payment_request_create
from tenants.models import AuditLogEntry
from tests.factories import owner_of
from tests.prerequisites import require_postgresql

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("callers", [2, 6])
def test_concurrent_reports_of_a_payment_pay_the_order_once(tenant, order, sent, capture, callers):
    require_postgresql("SQLite serialises writers: there is no race to lose")
    payment_account_save(
        actor=owner_of(tenant),
        tenant=tenant,
        kind="static_pix",
        values={"pix_key": "+5511912345678", "pix_key_type": "PHONE", "merchant_name": "T", "merchant_city": "SP"},
        secrets={},
    )
    with capture(execute=True):
        request = payment_request_create(actor=owner_of(tenant), order=order, kind="static_pix")
    barrier = threading.Barrier(callers)
    outcomes: list[str] = []
    errors: list[BaseException] = []
    paid_at = timezone.now() - timedelta(seconds=5)

    def report(index: int) -> None:
        try:
            barrier.wait(timeout=10)
            # Half report the payment E1 (a webhook delivered again and again), half a second payment E2.
            psp_payment_id = "E1" if index % 2 == 0 else "E2"
            _payment, outcome = payment_record(
                PaymentRequest.objects.get(pk=request.pk), psp_payment_id=psp_payment_id, amount=2500, paid_at=paid_at
            )
            outcomes.append(outcome)
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)
        finally:
            connections.close_all()

    with capture(execute=True):
        threads = [threading.Thread(target=report, args=(i,)) for i in range(callers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)

    assert errors == []
    assert sorted(outcomes) == sorted(["paid", "flagged"] + ["duplicate"] * (callers - 2))
    assert sorted(Payment.objects.values_list("psp_payment_id", flat=True)) == ["E1", "E2"]
    assert Payment.objects.filter(flagged="").count() == 1
    assert PaymentRequest.objects.get(pk=request.pk).status == "paid"
    assert Order.objects.get(pk=order.pk).status == "paid"
    paid_changes = AuditLogEntry.objects.filter(action="order.status_changed", extra__status__to="paid")
    assert paid_changes.count() == 1
    assert OutboxEvent.objects.filter(event_type="payment.confirmed").count() == 1
    assert len(sent.of_type("order_status")) == 1
