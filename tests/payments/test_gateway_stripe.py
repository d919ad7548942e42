"""The Stripe adapter against the fake Stripe: the session form of the fixture, the expiry window, idempotent
replays, payment and refunds, and signed events verified over the exact bytes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import httpx
import pytest

from payments.gateways import (
    Charge,
    ChargeStatus,
    Notification,
    PaymentStatus,
    PermanentGatewayError,
    ReceivedPayment,
    Refund,
    RefundStatus,
    StripeConfig,
    StripeGateway,
    TransientGatewayError,
    Violation,
)
from payments.signatures import SignatureInvalid

if TYPE_CHECKING:
    from tests.payments.fake_psp_fixtures import PspSetup

pytest_plugins = ["tests.payments.fake_psp_fixtures"]

# The fixture's session: created 1762352400, expiring 1762354200 (30 minutes). Our request is built a minute
# earlier, so that the adapter's one-minute margin leaves the fixture's expires_at as it is.
FIXTURE_EXPIRES_AT = 1762354200


def fixture_request(psp: PspSetup):
    psp.clock.set(FIXTURE_EXPIRES_AT - 31 * 60)
    return psp.card_request(
        success_url="https://helpdesk.example.com/pay/return/success?session_id={CHECKOUT_SESSION_ID}",
        failure_url="https://helpdesk.example.com/pay/return/cancel",
        pending_url=None,
        expires_at=datetime.fromtimestamp(FIXTURE_EXPIRES_AT, UTC),
    )


def test_create_charge_posts_the_fixtures_form_with_idempotency_key_and_version(psp: PspSetup):
    expected = psp.fixture("stripe_checkout_session_create_request.json")

    with psp.stripe_gateway() as gateway:
        charge = gateway.create_charge(fixture_request(psp))

    (post,) = psp.admin.requests("stripe", method="POST")
    assert post["path"] == "/stripe/v1/checkout/sessions"
    assert post["headers"]["content-type"] == "application/x-www-form-urlencoded"
    assert post["form"] == expected["form"]
    assert list(post["form"]) == list(expected["form"])
    assert post["headers"]["idempotency-key"] == expected["headers"]["Idempotency-Key"]
    assert post["headers"]["stripe-version"] == expected["headers"]["Stripe-Version"]
    assert post["authorization"] == "Bearer"
    assert charge == Charge(
        gateway="stripe",
        psp_reference=charge.psp_reference,
        status=ChargeStatus.ACTIVE,
        amount=2500,
        currency="BRL",
        expires_at=datetime.fromtimestamp(FIXTURE_EXPIRES_AT, UTC),
        payment_url=f"{psp.server.base_url}/stripe/c/pay/{charge.psp_reference}",
        reference=psp.reference,
    )


def test_the_fakes_session_has_the_fixtures_fields(psp: PspSetup):
    with psp.stripe_gateway() as gateway:
        charge = gateway.create_charge(fixture_request(psp))
    session = psp.server.state.stripe.sessions[charge.psp_reference]

    expected = psp.fixture("stripe_checkout_session_create_response_200.json")
    public = {key: value for key, value in session.items() if not key.startswith("_")}
    assert list(public) == list(expected)
    same = (
        "amount_total",
        "cancel_url",
        "client_reference_id",
        "currency",
        "expires_at",
        "metadata",
        "mode",
        "payment_intent",
        "payment_method_types",
        "payment_status",
        "status",
        "success_url",
    )
    assert {k: public[k] for k in same} == {k: expected[k] for k in same}
    assert len(public["id"]) == len(expected["id"]) and public["id"].startswith("cs_test_")


@pytest.mark.parametrize(
    ("wanted", "sent"),
    [(timedelta(minutes=10), 31 * 60), (timedelta(hours=3), 3 * 3600), (timedelta(days=3), 24 * 3600 - 60)],
)
def test_expires_at_is_kept_inside_stripes_window_with_a_minutes_margin(psp: PspSetup, wanted, sent):
    with psp.stripe_gateway() as gateway:
        charge = gateway.create_charge(psp.card_request(expires_at=psp.now() + wanted))

    assert charge.expires_at == psp.now() + timedelta(seconds=sent)


def test_a_retried_create_replays_the_same_session_and_other_parameters_under_the_key_are_refused(psp: PspSetup):
    with psp.stripe_gateway() as gateway:
        first = gateway.create_charge(psp.card_request())
        again = gateway.create_charge(psp.card_request())
        with pytest.raises(PermanentGatewayError) as error:
            gateway.create_charge(psp.card_request(description="other", items=(), amount=100))

    assert again.psp_reference == first.psp_reference
    assert len(psp.server.state.stripe.sessions) == 1
    assert (error.value.http_status, error.value.code) == (400, "idempotency_error")


def test_a_paid_session_is_a_paid_charge_with_its_payment_intent(psp: PspSetup):
    with psp.stripe_gateway() as gateway:
        charge = gateway.create_charge(psp.card_request())
        session = psp.admin.stripe_checkout(charge.psp_reference)
        paid = gateway.get_charge(charge.psp_reference)
        payment = gateway.get_payment(session["payment_intent"])

    assert paid.status is ChargeStatus.PAID
    assert paid.payment_url is None
    assert paid.payments == (
        ReceivedPayment(
            psp_payment_id=session["payment_intent"],
            amount=2500,
            status=PaymentStatus.PAID,
            psp_reference=charge.psp_reference,
            reference=psp.reference,
        ),
    )
    assert payment == ReceivedPayment(
        psp_payment_id=session["payment_intent"],
        amount=2500,
        status=PaymentStatus.PAID,
        paid_at=psp.start,
        reference=psp.reference,
    )


def test_refunds_by_payment_intent_replay_their_key_add_up_and_never_exceed(psp: PspSetup):
    with psp.stripe_gateway() as gateway:
        charge = gateway.create_charge(psp.card_request())
        intent = psp.admin.stripe_checkout(charge.psp_reference)["payment_intent"]
        first = gateway.refund(psp_payment_id=intent, amount=1000, refund_id="r1", reason="duplicate order")
        replay = gateway.refund(psp_payment_id=intent, amount=1000, refund_id="r1", reason="duplicate order")
        with pytest.raises(PermanentGatewayError) as too_much:
            gateway.refund(psp_payment_id=intent, amount=1501, refund_id="r2")
        gateway.refund(psp_payment_id=intent, amount=1500, refund_id="r3")
        fetched = gateway.get_refund(psp_payment_id=intent, psp_refund_id=first.psp_refund_id)
        after = gateway.get_charge(charge.psp_reference)

    post = psp.admin.requests("stripe", method="POST", path_contains="/refunds")[0]
    assert post["form"] == {
        "payment_intent": intent,
        "amount": "1000",
        "metadata[refund_id]": "r1",
        "metadata[reason]": "duplicate order",
    }
    assert post["headers"]["idempotency-key"] == "r1"
    assert (
        replay
        == first
        == fetched
        == Refund(
            refund_id="r1",
            psp_refund_id=first.psp_refund_id,
            psp_payment_id=intent,
            amount=1000,
            status=RefundStatus.DONE,
            reason="duplicate order",
            requested_at=psp.start,
        )
    )
    assert (too_much.value.code, too_much.value.violations) == (
        "amount_too_large",
        (
            Violation(
                reason="Refund amount (1501) is greater than unrefunded amount on charge (1500)", property="amount"
            ),
        ),
    )
    (payment,) = after.payments
    assert (after.status, payment.status, payment.refunded_amount) == (ChargeStatus.PAID, PaymentStatus.REFUNDED, 2500)


def test_cancel_expires_an_open_session_and_leaves_a_paid_one_paid(psp: PspSetup):
    with psp.stripe_gateway() as gateway:
        open_one = gateway.create_charge(psp.card_request())
        canceled = gateway.cancel_charge(open_one.psp_reference)
        paid_one = gateway.create_charge(psp.card_request(charge_id="wa-ord-000124-link-1"))
        psp.admin.stripe_checkout(paid_one.psp_reference)
        still_paid = gateway.cancel_charge(paid_one.psp_reference)

    assert (canceled.status, canceled.payment_url) == (ChargeStatus.CANCELED, None)
    assert still_paid.status is ChargeStatus.PAID


def test_an_open_session_past_expires_at_is_expired(psp: PspSetup):
    with psp.stripe_gateway() as gateway:
        charge = gateway.create_charge(psp.card_request())
        psp.advance(31 * 60)
        expired = gateway.get_charge(charge.psp_reference)

    assert expired.status is ChargeStatus.EXPIRED
    assert psp.server.state.stripe.sessions[charge.psp_reference]["status"] == "expired"


def test_a_wrong_secret_key_is_permanent_and_5xx_and_429_transient(psp: PspSetup):
    with psp.stripe_gateway(secret_key="sk_test_wrong") as gateway, pytest.raises(PermanentGatewayError) as bad_key:
        gateway.create_charge(psp.card_request())
    with psp.stripe_gateway() as gateway:
        psp.admin.add_fault("stripe", status=500)
        with pytest.raises(TransientGatewayError) as server_error:
            gateway.create_charge(psp.card_request())
        psp.admin.add_fault("stripe", status=429)
        with pytest.raises(TransientGatewayError) as limited:
            gateway.create_charge(psp.card_request())
        created = gateway.create_charge(psp.card_request())

    assert (bad_key.value.http_status, bad_key.value.message) == (401, "Invalid API Key provided: ********rong")
    assert (server_error.value.http_status, server_error.value.code) == (500, "api_error")
    assert (limited.value.http_status, limited.value.retry_after) == (429, 1.0)
    assert created.status is ChargeStatus.ACTIVE


def test_timeouts_are_transient():
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    config = StripeConfig(secret_key="sk_test_x", api_url="https://api.stripe.com")
    gateway = StripeGateway(config, transport=httpx.MockTransport(slow))
    with gateway, pytest.raises(TransientGatewayError, match="timed out"):
        gateway.get_charge("cs_test_x")


# --- Events -----------------------------------------------------------------------------------------------------------


def test_the_fixtures_event_verifies_and_names_the_session_and_payment_intent(psp: PspSetup):
    exchange = psp.fixture("stripe_webhook_checkout_session_completed_exchange.json")["request"]

    notification = psp.stripe_gateway().parse_notification(
        headers=exchange["headers"], query={}, raw_body=exchange["body_raw"].encode(), now=1762352700
    )

    assert notification == Notification(
        gateway="stripe",
        topic="checkout.session.completed",
        psp_references=("cs_test_a1B2c3D4e5F6g7H8i9J0kLmNoPqRsTuVwXyZ0123456789abcdEFGH",),
        psp_payment_ids=("pi_3QabcDEF0123456789ghij",),
        event_id="evt_1QabcDEF0123456789klmn",
    )


def test_an_event_re_serialised_or_too_old_does_not_verify(psp: PspSetup):
    exchange = psp.fixture("stripe_webhook_checkout_session_completed_exchange.json")["request"]
    gateway = psp.stripe_gateway()

    pretty = json.dumps(exchange["body"], indent=2).encode()
    with pytest.raises(SignatureInvalid) as mismatch:
        gateway.parse_notification(headers=exchange["headers"], query={}, raw_body=pretty, now=1762352700)
    with pytest.raises(SignatureInvalid) as stale:
        gateway.parse_notification(
            headers=exchange["headers"], query={}, raw_body=exchange["body_raw"].encode(), now=1762352700 + 301
        )

    assert (mismatch.value.reason, stale.value.reason) == ("mismatch", "stale")


def test_the_fakes_events_verify_and_lead_to_the_charge(psp: PspSetup):
    with psp.stripe_gateway() as gateway:
        charge = gateway.create_charge(psp.card_request())
        psp.admin.stripe_checkout(charge.psp_reference)
        (post,) = psp.receiver.wait_for_posts(1, path="/webhooks/stripe/tenant-42")
        notification = gateway.parse_notification(headers=post.headers, query={}, raw_body=post.body, now=psp.clock())
        (reference,) = notification.psp_references
        paid = gateway.get_charge(reference)

    expected = psp.fixture("stripe_webhook_checkout_session_completed_exchange.json")["request"]
    assert post.headers["content-type"] == expected["headers"]["Content-Type"]
    assert list(post.json()) == list(expected["body"])
    assert notification.topic == "checkout.session.completed"
    assert notification.psp_payment_ids == (paid.payments[0].psp_payment_id,)
    assert paid.status is ChargeStatus.PAID


def test_a_refund_event_names_its_payment_intent(psp: PspSetup):
    with psp.stripe_gateway() as gateway:
        charge = gateway.create_charge(psp.card_request())
        intent = psp.admin.stripe_checkout(charge.psp_reference)["payment_intent"]
        gateway.refund(psp_payment_id=intent, amount=100, refund_id="r1")
        _, post = psp.receiver.wait_for_posts(2, path="/webhooks/stripe/tenant-42")
        notification = gateway.parse_notification(headers=post.headers, query={}, raw_body=post.body, now=psp.clock())

    assert (notification.topic, notification.psp_references, notification.psp_payment_ids) == (
        "refund.created",
        (),
        (intent,),
    )
