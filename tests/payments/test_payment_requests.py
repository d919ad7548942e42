"""Payment requests and confirmations against the fake PSP: a static Pix code confirmed by an admin, a dynamic
Pix charge and a Mercado Pago card link paid by the payer; a webhook body is never trusted (a forged Pix
notification for a charge still ATIVA pays nothing), a bad signature is a 401 that keeps nothing, and
duplicated webhooks plus the sweeper record one payment, one paid transition and one status message."""

from __future__ import annotations

import json
import time

import pytest
from django.test import Client
from django.utils import timezone

from conversations.models import OutboxEvent
from helpdesk.exceptions import ApplicationError, PermissionDenied, ValidationFailed
from payments import brcode
from payments.accounts import payment_account_save
from payments.models import Order, Payment, PaymentAccount, PaymentRequest, Refund
from payments.refunds import payment_refund, refunds_follow
from payments.requests import payment_mark_received, payment_request_create, payment_requests_sweep
from payments.signatures import mercadopago_sign
from tenants.models import AuditLogEntry
from tenants.permissions import BuiltinRole
from tests.factories import add_member, owner_of

pytest_plugins = ["tests.payments.fake_psp_fixtures"]
pytestmark = pytest.mark.django_db


@pytest.fixture
def pix_settings(settings, psp):
    settings.PAYMENTS_PIX_PROVIDERS = {
        "fake": {"name": "Fake PSP", "api_url": psp.server.pix_api_url, "token_url": psp.server.pix_token_url}
    }
    settings.MERCADOPAGO_API_URL = psp.server.mercadopago_url
    settings.PAYMENTS_ALLOW_PLAIN_HTTP = True
    return psp


def _account(tenant, kind: str, **values) -> PaymentAccount:
    secrets = values.pop("secrets", {})
    return payment_account_save(actor=owner_of(tenant), tenant=tenant, kind=kind, values=values, secrets=secrets)


def _audit(tenant) -> list[str]:
    return list(
        AuditLogEntry.objects.filter(tenant=tenant, action__startswith="payment")
        .order_by("id")
        .values_list("action", flat=True)
    )


# --- static Pix, confirmed by hand -----------------------------------------------------------------------


def test_a_static_pix_code_is_sent_and_an_admin_records_the_payment_once(tenant, order, sent, capture):
    _account(tenant, "static_pix", pix_key="+5511912345678", pix_key_type="PHONE", merchant_name="Transporte Exemplo",
             merchant_city="Sao Paulo")  # fmt: skip
    agent = add_member(tenant, BuiltinRole.AGENT)

    with capture(execute=True):
        request = payment_request_create(actor=agent, order=order, kind="static_pix")

    parsed = brcode.parse(request.pix_code)
    assert (parsed.amount_cents, parsed.key) == (2500, "+5511912345678")
    assert (request.status, request.reference, request.amount, request.psp_reference) == ("open", "1-1", 2500, "")
    assert Order.objects.get(pk=order.pk).status == "awaiting_payment"
    [message] = sent.of_type("payment_request")
    assert (message.content["reference"], message.content["total"], message.content["pix"]["code"]) == (
        "1-1",
        2500,
        request.pix_code,
    )

    with pytest.raises(PermissionDenied):
        payment_mark_received(actor=agent, order=order)
    assert Order.objects.get(pk=order.pk).status == "awaiting_payment"

    with capture(execute=True):
        payment_mark_received(actor=owner_of(tenant), order=order, note="Extrato")
    with pytest.raises(ValidationFailed):
        payment_mark_received(actor=owner_of(tenant), order=Order.objects.get(pk=order.pk))

    assert Order.objects.get(pk=order.pk).status == "paid"
    assert PaymentRequest.objects.get(pk=request.pk).status == "paid"
    assert list(Payment.objects.values_list("psp_payment_id", "amount", "flagged")) == [
        (f"manual-{request.pk}", 2500, "")
    ]
    [status] = sent.of_type("order_status")
    assert (status.content["payment_status"], status.content["reference"]) == ("captured", "1-1")
    assert _audit(tenant) == ["payment_account.saved", "payment.requested", "payment.received"]
    [moved] = AuditLogEntry.objects.filter(tenant=tenant, action="order.status_changed", extra__status__to="paid")
    assert (moved.extra["note"], moved.actor_id) == ("Extrato", owner_of(tenant).user_id)


# --- API Pix through the fake PSP ------------------------------------------------------------------------


@pytest.fixture
def pix_account(tenant, pix_settings) -> PaymentAccount:
    return _account(tenant, "bcb_pix", provider="fake", pix_key=pix_settings.pix_key, pix_key_type="EVP",
                    client_id=pix_settings.client_id, merchant_name="Transporte Exemplo",
                    secrets={"client_secret": pix_settings.client_secret})  # fmt: skip


def _pix_webhook(account: PaymentAccount, body: dict, capture) -> int:
    with capture(execute=True):
        response = Client().post(
            f"/webhooks/payments/{account.webhook_key}/pix", data=json.dumps(body), content_type="application/json"
        )
    return response.status_code


def test_a_pix_charge_paid_by_the_payer_pays_the_order_once_whatever_the_webhooks_say(
    tenant, order, pix_account, pix_settings, sent, capture
):
    with capture(execute=True):
        request = payment_request_create(actor=owner_of(tenant), order=order, kind="bcb_pix")
    assert request.psp_reference == request.charge_id
    assert brcode.parse(request.pix_code).location is not None  # a dynamic code: the PSP's location
    [message] = sent.of_type("payment_request")
    assert message.content["pix"]["key"] == pix_settings.pix_key

    # A forged notification for the charge, still unpaid at the PSP: nothing is paid.
    forged = {
        "pix": [
            {
                "endToEndId": "E" + "1" * 31,
                "txid": request.charge_id,
                "valor": "25.00",
                "horario": "2026-11-05T14:40:00Z",
            }
        ]
    }
    assert _pix_webhook(pix_account, forged, capture) == 200
    assert (Order.objects.get(pk=order.pk).status, Payment.objects.count()) == ("awaiting_payment", 0)

    paid = pix_settings.admin.pix_pay(request.charge_id)
    notification = {"pix": paid.get("pix", [paid])}
    for _ in range(3):  # the PSP delivers it three times
        assert _pix_webhook(pix_account, notification, capture) == 200
    with capture(execute=True):
        assert payment_requests_sweep()["checked"] == 0  # nothing open any more

    order.refresh_from_db()
    assert (order.status, PaymentRequest.objects.get(pk=request.pk).status) == ("paid", "paid")
    confirmed = OutboxEvent.objects.filter(tenant=tenant, event_type="payment.confirmed")
    assert [(e.payload["order_number"], e.payload["amount"], e.payload["reference"]) for e in confirmed] == [
        (order.number, 2500, request.reference)
    ]
    assert Payment.objects.filter(request=request, flagged="").count() == 1
    assert len(sent.of_type("order_status")) == 1
    assert _audit(tenant).count("payment.received") == 1


def test_the_sweeper_finds_a_payment_whose_webhook_never_came(tenant, order, pix_account, pix_settings, sent, capture):
    with capture(execute=True):
        request = payment_request_create(actor=owner_of(tenant), order=order, kind="bcb_pix")
    pix_settings.admin.pix_pay(request.charge_id)
    with capture(execute=True):
        assert payment_requests_sweep() == {"checked": 1, "expired": 0}
    assert Order.objects.get(pk=order.pk).status == "paid"
    assert len(sent.of_type("order_status")) == 1


def test_an_expired_request_is_closed_and_the_order_waits_again(
    tenant, order, pix_account, pix_settings, sent, capture
):
    with capture(execute=True):
        request = payment_request_create(actor=owner_of(tenant), order=order, kind="bcb_pix", minutes=10)
    with capture(execute=True):
        counts = payment_requests_sweep(now=timezone.now() + timezone.timedelta(minutes=11))
    assert counts == {"checked": 1, "expired": 1}
    assert PaymentRequest.objects.get(pk=request.pk).status == "expired"
    assert Order.objects.get(pk=order.pk).status == "pending"
    assert Payment.objects.count() == 0


def test_a_webhook_at_an_unknown_address_or_of_the_wrong_kind_is_a_404(tenant, pix_account, capture):
    unknown = {
        "pix": [{"endToEndId": "E" + "2" * 31, "txid": "x" * 30, "valor": "1.00", "horario": "2026-11-05T14:40:00Z"}]
    }
    assert _pix_webhook(pix_account, unknown, capture) == 200
    assert _pix_webhook(pix_account, {"pix": []}, capture) == 400  # no PSP sends an empty list
    client = Client()
    assert client.post("/webhooks/payments/nope/pix", data="{}", content_type="application/json").status_code == 404
    assert client.post(f"/webhooks/payments/{pix_account.webhook_key}/", data="{}",
                       content_type="application/json").status_code == 404  # fmt: skip
    assert client.get(f"/webhooks/payments/{pix_account.webhook_key}/pix").status_code == 405


# --- Mercado Pago card link ------------------------------------------------------------------------------


@pytest.fixture
def mp_account(tenant, pix_settings) -> PaymentAccount:
    return _account(tenant, "mercadopago", secrets={"access_token": pix_settings.mp_token,
                                                    "webhook_secret": pix_settings.mp_secret})  # fmt: skip


def _mp_webhook(account: PaymentAccount, payment_id: str, secret: str, capture) -> int:
    request_id = "bb56a2f1-6aae-46ac-982e-9dcd3581d08e"
    ts = str(int(time.time()))
    signature = mercadopago_sign(secret=secret, data_id=payment_id, request_id=request_id, ts=ts)
    body = {"type": "payment", "action": "payment.updated", "data": {"id": payment_id}}
    with capture(execute=True):
        response = Client().post(
            f"/webhooks/payments/{account.webhook_key}/?data.id={payment_id}&type=payment",
            data=json.dumps(body),
            content_type="application/json",
            HTTP_X_SIGNATURE=signature,
            HTTP_X_REQUEST_ID=request_id,
        )
    return response.status_code


def test_a_card_link_paid_on_mercado_pago_pays_the_order(tenant, order, mp_account, pix_settings, sent, capture):
    with capture(execute=True):
        request = payment_request_create(actor=owner_of(tenant), order=order, kind="mercadopago")
    assert request.payment_url.startswith("http")
    [message] = sent.of_type("payment_request")
    assert message.content["link"] == request.payment_url

    pix_settings.clock.set(time.time() + 60)  # the payer opens the link a minute later (the fake's clock)
    payment = pix_settings.admin.mercadopago_checkout(request.psp_reference, "approved")
    payment_id = str(payment["id"])
    assert _mp_webhook(mp_account, payment_id, "wrong-secret", capture) == 401
    assert Order.objects.get(pk=order.pk).status == "awaiting_payment"
    assert _mp_webhook(mp_account, payment_id, pix_settings.mp_secret, capture) == 200
    assert _mp_webhook(mp_account, payment_id, pix_settings.mp_secret, capture) == 200

    assert Order.objects.get(pk=order.pk).status == "paid"
    assert list(Payment.objects.values_list("psp_payment_id", "amount")) == [(payment_id, 2500)]
    assert len(sent.of_type("order_status")) == 1


def test_an_order_cannot_be_charged_without_an_account_or_once_paid(tenant, order, sent):
    with pytest.raises(ValidationFailed):
        payment_request_create(actor=owner_of(tenant), order=order, kind="bcb_pix")
    assert not PaymentRequest.objects.exists() and sent.message_ids == []


# --- from the order's page -------------------------------------------------------------------------------


def test_an_agent_requests_a_payment_from_the_orders_page_and_sees_it(tenant, order, sent, capture):
    _account(tenant, "static_pix", pix_key="+5511912345678", pix_key_type="PHONE", merchant_name="Transporte",
             merchant_city="Sao Paulo")  # fmt: skip
    agent = add_member(tenant, BuiltinRole.AGENT)
    order.conversation.inbox.members.add(agent.user)
    client = Client()
    client.force_login(agent.user)
    page = client.get(f"/t/acme/orders/{order.number}/").content.decode()
    assert 'name="kind"' in page and 'value="static_pix"' in page

    with capture(execute=True):
        response = client.post(f"/t/acme/orders/{order.number}/payment/", {"kind": "static_pix"})
    assert response.status_code == 302
    request = PaymentRequest.objects.get(order=order)
    page = client.get(f"/t/acme/orders/{order.number}/").content.decode()
    assert f'data-payment-request="{request.reference}"' in page and request.pix_code in page
    assert len(sent.of_type("payment_request")) == 1

    refused = client.post(f"/t/acme/orders/{order.number}/payment/", {"kind": "mercadopago"}, follow=True)
    assert "This way of payment is not set up in the workspace." in refused.content.decode()
    assert PaymentRequest.objects.filter(order=order).count() == 1


# --- refunds ---------------------------------------------------------------------------------------------


def _paid_by_pix(tenant, order, pix_settings, capture) -> Payment:
    with capture(execute=True):
        request = payment_request_create(actor=owner_of(tenant), order=order, kind="bcb_pix")
    pix_settings.admin.pix_pay(request.charge_id)
    with capture(execute=True):
        payment_requests_sweep()
    return Payment.objects.get(request=request)


def test_refunds_add_up_to_the_payment_and_never_pass_it(tenant, order, pix_account, pix_settings, sent, capture):
    payment = _paid_by_pix(tenant, order, pix_settings, capture)
    owner = owner_of(tenant)
    with capture(execute=True):
        first = payment_refund(actor=owner, payment=payment, amount=1000, reason="Recarga parcial")
    assert (first.amount, first.status) == (1000, "processing")  # the PSP settles a devolução later
    with pytest.raises(ValidationFailed) as refused:
        payment_refund(actor=owner, payment=payment, amount=1501)  # only 15,00 is left
    assert list(refused.value.details) == ["amount"]

    pix_settings.admin.pix_settle_refund(payment.psp_payment_id, first.refund_id)
    with capture(execute=True):
        second = payment_refund(actor=owner, payment=payment, amount=1500)
    pix_settings.admin.pix_settle_refund(payment.psp_payment_id, second.refund_id)
    with capture(execute=True):
        assert refunds_follow() == 2

    payment.refresh_from_db()
    assert (payment.refunded_amount, Order.objects.get(pk=order.pk).status) == (2500, "refunded")
    assert list(Refund.objects.order_by("id").values_list("amount", "status")) == [(1000, "done"), (1500, "done")]
    assert [m.text for m in sent.of_type("text")] == [
        "A refund of R$10.00 for order #1 is on its way to you.",
        "A refund of R$15.00 for order #1 is on its way to you.",
    ]
    with pytest.raises(ValidationFailed):
        payment_refund(actor=owner, payment=payment, amount=1)
    assert Refund.objects.count() == 2


def test_only_who_manages_payments_refunds(tenant, order, pix_account, pix_settings, sent, capture):
    payment = _paid_by_pix(tenant, order, pix_settings, capture)
    with pytest.raises(PermissionDenied):
        payment_refund(actor=add_member(tenant, BuiltinRole.AGENT), payment=payment, amount=100)
    payment.refresh_from_db()
    assert (payment.refunded_amount, Refund.objects.count()) == (0, 0)


def test_a_card_refund_on_mercado_pago_is_done_at_once(tenant, order, mp_account, pix_settings, sent, capture):
    with capture(execute=True):
        request = payment_request_create(actor=owner_of(tenant), order=order, kind="mercadopago")
    pix_settings.clock.set(time.time() + 60)
    paid = pix_settings.admin.mercadopago_checkout(request.psp_reference, "approved")
    assert _mp_webhook(mp_account, str(paid["id"]), pix_settings.mp_secret, capture) == 200
    payment = Payment.objects.get(request=request)
    with capture(execute=True):
        refund = payment_refund(actor=owner_of(tenant), payment=payment, amount=2500)
    assert (refund.status, Order.objects.get(pk=order.pk).status) == ("done", "refunded")
    refunded = pix_settings.admin.requests("mercadopago", path_contains="/refunds")
    assert [r["headers"].get("x-idempotency-key") for r in refunded if r["method"] == "POST"] == [refund.refund_id]


def test_a_payment_recorded_by_hand_is_refunded_by_hand(tenant, order, sent, capture):
    _account(tenant, "static_pix", pix_key="+5511912345678", pix_key_type="PHONE", merchant_name="Transporte",
             merchant_city="Sao Paulo")  # fmt: skip
    with capture(execute=True):
        payment_request_create(actor=owner_of(tenant), order=order, kind="static_pix")
        payment_mark_received(actor=owner_of(tenant), order=order)
    payment = Payment.objects.get()
    with capture(execute=True):
        refund = payment_refund(actor=owner_of(tenant), payment=payment, amount=500, reason="Troco")
    assert (refund.status, Payment.objects.get().refunded_amount) == ("done", 500)
    assert Order.objects.get(pk=order.pk).status == "paid"  # part of it only


def test_an_admin_refunds_from_the_orders_page_and_an_agent_cannot(
    tenant, order, pix_account, pix_settings, sent, capture
):
    payment = _paid_by_pix(tenant, order, pix_settings, capture)
    admin, agent = Client(), Client()
    admin.force_login(owner_of(tenant).user)
    member = add_member(tenant, BuiltinRole.AGENT)
    order.conversation.inbox.members.add(member.user)
    agent.force_login(member.user)
    url = f"/t/acme/orders/{order.number}/refund/"
    assert "/refund/" not in agent.get(f"/t/acme/orders/{order.number}/").content.decode()
    assert agent.post(url, {"payment": payment.pk, "amount": "5.00"}).status_code == 403

    page = admin.get(f"/t/acme/orders/{order.number}/").content.decode()
    assert f'name="payment" value="{payment.pk}"' in page
    too_much = admin.post(url, {"payment": payment.pk, "amount": "25.01"}, follow=True).content.decode()
    assert "At most R$25.00 can still be given back." in too_much
    with capture(execute=True):
        assert admin.post(url, {"payment": payment.pk, "amount": "5.00", "reason": "Desistiu"}).status_code == 302
    assert list(Refund.objects.values_list("amount", "reason")) == [(500, "Desistiu")]
    assert admin.post(url, {"payment": "999999", "amount": "1.00"}).status_code == 302
    assert Refund.objects.count() == 1


# --- reply window and API --------------------------------------------------------------------------------


def test_without_an_open_reply_window_no_charge_is_made(tenant, order, pix_account, pix_settings, sent):
    order.conversation.__class__.objects.filter(pk=order.conversation_id).update(
        last_inbound_at=timezone.now() - timezone.timedelta(hours=25)
    )
    order.refresh_from_db()
    with pytest.raises(ApplicationError) as refused:
        payment_request_create(actor=owner_of(tenant), order=order, kind="bcb_pix")
    assert refused.value.code == "reply_window_closed"
    assert not PaymentRequest.objects.exists()
    assert pix_settings.admin.pix_cobs() == []
    assert sent.message_ids == []


def _api(tenant, role: str) -> Client:
    from tenants.services import api_token_create, role_builtin

    _token, raw = api_token_create(actor=owner_of(tenant), name=f"t-{role}", role=role_builtin(tenant=tenant, key=role))
    return Client(HTTP_AUTHORIZATION=f"Bearer {raw}")


def test_the_api_requests_a_payment_lists_payments_and_refunds(tenant, order, sent, capture):
    _account(tenant, "static_pix", pix_key="+5511912345678", pix_key_type="PHONE", merchant_name="Transporte",
             merchant_city="Sao Paulo")  # fmt: skip
    api, agent = _api(tenant, "admin"), _api(tenant, "agent")
    base = f"/api/v1/t/acme/orders/{order.number}"
    assert api.post(f"{base}/payment-requests/", {"kind": "static_pix"}).status_code == 415
    bad = api.post(f"{base}/payment-requests/", {"kind": "paypal"}, content_type="application/json")
    assert bad.status_code == 400
    with capture(execute=True):
        created = agent.post(f"{base}/payment-requests/", {"kind": "static_pix"}, content_type="application/json")
    assert created.status_code == 201, created.json()
    body = created.json()
    assert (body["reference"], body["kind"], body["status"], body["amount"]) == ("1-1", "static_pix", "open", 2500)
    assert brcode.parse(body["pix_code"]).amount_cents == 2500
    assert [r["reference"] for r in agent.get(f"{base}/payment-requests/").json()] == ["1-1"]

    with capture(execute=True):
        payment_mark_received(actor=owner_of(tenant), order=order)
    assert agent.get(f"{base}/payments/").status_code == 403
    [payment] = api.get(f"{base}/payments/").json()
    assert (payment["amount"], payment["refunded_amount"], payment["flagged"]) == (2500, 0, "")
    too_much = api.post(
        f"{base}/payments/", {"payment_id": payment["id"], "amount": 2501}, content_type="application/json"
    )
    assert too_much.status_code == 400
    with capture(execute=True):
        refund = api.post(f"{base}/payments/", {"payment_id": payment["id"], "amount": 2500, "reason": "Cancelado"},
                          content_type="application/json")  # fmt: skip
    assert (refund.status_code, refund.json()["status"]) == (201, "done")
    assert Order.objects.get(pk=order.pk).status == "refunded"


def test_a_request_racing_another_for_the_same_order_is_a_conflict_and_charges_nothing(tenant, order, sent):
    _account(tenant, "static_pix", pix_key="+5511912345678", pix_key_type="PHONE", merchant_name="Transporte",
             merchant_city="Sao Paulo")  # fmt: skip
    account = PaymentAccount.objects.get(tenant=tenant)
    # What a concurrent request left: the next reference ("1-2") is already taken.
    PaymentRequest.objects.create(tenant=tenant, order=order, account=account, charge_id="a" * 32, reference="1-2",
                                  amount=2500, status="canceled", expires_at=timezone.now())  # fmt: skip
    with pytest.raises(ApplicationError) as refused:
        payment_request_create(actor=owner_of(tenant), order=order, kind="static_pix")
    assert (refused.value.status_code, refused.value.code) == (409, "conflict")
    assert list(PaymentRequest.objects.values_list("reference", flat=True)) == ["1-2"]
    assert sent.message_ids == []
