"""The small fake Stripe on its own: bracket forms, the expiry window, idempotent replays and signed events."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from payments.fake.stripe import StripeError, parse_form
from payments.signatures import stripe_verify

if TYPE_CHECKING:
    import httpx

    from tests.payments.fake_psp_fixtures import PspSetup

pytest_plugins = ["tests.payments.fake_psp_fixtures"]


def session_form(psp: PspSetup, **changes: str) -> dict[str, str]:
    form = dict(psp.fixture("stripe_checkout_session_create_request.json")["form"])
    form["expires_at"] = str(int(psp.clock()) + 3600)
    return {**form, **changes}


def post(psp: PspSetup, path: str, form: dict[str, str], **headers: str) -> httpx.Response:
    return psp.http.post(
        f"/stripe/v1{path}", data=form, headers={"Authorization": f"Bearer {psp.stripe_key}", **headers}
    )


def test_bracket_keys_become_nested_objects_and_numbered_ones_lists():
    raw = b"a[b][0][c]=1&a[b][1][c]=2&m[k]=v&x=y&l[1]=second&l[0]=first"

    assert parse_form(raw) == {
        "a": {"b": [{"c": "1"}, {"c": "2"}]},
        "m": {"k": "v"},
        "x": "y",
        "l": ["first", "second"],
    }


def test_a_key_used_both_as_a_value_and_an_object_is_refused():
    with pytest.raises(StripeError):
        parse_form(b"a=1&a[b]=2")


@pytest.mark.parametrize("offset", [1799, 86401])
def test_expires_at_outside_30_minutes_to_24_hours_is_refused(psp: PspSetup, offset):
    response = post(psp, "/checkout/sessions", session_form(psp, expires_at=str(int(psp.clock()) + offset)))

    assert response.status_code == 400
    assert response.json()["error"]["param"] == "expires_at"


def test_a_replayed_idempotency_key_answers_the_same_bytes_and_says_so(psp: PspSetup):
    first = post(psp, "/checkout/sessions", session_form(psp), **{"Idempotency-Key": "k"})
    again = post(psp, "/checkout/sessions", session_form(psp), **{"Idempotency-Key": "k"})

    assert first.content == again.content
    assert "idempotent-replayed" not in first.headers
    assert again.headers["idempotent-replayed"] == "true"


def test_a_session_without_line_items_or_in_another_mode_is_refused(psp: PspSetup):
    no_lines = {k: v for k, v in session_form(psp).items() if not k.startswith("line_items")}

    assert post(psp, "/checkout/sessions", no_lines).json()["error"]["param"] == "line_items"
    assert post(psp, "/checkout/sessions", session_form(psp, mode="subscription")).json()["error"]["param"] == "mode"


def test_a_paid_session_sends_checkout_session_completed_signed_over_the_exact_bytes(psp: PspSetup):
    session = post(psp, "/checkout/sessions", session_form(psp)).json()

    psp.admin.stripe_checkout(session["id"], email="cliente@example.com", name="Francisco da Silva")
    (event,) = psp.receiver.wait_for_posts(1)

    stripe_verify(
        secret=psp.stripe_secret, header=event.headers["stripe-signature"], payload=event.body, now=psp.clock()
    )
    body = event.json()
    assert (body["type"], body["object"], body["livemode"], body["pending_webhooks"]) == (
        "checkout.session.completed",
        "event",
        False,
        1,
    )
    completed = body["data"]["object"]
    assert (completed["status"], completed["payment_status"], completed["url"]) == ("complete", "paid", None)
    assert completed["customer_details"] == {"email": "cliente@example.com", "name": "Francisco da Silva"}
    assert completed["payment_intent"].startswith("pi_")


def test_expiring_a_session_sends_checkout_session_expired_and_a_second_expire_is_refused(psp: PspSetup):
    session = post(psp, "/checkout/sessions", session_form(psp)).json()

    expired = post(psp, f"/checkout/sessions/{session['id']}/expire", {})
    again = post(psp, f"/checkout/sessions/{session['id']}/expire", {})
    (event,) = psp.receiver.wait_for_posts(1)

    assert (expired.json()["status"], expired.json()["url"]) == ("expired", None)
    assert again.status_code == 400
    assert again.json()["error"]["message"].endswith('This Checkout Session has a status of "expired".')
    assert event.json()["type"] == "checkout.session.expired"


def test_the_hosted_checkout_page_offers_pay_and_cancel_until_the_session_closes(psp: PspSetup):
    session = post(psp, "/checkout/sessions", session_form(psp)).json()

    open_page = psp.http.get(session["url"]).text
    psp.admin.stripe_checkout(session["id"])
    closed_page = psp.http.get(session["url"]).text

    assert "Pay BRL 25.00" in open_page and 'data-result="expire"' in open_page
    assert "session_id=" + session["id"] in open_page  # the success URL with the session filled in
    assert "This Checkout Session is complete." in closed_page
