"""The fake Mercado Pago on its own, driven with raw HTTP: answers as the contract's fixtures, idempotency keys,
the checkout page, and webhooks signed, retried, duplicated and reordered on demand."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

import pytest

from payments.fake import wait_for
from payments.signatures import mercadopago_verify

if TYPE_CHECKING:
    import httpx

    from tests.payments.fake_psp_fixtures import PspSetup

pytest_plugins = ["tests.payments.fake_psp_fixtures"]

GENERATED = ("id", "init_point", "sandbox_init_point")


def auth(psp: PspSetup, **headers: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {psp.mp_token}", **headers}


def create_preference(psp: PspSetup, body: dict[str, Any] | None = None, **headers: str) -> httpx.Response:
    return psp.http.post(
        "/mercadopago/checkout/preferences",
        json=body or psp.fixture("mp_preference_create_request.json"),
        headers=auth(psp, **headers),
    )


def approved(psp: PspSetup, notification_url: str | None = None) -> dict[str, Any]:
    body = psp.fixture("mp_preference_create_request.json")
    body["notification_url"] = notification_url or f"{psp.receiver.base_url}/mp?source_news=webhooks"
    preference = create_preference(psp, body).json()
    return psp.admin.mercadopago_checkout(preference["id"], "approved")


def test_a_preference_is_answered_as_the_fixture_with_a_link_to_the_fakes_checkout(psp: PspSetup):
    response = create_preference(psp)

    body = response.json()
    expected = copy.deepcopy(psp.fixture("mp_preference_create_response_201.json"))
    expected |= {name: body[name] for name in GENERATED}
    expected["date_created"] = "2026-11-05T11:32:00.000-03:00"
    assert response.status_code == 201
    assert body == expected
    assert body["init_point"] == f"{psp.server.base_url}/mercadopago/checkout/v1/redirect?pref_id={body['id']}"
    assert psp.http.get(body["init_point"]).status_code == psp.http.get(body["sandbox_init_point"]).status_code == 200


def test_a_preference_without_items_or_with_a_price_as_text_is_refused(psp: PspSetup):
    body = psp.fixture("mp_preference_create_request.json")
    body["items"][0]["unit_price"] = "25.00"

    response = create_preference(psp, body)

    assert response.status_code == 400
    assert response.json()["cause"][0]["code"] == "invalid_items"


def test_the_api_needs_a_known_bearer_token(psp: PspSetup):
    response = psp.http.get("/mercadopago/v1/payments/1", headers={"Authorization": "Bearer TEST-unknown"})

    assert response.status_code == 401
    assert response.json() == {"message": "invalid access token", "error": "unauthorized", "status": 401, "cause": []}


def test_the_checkout_page_shows_the_items_and_three_outcomes(psp: PspSetup):
    preference = create_preference(psp).json()

    html = psp.http.get(preference["init_point"]).text

    assert "Recarga cartão de transporte" in html
    assert "Total R$ 25,00" in html
    for outcome in ('data-result="approved"', 'data-result="rejected"', 'data-result="pending"'):
        assert outcome in html
    assert "https://helpdesk.example.com/pay/return/success" in html  # where Approve leads back to


def test_each_checkout_attempt_is_a_new_payment_carrying_the_links_reference_and_metadata(psp: PspSetup):
    preference = create_preference(psp).json()
    psp.admin.settings(hold_deliveries=True)  # the fixture's notification URL is not ours to call

    first = psp.admin.mercadopago_checkout(preference["id"], "rejected")
    second = psp.admin.mercadopago_checkout(preference["id"], "approved")

    assert first["id"] != second["id"]
    for payment in (first, second):
        assert payment["external_reference"] == "wa-ord-000123"
        assert payment["metadata"] == {"tenant_id": "tenant-42", "order_id": "wa-ord-000123"}
        assert payment["notification_url"] == preference["notification_url"]


def test_refunds_need_the_idempotency_header_as_the_fixture_says(psp: PspSetup):
    payment = approved(psp)

    response = psp.http.post(f"/mercadopago/v1/payments/{payment['id']}/refunds", json={}, headers=auth(psp))

    assert response.status_code == 400
    assert response.json() == psp.fixture("mp_error_refund_missing_idempotency_400.json")


def test_a_repeated_key_replays_the_first_answer_and_another_body_under_it_conflicts(psp: PspSetup):
    payment = approved(psp)
    path = f"/mercadopago/v1/payments/{payment['id']}/refunds"

    first = psp.http.post(path, json={"amount": 10.0}, headers=auth(psp, **{"X-Idempotency-Key": "k1"}))
    replay = psp.http.post(path, content=b'{ "amount" : 10.00 }', headers=auth(psp, **{"X-Idempotency-Key": "k1"}))
    other = psp.http.post(path, json={"amount": 5.0}, headers=auth(psp, **{"X-Idempotency-Key": "k1"}))
    refunds = psp.http.get(path, headers=auth(psp)).json()

    assert (first.status_code, replay.status_code) == (201, 201)
    assert replay.content == first.content
    assert other.status_code == 409
    assert other.json()["cause"][0]["code"] == "idempotency_key_already_used"
    assert [r["id"] for r in refunds] == [first.json()["id"]]


def test_a_refund_with_no_amount_refunds_what_is_left(psp: PspSetup):
    payment = approved(psp)
    path = f"/mercadopago/v1/payments/{payment['id']}/refunds"

    psp.http.post(path, json={"amount": 5}, headers=auth(psp, **{"X-Idempotency-Key": "a"}))
    rest = psp.http.post(path, headers=auth(psp, **{"X-Idempotency-Key": "b"}))
    state = psp.http.get(f"/mercadopago/v1/payments/{payment['id']}", headers=auth(psp)).json()

    assert rest.json()["amount"] == 20.0
    assert (state["status"], state["status_detail"], state["transaction_amount_refunded"]) == (
        "refunded",
        "refunded",
        25.0,
    )


@pytest.mark.parametrize(
    ("amount", "code"),
    [("10", 4041), (True, 4041), (0, 4040), (-1, 4040), (0.001, 4040), (25.01, "refund_amount_exceeds")],
)
def test_bad_refund_amounts_are_refused_with_their_cause(psp: PspSetup, amount, code):
    payment = approved(psp)

    response = psp.http.post(
        f"/mercadopago/v1/payments/{payment['id']}/refunds",
        json={"amount": amount},
        headers=auth(psp, **{"X-Idempotency-Key": "k"}),
    )

    assert response.status_code == 400
    assert response.json()["cause"][0]["code"] == code


def test_a_rejected_payment_cannot_be_refunded(psp: PspSetup):
    preference = create_preference(psp, {**psp.fixture("mp_preference_create_request.json"), "notification_url": None})
    rejected = psp.admin.mercadopago_checkout(preference.json()["id"], "rejected")

    response = psp.http.post(
        f"/mercadopago/v1/payments/{rejected['id']}/refunds", headers=auth(psp, **{"X-Idempotency-Key": "k"})
    )

    assert response.json()["cause"][0]["code"] == 2063


def test_payment_search_pages_newest_first(psp: PspSetup):
    preference = create_preference(psp, {**psp.fixture("mp_preference_create_request.json"), "notification_url": None})
    ids = []
    for _ in range(3):
        ids.append(psp.admin.mercadopago_checkout(preference.json()["id"], "rejected")["id"])
        psp.advance(1)
    query = {"external_reference": "wa-ord-000123", "sort": "date_created", "criteria": "desc", "limit": "2"}

    first = psp.http.get("/mercadopago/v1/payments/search", params=query, headers=auth(psp)).json()
    second = psp.http.get("/mercadopago/v1/payments/search", params={**query, "offset": "2"}, headers=auth(psp)).json()
    other = psp.http.get("/mercadopago/v1/payments/search", params={"external_reference": "x"}, headers=auth(psp))

    assert first["paging"] == {"total": 3, "limit": 2, "offset": 0}
    assert [p["id"] for p in first["results"] + second["results"]] == ids[::-1]
    fixture = psp.fixture("mp_payment_search_response_200.json")
    assert (list(first), list(first["results"][0])) == (list(fixture), list(fixture["results"][0]))
    assert other.json() == {"paging": {"total": 0, "limit": 30, "offset": 0}, "results": []}


# --- Webhooks ---------------------------------------------------------------------------------------------------------


def test_a_webhook_is_signed_over_the_query_data_id_and_verifies_with_the_secret(psp: PspSetup):
    payment = approved(psp)

    (post,) = psp.receiver.wait_for_posts(1, path="/mp")

    assert post.query == {"source_news": "webhooks", "data.id": str(payment["id"]), "type": "payment"}
    assert post.json() == {
        "action": "payment.created",
        "api_version": "v1",
        "data": {"id": str(payment["id"])},
        "date_created": "2026-11-05T14:32:00Z",
        "id": post.json()["id"],
        "live_mode": False,
        "type": "payment",
        "user_id": 1234567890,
    }
    assert post.headers["x-signature"].startswith("ts=1793889120,v1=")
    mercadopago_verify(
        secret=psp.mp_secret,
        header=post.headers["x-signature"],
        request_id=post.headers["x-request-id"],
        data_id=post.query["data.id"],
        now=psp.clock(),
    )


def test_an_unacknowledged_webhook_is_retried_with_a_fresh_request_id_and_signature(psp: PspSetup):
    psp.receiver.fail_next(1, status=500)

    approved(psp)
    first, second = psp.receiver.wait_for_posts(2, path="/mp")

    assert first.body == second.body
    assert first.headers["x-request-id"] != second.headers["x-request-id"]
    for post in (first, second):
        mercadopago_verify(
            secret=psp.mp_secret,
            header=post.headers["x-signature"],
            request_id=post.headers["x-request-id"],
            data_id=post.query["data.id"],
            now=psp.clock(),
        )


def test_202_is_not_an_acknowledgement_for_mercado_pago(psp: PspSetup):
    psp.receiver.fail_next(1, status=202)

    approved(psp)
    psp.receiver.wait_for_posts(2, path="/mp")
    wait_for(psp.idle)

    (delivery,) = psp.admin.deliveries("mercadopago")
    assert [a["status_code"] for a in delivery["attempts"]] == [202, 200]


def test_webhooks_can_be_duplicated_and_delivered_out_of_order(psp: PspSetup):
    psp.admin.settings(hold_deliveries=True, duplicate_deliveries=True)
    payment = approved(psp)
    psp.http.post(f"/mercadopago/v1/payments/{payment['id']}/refunds", headers=auth(psp, **{"X-Idempotency-Key": "k"}))

    assert [d["state"] for d in psp.admin.deliveries("mercadopago")] == ["held"] * 4
    psp.admin.release_deliveries(reverse=True)
    posts = psp.receiver.wait_for_posts(4, path="/mp")

    assert [p.json()["action"] for p in posts] == ["payment.updated"] * 2 + ["payment.created"] * 2
    assert len({p.headers["x-request-id"] for p in posts}) == 4


def test_an_unknown_payment_is_answered_as_the_fixture(psp: PspSetup):
    response = psp.http.get("/mercadopago/v1/payments/123456789012", headers=auth(psp))

    assert response.status_code == 404
    assert response.json() == psp.fixture("mp_error_payment_not_found_404.json")
