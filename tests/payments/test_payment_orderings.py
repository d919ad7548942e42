"""Exactly once whatever the order: the payer's payment, the PSP's callback delivered several times, forged
callbacks and sweeper passes, in any order hypothesis draws (and, on PostgreSQL, all at once from threads),
end with one payment, one paid transition, one status message to the customer and one PaymentConfirmed."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from django.db import connections
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conversations.models import Message, OutboxEvent
from payments.models import Order, Payment, PaymentAccount, PaymentRequest
from payments.orders import order_create
from payments.requests import payment_request_create, payment_requests_sweep
from tenants.models import AuditLogEntry
from tests.factories import owner_of
from tests.prerequisites import require_postgresql

pytest_plugins = ["tests.payments.fake_psp_fixtures"]

EVENTS = st.lists(st.sampled_from(["callback", "forged", "sweep"]), min_size=1, max_size=7)


def _post(account: PaymentAccount, body: dict[str, Any]) -> None:
    url = f"/webhooks/payments/{account.webhook_key}/pix"
    assert Client().post(url, data=json.dumps(body), content_type="application/json").status_code == 200


def _outcome(order: Order, request: PaymentRequest) -> dict[str, Any]:
    return {
        "order": Order.objects.get(pk=order.pk).status,
        "request": PaymentRequest.objects.get(pk=request.pk).status,
        "payments": list(Payment.objects.filter(request=request).values_list("amount", "flagged")),
        "status_messages": Message.objects.filter(conversation=order.conversation_id, type="order_status")
        .filter(content__reference=request.reference)
        .count(),
        "confirmed": OutboxEvent.objects.filter(event_type="payment.confirmed", payload__order_id=order.pk).count(),
        "audited": AuditLogEntry.objects.filter(action="payment.received", target_id=str(order.pk)).count(),
    }


PAID_ONCE = {"order": "paid", "request": "paid", "payments": [(2500, "")], "status_messages": 1, "confirmed": 1,
             "audited": 1}  # fmt: skip


@pytest.mark.django_db
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(before=EVENTS, after=EVENTS)
def test_any_order_of_callbacks_forgeries_and_sweeps_pays_once(
    tenant, conversation, pix_account, psp, sent, capture, before, after
):
    order = order_create(actor=owner_of(tenant), conversation=conversation, amount=2500, description="Recarga")
    with capture(execute=True):
        request = payment_request_create(actor=owner_of(tenant), order=order, kind="bcb_pix")
    forged = {"pix": [{"endToEndId": "E" + "7" * 31, "txid": request.charge_id, "valor": "25.00",
                       "horario": "2026-11-05T14:40:00Z"}]}  # fmt: skip
    callback: dict[str, Any] = {}

    def run(event: str) -> None:
        with capture(execute=True):
            if event == "sweep":
                payment_requests_sweep()
            elif event == "forged" or not callback:
                _post(pix_account, forged)  # before the payment even the PSP's own body would be a forgery
            else:
                _post(pix_account, callback)

    for event in before:  # the charge is still unpaid at the PSP: nothing may be paid
        run(event)
    assert (Order.objects.get(pk=order.pk).status, Payment.objects.filter(request=request).count()) == (
        "awaiting_payment",
        0,
    )

    paid = psp.admin.pix_pay(request.charge_id)
    callback.update({"pix": paid.get("pix", [paid])})
    for event in after:
        run(event)
    run("sweep")  # the beat's next pass: whatever the webhooks missed is found

    assert _outcome(order, request) == PAID_ONCE


@pytest.mark.django_db(transaction=True)
def test_callbacks_and_sweeps_at_once_pay_once(tenant, conversation, pix_account, psp, sent, capture):
    require_postgresql("SQLite serialises writers: there is no race to lose")
    order = order_create(actor=owner_of(tenant), conversation=conversation, amount=2500, description="Recarga")
    with capture(execute=True):
        request = payment_request_create(actor=owner_of(tenant), order=order, kind="bcb_pix")
    paid = psp.admin.pix_pay(request.charge_id)
    callback = {"pix": paid.get("pix", [paid])}
    callers = 6
    barrier = threading.Barrier(callers)
    errors: list[BaseException] = []

    def act(index: int) -> None:
        try:
            barrier.wait(timeout=10)
            if index % 3 == 2:
                payment_requests_sweep()
            else:
                _post(pix_account, callback)
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)
        finally:
            connections.close_all()

    with capture(execute=True):
        threads = [threading.Thread(target=act, args=(i,)) for i in range(callers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    assert errors == []
    assert _outcome(order, request) == PAID_ONCE
