"""What the providers' webhooks name waits in Redis, one set per account and slot, and one job per slot reads
it back in batches: a charge posted three times is read back once, a provider out of reach keeps the batch
waiting, and the webhooks are served by the ASGI fast path without Django's middleware. The gateway of an
account is kept by the process: one OAuth token for many notifications."""

from __future__ import annotations

import json
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from asgiref.testing import ApplicationCommunicator
from django.test import Client

from payments import notifications, tasks
from payments.accounts import gateway_kept, payment_account_save
from payments.gateways import TransientGatewayError
from payments.models import Order, Payment, PaymentAccount, PaymentRequest, Refund
from payments.requests import payment_request_create, payment_requests_sweep
from tests.factories import make_tenant, owner_of
from tests.payments.conftest import pix_account_values
from tests.prerequisites import require_redis

pytest_plugins = ["tests.payments.fake_psp_fixtures"]
pytestmark = pytest.mark.django_db


@pytest.fixture
def queued(settings, monkeypatch) -> list[tuple[int, int]]:
    """Jobs go through Redis (not run in-process); the drain jobs enqueued are recorded, not run."""
    require_redis("notifications wait in Redis sets")
    settings.CELERY_TASK_ALWAYS_EAGER = False
    client = notifications.jobs.redis_client()
    for key in client.scan_iter("helpdesk:pay:*"):
        client.delete(key)
    started: list[tuple[int, int]] = []
    monkeypatch.setattr(tasks.payment_notifications_drain, "delay", lambda *args: started.append(args))
    return started


def _paid_charge(tenant, order, psp, capture) -> tuple[PaymentRequest, dict[str, Any]]:
    with capture(execute=True):
        request = payment_request_create(actor=owner_of(tenant), order=order, kind="bcb_pix")
    paid = psp.admin.pix_pay(request.charge_id)
    return request, {"pix": paid.get("pix", [paid])}


def _post(account: PaymentAccount, body: dict[str, Any]) -> int:
    url = f"/webhooks/payments/{account.webhook_key}/pix"
    return Client().post(url, data=json.dumps(body), content_type="application/json").status_code


def psp_cob(request: PaymentRequest) -> str:
    return f"/pix/api/v2/cob/{request.charge_id}"


def _slot_of(request: PaymentRequest) -> int:
    return notifications._slot("c:" + request.psp_reference)


def test_a_charge_posted_three_times_waits_once_and_one_job_reads_it_back(
    tenant, order, pix_account, psp, sent, capture, queued
):
    request, body = _paid_charge(tenant, order, psp, capture)
    slot = _slot_of(request)

    assert [_post(pix_account, body) for _ in range(3)] == [200, 200, 200]

    redis = notifications.jobs.redis_client()
    assert redis.smembers(notifications._pending_key(pix_account.pk, slot)) == {f"c:{request.psp_reference}".encode()}
    assert queued == [(pix_account.pk, slot)]  # one job for the slot, however many posts
    assert Payment.objects.count() == 0  # nothing is recorded before the job reads the charge back

    psp.admin.clear_requests()
    with capture(execute=True):
        assert notifications.notifications_drain(pix_account.pk, slot) == 1
    assert [r["path"] for r in psp.admin.requests("pix") if "/cob/" in r["path"]] == [psp_cob(request)]
    assert Order.objects.get(pk=order.pk).status == "paid"
    assert list(Payment.objects.values_list("amount", "flagged")) == [(2500, "")]
    assert len(sent.of_type("order_status")) == 1
    keys = (notifications._pending_key(pix_account.pk, slot), notifications._drain_key(pix_account.pk, slot))
    assert redis.exists(*keys) == 0

    # Posted again later, it is read back again and recorded as a duplicate: nothing more happens.
    assert _post(pix_account, body) == 200
    with capture(execute=True):
        assert notifications.notifications_drain(pix_account.pk, slot) == 1
    assert (Payment.objects.count(), len(sent.of_type("order_status"))) == (1, 1)


def test_a_provider_out_of_reach_keeps_the_batch_waiting_for_the_retry(
    tenant, order, pix_account, psp, sent, capture, queued, monkeypatch
):
    request, body = _paid_charge(tenant, order, psp, capture)
    slot = _slot_of(request)
    assert _post(pix_account, body) == 200

    def unreachable(*args: Any, **kwargs: Any) -> None:
        raise TransientGatewayError("connection refused", gateway="bcb_pix")

    monkeypatch.setattr(notifications, "notification_process", unreachable)
    with pytest.raises(TransientGatewayError):
        notifications.notifications_drain(pix_account.pk, slot)
    redis = notifications.jobs.redis_client()
    assert redis.smembers(notifications._pending_key(pix_account.pk, slot)) == {f"c:{request.psp_reference}".encode()}
    assert Payment.objects.count() == 0

    monkeypatch.undo()
    with capture(execute=True):
        assert notifications.notifications_drain(pix_account.pk, slot) == 1
    assert Order.objects.get(pk=order.pk).status == "paid"


def test_a_disabled_account_drops_what_waits_for_it(tenant, order, pix_account, psp, capture, queued):
    request, body = _paid_charge(tenant, order, psp, capture)
    slot = _slot_of(request)
    assert _post(pix_account, body) == 200
    PaymentAccount.objects.filter(pk=pix_account.pk).update(enabled=False)

    assert notifications.notifications_drain(pix_account.pk, slot) == 0
    assert notifications.jobs.redis_client().exists(notifications._pending_key(pix_account.pk, slot)) == 0
    assert (Payment.objects.count(), Order.objects.get(pk=order.pk).status) == (0, "awaiting_payment")


def test_a_notification_that_names_a_charge_queues_the_charge_alone(pix_account, queued):
    notifications.notifications_queue(pix_account.pk, ["txid1"], ["E1"])
    notifications.notifications_queue(pix_account.pk, [], ["pay-9"])
    redis = notifications.jobs.redis_client()
    waiting = set()
    for slot in range(notifications.SLOTS):
        waiting |= redis.smembers(notifications._pending_key(pix_account.pk, slot))
    assert waiting == {b"c:txid1", b"p:pay-9"}


def test_one_token_serves_many_notifications(tenant, order, pix_account, psp, sent, capture):
    """Without Redis (jobs in-process) each notification is a job; the kept gateway asks for one token."""
    request, body = _paid_charge(tenant, order, psp, capture)
    psp.admin.clear_requests()
    for _ in range(3):
        with capture(execute=True):
            assert _post(pix_account, body) == 200
    paths = [r["path"] for r in psp.admin.requests("pix")]
    assert paths.count(psp_cob(request)) == 3
    assert sum("token" in path for path in paths) == 0  # the token of the request's charge is still good
    assert gateway_kept(pix_account) is gateway_kept(PaymentAccount.objects.get(pk=pix_account.pk))
    assert Payment.objects.count() == 1


def test_a_changed_account_gets_a_new_gateway(tenant, pix_account, psp):
    before = gateway_kept(pix_account)
    again = payment_account_save(
        actor=owner_of(tenant), tenant=tenant, kind="bcb_pix",
        values=pix_account_values(psp, merchant_name="Outro Nome"),
        secrets={"client_secret": psp.client_secret},
    )  # fmt: skip
    assert gateway_kept(again) is not before


# --- the ASGI fast path ------------------------------------------------------------------------------------------


def _asgi_post(path: str, body: bytes, *, host: str = "testserver") -> tuple[int, bytes]:
    from helpdesk.asgi import application

    async def run() -> tuple[int, bytes]:
        scope = {
            "type": "http", "method": "POST", "path": path, "raw_path": path.encode(), "query_string": b"",
            "root_path": "", "scheme": "http", "server": ("testserver", 80), "client": ("127.0.0.1", 5000),
            "headers": [(b"host", host.encode()), (b"content-type", b"application/json")],
            "http_version": "1.1",
        }  # fmt: skip
        communicator = ApplicationCommunicator(application, scope)
        await communicator.send_input({"type": "http.request", "body": body, "more_body": False})
        start = await communicator.receive_output(5)
        content = await communicator.receive_output(5)
        return start["status"], content["body"]

    return async_to_sync(run)()


@pytest.mark.django_db(transaction=True)  # the fast path reads the account on a thread of its own
def test_the_fast_path_takes_pix_webhooks_as_the_view_does(tenant, order, pix_account, psp, capture, queued):
    request, body = _paid_charge(tenant, order, psp, capture)
    path = f"/webhooks/payments/{pix_account.webhook_key}/pix"

    assert _asgi_post(path, json.dumps(body).encode()) == (200, b"ok")
    assert queued == [(pix_account.pk, _slot_of(request))]
    assert _asgi_post(path, b'{"pix": []}') == (400, b"The notification could not be read.")
    assert _asgi_post(f"/webhooks/payments/{pix_account.webhook_key}/", b"{}") == (404, b"Unknown webhook address.")
    assert _asgi_post("/webhooks/payments/nope/pix", b"{}") == (404, b"Unknown webhook address.")
    too_big = b'{"pix": [' + b" " * (256 * 1024) + b"]}"
    assert _asgi_post(path, too_big) == (413, b"The body is too large.")
    assert len(queued) == 1  # none of the refused ones queued anything


# --- the sweeper ----------------------------------------------------------------------------------------------------


def test_the_sweeper_reads_every_open_charge_in_turn_however_many_are_open(
    tenant, conversation, pix_account, psp, sent, capture
):
    from payments.orders import order_create
    from payments.requests import payment_requests_sweep

    orders = [
        order_create(actor=owner_of(tenant), conversation=conversation, amount=1000 + n, description=f"Recarga {n}")
        for n in range(3)
    ]
    with capture(execute=True):
        requests = [payment_request_create(actor=owner_of(tenant), order=o, kind="bcb_pix") for o in orders]
    psp.admin.pix_pay(requests[2].charge_id)  # its webhook never comes; the last in line

    read: list[list[int]] = []
    for _ in range(3):
        before = dict(PaymentRequest.objects.values_list("pk", "checked_at"))
        with capture(execute=True):
            assert payment_requests_sweep(limit=1) == {"checked": 1, "expired": 0}
        after = dict(PaymentRequest.objects.values_list("pk", "checked_at"))
        read.append([pk for pk in after if after[pk] != before[pk]])

    assert read == [[requests[0].pk], [requests[1].pk], [requests[2].pk]]
    assert [Order.objects.get(pk=o.pk).status for o in orders] == ["awaiting_payment", "awaiting_payment", "paid"]
    assert len(sent.of_type("order_status")) == 1

    with capture(execute=True):  # the fourth pass starts the round again with the one read longest ago
        payment_requests_sweep(limit=1)
    assert PaymentRequest.objects.filter(pk=requests[0].pk).values_list("checked_at", flat=True).get() > (
        PaymentRequest.objects.filter(pk=requests[1].pk).values_list("checked_at", flat=True).get()
    )


# --- refunds settled by the provider's callback --------------------------------------------------------------------


def test_a_devolucao_settled_at_the_bank_is_done_when_its_callback_comes(
    tenant, order, pix_account, psp, sent, capture
):
    from payments.refunds import payment_refund

    request, body = _paid_charge(tenant, order, psp, capture)
    with capture(execute=True):
        assert _post(pix_account, body) == 200
    payment = Payment.objects.get(request=request)
    with capture(execute=True):
        refund = payment_refund(actor=owner_of(tenant), payment=payment, amount=1000, reason="Recarga parcial")
    assert refund.status == "processing"
    told_before = len(sent.message_ids)

    with capture(execute=True):  # a callback before the bank settles it changes nothing
        assert _post(pix_account, body) == 200
    refund.refresh_from_db()
    assert (refund.status, len(sent.message_ids)) == ("processing", told_before)

    psp.admin.pix_settle_refund(payment.psp_payment_id, refund.refund_id)
    with capture(execute=True):  # the bank's callback names the charge again; read back, it carries the devolução
        assert _post(pix_account, body) == 200
    refund.refresh_from_db()
    payment.refresh_from_db()
    assert (refund.status, payment.refunded_amount) == ("done", 1000)
    assert len(sent.message_ids) == told_before + 1  # the customer is told once
    assert Order.objects.get(pk=order.pk).status == "paid"  # part of it given back: still paid

    with capture(execute=True):  # and again: nothing more
        assert _post(pix_account, body) == 200
    assert (Refund.objects.get(pk=refund.pk).status, len(sent.message_ids)) == ("done", told_before + 1)


def test_an_account_whose_provider_is_gone_never_stops_the_sweeper_for_the_others(
    tenant, order, pix_account, psp, sent, capture, settings
):
    request, _body = _paid_charge(tenant, order, psp, capture)  # paid, its webhook lost
    other = make_tenant("Other", slug="other")
    gone = payment_account_save(
        actor=owner_of(other), tenant=other, kind="bcb_pix", values=pix_account_values(psp),
        secrets={"client_secret": psp.client_secret},
    )  # fmt: skip
    stranded = Order.objects.create(
        tenant=other, number=1, source="agent", subtotal=100, total=100, status="awaiting_payment"
    )
    PaymentRequest.objects.create(
        tenant=other, order=stranded, account=gone, charge_id="gone" + "0" * 26, reference="1-1",
        psp_reference="gone" + "0" * 26, amount=100, expires_at=request.expires_at,
    )  # fmt: skip
    PaymentAccount.objects.filter(pk=gone.pk).update(provider="retired")  # no longer among the deployment's

    with capture(execute=True):
        counts = payment_requests_sweep()
    assert counts["checked"] == 2
    assert Order.objects.get(pk=order.pk).status == "paid"
    assert Client().post(f"/webhooks/payments/{gone.webhook_key}/pix", data="{}", content_type="application/json"
                         ).status_code == 404  # fmt: skip
