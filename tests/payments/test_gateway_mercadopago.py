"""The Mercado Pago adapter against the fake Mercado Pago: the preference of the fixture, payments derived into the
charge's state, idempotent refunds that add up, signed webhooks verified, errors typed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from payments.fake import FakeAdminError
from payments.gateways import (
    Charge,
    ChargeStatus,
    MercadoPagoConfig,
    MercadoPagoGateway,
    Notification,
    NotificationMalformed,
    PaymentStatus,
    PermanentGatewayError,
    ReceivedPayment,
    Refund,
    RefundStatus,
    TransientGatewayError,
    Violation,
)
from payments.signatures import SignatureInvalid

if TYPE_CHECKING:
    from tests.payments.fake_psp_fixtures import PspSetup

pytest_plugins = ["tests.payments.fake_psp_fixtures"]

BRT = timezone(timedelta(hours=-3))


def link(psp: PspSetup, gateway: MercadoPagoGateway, **overrides) -> Charge:
    return gateway.create_charge(psp.card_request(**overrides))


# --- Links ------------------------------------------------------------------------------------------------------------


def test_create_charge_posts_the_fixtures_preference_and_reads_its_link(psp: PspSetup):
    with psp.mercadopago_gateway() as gateway:
        charge = link(psp, gateway, notification_url=None)

    (post,) = psp.admin.requests("mercadopago", method="POST")
    expected = psp.fixture("mp_preference_create_request.json")
    del expected["notification_url"]
    assert post["path"] == "/mercadopago/checkout/preferences"
    assert post["json"] == expected
    assert '"unit_price":25.0' in post["body"]
    assert post["headers"]["x-idempotency-key"] == "wa-ord-000123-link-1"
    assert charge == Charge(
        gateway="mercadopago",
        psp_reference=charge.psp_reference,
        status=ChargeStatus.ACTIVE,
        amount=2500,
        expires_at=datetime(2026, 11, 5, 11, 47, tzinfo=BRT),
        payment_url=f"{psp.server.base_url}/mercadopago/checkout/v1/redirect?pref_id={charge.psp_reference}",
        reference=psp.reference,
    )
    assert charge.psp_reference.startswith("1234567890-")


def test_the_notification_url_is_sent_as_given(psp: PspSetup):
    with psp.mercadopago_gateway() as gateway:
        link(psp, gateway, notification_url=psp.fixture("mp_preference_create_request.json")["notification_url"])

    (post,) = psp.admin.requests("mercadopago", method="POST")
    assert post["json"] == psp.fixture("mp_preference_create_request.json")


def test_amounts_with_centavos_travel_exactly_as_json_numbers(psp: PspSetup):
    from payments.gateways import ChargeItem

    items = (ChargeItem("a", "A", 3, 1999), ChargeItem("b", "B", 1, 1))
    with psp.mercadopago_gateway() as gateway:
        charge = gateway.create_charge(psp.card_request(items=items, amount=5998))

    body = psp.admin.requests("mercadopago", method="POST")[0]["body"]
    assert '"unit_price":19.99' in body and '"unit_price":0.01' in body
    assert charge.amount == 5998


def test_a_retried_create_with_the_same_charge_id_returns_the_same_link(psp: PspSetup):
    with psp.mercadopago_gateway() as gateway:
        first = link(psp, gateway)
        again = link(psp, gateway)

    assert again.psp_reference == first.psp_reference


def test_a_link_is_active_rejected_attempts_leave_it_so_and_an_approval_pays_it(psp: PspSetup):
    with psp.mercadopago_gateway() as gateway:
        charge = link(psp, gateway)
        fresh = gateway.get_charge(charge.psp_reference)
        rejected = psp.admin.mercadopago_checkout(charge.psp_reference, "rejected")
        after_rejection = gateway.get_charge(charge.psp_reference)
        psp.advance(60)
        approved = psp.admin.mercadopago_checkout(charge.psp_reference, "approved")
        paid = gateway.get_charge(charge.psp_reference)

    assert (fresh.status, fresh.payments) == (ChargeStatus.ACTIVE, ())
    assert after_rejection.status is ChargeStatus.ACTIVE
    assert [p.detail for p in after_rejection.payments] == ["cc_rejected_insufficient_amount"]
    assert paid.status is ChargeStatus.PAID
    assert paid.payments == (
        ReceivedPayment(
            psp_payment_id=str(approved["id"]),
            amount=2500,
            status=PaymentStatus.PAID,
            paid_at=datetime(2026, 11, 5, 11, 33, tzinfo=BRT),
            reference=psp.reference,
            detail="accredited",
        ),
        ReceivedPayment(
            psp_payment_id=str(rejected["id"]),
            amount=2500,
            status=PaymentStatus.REJECTED,
            reference=psp.reference,
            detail="cc_rejected_insufficient_amount",
        ),
    )
    (search,) = psp.admin.requests("mercadopago", path_contains="/search")[-1:]
    assert search["query"] == {
        "external_reference": psp.reference,
        "sort": "date_created",
        "criteria": "desc",
        "limit": "100",
        "offset": "0",
    }


def test_a_pending_payment_leaves_the_link_active_until_it_settles(psp: PspSetup):
    with psp.mercadopago_gateway() as gateway:
        charge = link(psp, gateway)
        pending = psp.admin.mercadopago_checkout(charge.psp_reference, "pending")
        waiting = gateway.get_charge(charge.psp_reference)
        psp.admin.mercadopago_set_status(str(pending["id"]), "approved", "accredited")
        settled = gateway.get_charge(charge.psp_reference)

    assert (waiting.status, waiting.payments[0].status) == (ChargeStatus.ACTIVE, PaymentStatus.PENDING)
    assert (settled.status, settled.payments[0].status) == (ChargeStatus.PAID, PaymentStatus.PAID)


def test_a_link_past_its_expiry_is_expired_and_its_checkout_refuses(psp: PspSetup):
    with psp.mercadopago_gateway() as gateway:
        charge = link(psp, gateway)
        psp.advance(15 * 60 + 1)
        expired = gateway.get_charge(charge.psp_reference)
        with pytest.raises(FakeAdminError) as refused:
            psp.admin.mercadopago_checkout(charge.psp_reference, "approved")

    assert expired.status is ChargeStatus.EXPIRED
    assert (refused.value.status, refused.value.message) == (409, "This payment link has expired.")


def test_cancel_closes_the_link_now_and_a_paid_one_stays_paid(psp: PspSetup):
    with psp.mercadopago_gateway() as gateway:
        unpaid = link(psp, gateway)
        canceled = gateway.cancel_charge(unpaid.psp_reference)
        with pytest.raises(FakeAdminError):
            psp.admin.mercadopago_checkout(unpaid.psp_reference, "approved")
        paid = link(psp, gateway, charge_id="wa-ord-000124-link-1", reference="wa-ord-000124")
        psp.admin.mercadopago_checkout(paid.psp_reference, "approved")
        still_paid = gateway.cancel_charge(paid.psp_reference)

    put = psp.admin.requests("mercadopago", method="PUT")[0]
    assert put["json"] == {"expires": True, "expiration_date_to": "2026-11-05T11:32:00.000-03:00"}
    assert canceled.status is ChargeStatus.CANCELED
    assert still_paid.status is ChargeStatus.PAID


# --- Payments ---------------------------------------------------------------------------------------------------------


def test_the_approved_fixture_is_read_field_by_field(psp: PspSetup):
    answer = psp.fixture("mp_payment_get_approved_200.json")
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json=answer))
    config = MercadoPagoConfig(access_token="TEST-x", api_url="https://api.mercadopago.com")

    with MercadoPagoGateway(config, transport=transport) as gateway:
        payment = gateway.get_payment("123456789012")

    assert payment == ReceivedPayment(
        psp_payment_id="123456789012",
        amount=2500,
        status=PaymentStatus.PAID,
        paid_at=datetime(2026, 11, 5, 14, 35, 12, tzinfo=UTC),
        reference=psp.reference,
        detail="accredited",
    )


def test_the_rejected_fixture_is_a_rejected_attempt_with_its_reason(psp: PspSetup):
    answer = psp.fixture("mp_payment_get_rejected_200.json")
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json=answer))
    config = MercadoPagoConfig(access_token="TEST-x", api_url="https://api.mercadopago.com")

    with MercadoPagoGateway(config, transport=transport) as gateway:
        payment = gateway.get_payment("123456789012")

    assert payment == ReceivedPayment(
        psp_payment_id="123456789012",
        amount=2500,
        status=PaymentStatus.REJECTED,
        reference=psp.reference,
        detail="cc_rejected_insufficient_amount",
    )


def test_a_payment_the_fake_made_has_the_fixtures_shape(psp: PspSetup):
    with psp.mercadopago_gateway() as gateway:
        charge = link(psp, gateway)
        approved = psp.admin.mercadopago_checkout(charge.psp_reference, "approved")
        rejected = psp.admin.mercadopago_checkout(charge.psp_reference, "rejected")

    assert psp.shape(approved) == psp.shape(psp.fixture("mp_payment_get_approved_200.json"))
    fixture = psp.fixture("mp_payment_get_approved_200.json")
    for name in (
        "status",
        "status_detail",
        "transaction_amount",
        "transaction_details",
        "external_reference",
        "metadata",
        "currency_id",
        "payment_type_id",
        "statement_descriptor",
    ):
        assert approved[name] == fixture[name]
    assert (rejected["status"], rejected["status_detail"]) == ("rejected", "cc_rejected_insufficient_amount")


def test_an_unknown_payment_is_permanent_with_cause_2000(psp: PspSetup):
    with psp.mercadopago_gateway() as gateway, pytest.raises(PermanentGatewayError) as error:
        gateway.get_payment("999")

    assert (error.value.http_status, error.value.code, error.value.message) == (404, "2000", "Payment not found")
    assert error.value.violations == (Violation(reason="Payment not found", code="2000"),)


# --- Refunds ----------------------------------------------------------------------------------------------------------


def approved_payment(psp: PspSetup, gateway: MercadoPagoGateway) -> str:
    charge = link(psp, gateway)
    return str(psp.admin.mercadopago_checkout(charge.psp_reference, "approved")["id"])


def only_link(psp: PspSetup) -> str:
    (preference_id,) = psp.server.state.mercadopago.preferences
    return preference_id


def test_a_partial_refund_sends_the_fixtures_body_with_our_id_as_idempotency_key(psp: PspSetup):
    with psp.mercadopago_gateway() as gateway:
        payment_id = approved_payment(psp, gateway)
        refund = gateway.refund(psp_payment_id=payment_id, amount=1000, refund_id="refund-1")

    post = psp.admin.requests("mercadopago", method="POST", path_contains="/refunds")[0]
    assert post["path"] == f"/mercadopago/v1/payments/{payment_id}/refunds"
    assert post["json"] == psp.fixture("mp_refund_create_request_partial.json")
    assert post["body"] == '{"amount":10.0}'
    assert post["headers"]["x-idempotency-key"] == "refund-1"
    assert refund == Refund(
        refund_id="refund-1",
        psp_refund_id=refund.psp_refund_id,
        psp_payment_id=payment_id,
        amount=1000,
        status=RefundStatus.DONE,
        requested_at=datetime(2026, 11, 5, 11, 32, tzinfo=BRT),
    )


def test_a_repeated_refund_key_replays_the_first_refund_instead_of_refunding_twice(psp: PspSetup):
    with psp.mercadopago_gateway() as gateway:
        payment_id = approved_payment(psp, gateway)
        first = gateway.refund(psp_payment_id=payment_id, amount=1000, refund_id="refund-1")
        again = gateway.refund(psp_payment_id=payment_id, amount=1000, refund_id="refund-1")
        payment = gateway.get_payment(payment_id)

    assert again == first
    assert (payment.refunded_amount, len(payment.refunds)) == (1000, 1)


def test_partial_refunds_add_up_to_refunded_and_never_exceed(psp: PspSetup):
    with psp.mercadopago_gateway() as gateway:
        payment_id = approved_payment(psp, gateway)
        gateway.refund(psp_payment_id=payment_id, amount=1000, refund_id="r1")
        with pytest.raises(PermanentGatewayError) as exceeds:
            gateway.refund(psp_payment_id=payment_id, amount=1501, refund_id="r2")
        partly = gateway.get_payment(payment_id)
        last = gateway.refund(psp_payment_id=payment_id, amount=1500, refund_id="r3")
        with pytest.raises(PermanentGatewayError) as already:
            gateway.refund(psp_payment_id=payment_id, amount=1, refund_id="r4")
        full = gateway.get_payment(payment_id)
        fetched = gateway.get_refund(psp_payment_id=payment_id, psp_refund_id=last.psp_refund_id)
        charge = gateway.get_charge(only_link(psp))

    assert (exceeds.value.http_status, exceeds.value.code) == (400, "refund_amount_exceeds")
    assert (partly.status, partly.detail, partly.refunded_amount) == (PaymentStatus.PAID, "partially_refunded", 1000)
    assert (already.value.code, already.value.message) == ("4296", "Payment already refunded")
    assert (full.status, full.refunded_amount, [r.amount for r in full.refunds]) == (
        PaymentStatus.REFUNDED,
        2500,
        [1000, 1500],
    )
    assert fetched == Refund(
        refund_id=None,
        psp_refund_id=last.psp_refund_id,
        psp_payment_id=payment_id,
        amount=1500,
        status=RefundStatus.DONE,
        requested_at=last.requested_at,
    )
    assert charge.status is ChargeStatus.PAID  # refunded later, but it was paid


def test_the_fakes_refund_answer_has_the_fixtures_shape(psp: PspSetup):
    with psp.mercadopago_gateway() as gateway:
        payment_id = approved_payment(psp, gateway)
    response = psp.http.post(
        f"/mercadopago/v1/payments/{payment_id}/refunds",
        json={"amount": 10.0},
        headers={"Authorization": f"Bearer {psp.mp_token}", "X-Idempotency-Key": "k"},
    )

    expected = psp.fixture("mp_refund_create_response_201.json")
    body = response.json()
    assert response.status_code == 201
    assert psp.shape(body) == psp.shape(expected)
    assert {k: body[k] for k in ("amount", "metadata", "source", "refund_mode", "status", "labels")} == {
        k: expected[k] for k in ("amount", "metadata", "source", "refund_mode", "status", "labels")
    } | {"source": {"id": "1234567890", "name": "Transporte Exemplo", "type": "collector"}}


# --- Errors -----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("status", "retry_after"), [(423, 1.0), (429, 1.0), (500, None), (503, None)])
def test_locked_keys_rate_limits_and_5xx_are_transient(psp: PspSetup, status, retry_after):
    with psp.mercadopago_gateway() as gateway:
        payment_id = approved_payment(psp, gateway)
        psp.admin.add_fault("mercadopago", status=status)
        with pytest.raises(TransientGatewayError) as error:
            gateway.refund(psp_payment_id=payment_id, amount=100, refund_id="r1")
        retried = gateway.refund(psp_payment_id=payment_id, amount=100, refund_id="r1")

    assert (error.value.http_status, error.value.retry_after) == (status, retry_after)
    assert retried.amount == 100


def test_a_bad_access_token_is_permanent(psp: PspSetup):
    with psp.mercadopago_gateway(access_token="TEST-nope") as gateway, pytest.raises(PermanentGatewayError) as error:
        link(psp, gateway)

    assert (error.value.http_status, error.value.message) == (401, "invalid access token")


def test_auto_return_without_a_success_url_is_refused_as_the_fixture(psp: PspSetup):
    body = psp.fixture("mp_preference_create_request.json")
    del body["back_urls"]["success"]
    response = psp.http.post(
        "/mercadopago/checkout/preferences", json=body, headers={"Authorization": f"Bearer {psp.mp_token}"}
    )

    assert response.status_code == 400
    assert response.json() == psp.fixture("mp_error_bad_request_400.json")


def test_network_timeouts_are_transient():
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    config = MercadoPagoConfig(access_token="TEST-x", api_url="https://api.mercadopago.com")
    gateway = MercadoPagoGateway(config, transport=httpx.MockTransport(slow))
    with gateway, pytest.raises(TransientGatewayError, match="timed out"):
        gateway.get_payment("1")


# --- Webhooks ---------------------------------------------------------------------------------------------------------


def test_the_fixtures_webhook_verifies_and_names_the_payment_from_the_query(psp: PspSetup):
    exchange = psp.fixture("mp_webhook_payment_exchange.json")["request"]
    query = dict(parse_qsl(urlsplit(exchange["url"]).query))
    gateway = psp.mercadopago_gateway()

    notification = gateway.parse_notification(
        headers=exchange["headers"], query=query, raw_body=exchange["body_raw"].encode(), now=1762352400
    )

    assert notification == Notification(
        gateway="mercadopago", topic="payment", psp_payment_ids=("123456789012",), event_id="117832495821"
    )


def test_a_webhook_whose_query_names_another_payment_does_not_verify(psp: PspSetup):
    exchange = psp.fixture("mp_webhook_payment_exchange.json")["request"]

    with pytest.raises(SignatureInvalid) as error:
        psp.mercadopago_gateway().parse_notification(
            headers=exchange["headers"],
            query={"data.id": "999999999999", "type": "payment"},
            raw_body=exchange["body_raw"].encode(),
            now=1762352400,
        )

    assert error.value.reason == "mismatch"


def test_an_old_webhook_is_stale_and_an_unsigned_one_missing(psp: PspSetup):
    exchange = psp.fixture("mp_webhook_payment_exchange.json")["request"]
    query = dict(parse_qsl(urlsplit(exchange["url"]).query))
    gateway = psp.mercadopago_gateway()

    with pytest.raises(SignatureInvalid) as stale:
        gateway.parse_notification(headers=exchange["headers"], query=query, raw_body=b"{}", now=1762352400 + 301)
    with pytest.raises(SignatureInvalid) as missing:
        gateway.parse_notification(headers={}, query=query, raw_body=b"{}", now=1762352400)

    assert (stale.value.reason, missing.value.reason) == ("stale", "missing")


def test_a_signed_webhook_with_a_body_that_is_not_json_is_malformed(psp: PspSetup):
    exchange = psp.fixture("mp_webhook_payment_exchange.json")["request"]
    query = dict(parse_qsl(urlsplit(exchange["url"]).query))

    with pytest.raises(NotificationMalformed):
        psp.mercadopago_gateway().parse_notification(
            headers=exchange["headers"], query=query, raw_body=b"<xml/>", now=1762352400
        )


def test_the_fakes_webhooks_verify_with_a_fresh_request_id_and_lead_to_the_payment(psp: PspSetup):
    with psp.mercadopago_gateway() as gateway:
        charge = link(psp, gateway)
        payment = psp.admin.mercadopago_checkout(charge.psp_reference, "approved")
        gateway.refund(psp_payment_id=str(payment["id"]), amount=500, refund_id="r1")
        created, updated = psp.receiver.wait_for_posts(2, path="/webhooks/mercadopago/tenant-42")
        notes = [
            gateway.parse_notification(headers=p.headers, query=p.query, raw_body=p.body, now=psp.clock())
            for p in (created, updated)
        ]
        looked_up = gateway.get_payment(notes[0].psp_payment_ids[0])

    assert created.query == {"source_news": "webhooks", "data.id": str(payment["id"]), "type": "payment"}
    assert [p.json()["action"] for p in (created, updated)] == ["payment.created", "payment.updated"]
    assert psp.shape(created.json()) == psp.shape(psp.fixture("mp_webhook_payment_exchange.json")["request"]["body"])
    assert created.headers["x-request-id"] != updated.headers["x-request-id"]
    assert [n.psp_payment_ids for n in notes] == [(str(payment["id"]),)] * 2
    assert (looked_up.status, looked_up.refunded_amount) == (PaymentStatus.PAID, 500)


def test_without_a_notification_url_webhooks_go_to_the_panels_url(psp: PspSetup):
    with psp.mercadopago_gateway() as gateway:
        charge = link(psp, gateway, notification_url=None)
        payment = psp.admin.mercadopago_checkout(charge.psp_reference, "approved")

    (post,) = psp.receiver.wait_for_posts(1, path="/webhooks/mercadopago/panel")
    assert post.query == {"data.id": str(payment["id"]), "type": "payment"}
