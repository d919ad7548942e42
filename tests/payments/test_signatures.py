"""Webhook signatures of Mercado Pago and Stripe against the vectors of shared/payments/CONTRACT.md §3.5 and §4."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from payments.signatures import (
    SignatureInvalid,
    mercadopago_manifest,
    mercadopago_sign,
    mercadopago_verify,
    stripe_sign,
    stripe_verify,
)

VECTORS = json.loads(
    (Path(__file__).resolve().parent.parent / "fixtures" / "payments" / "signature_test_vectors.json").read_text()
)
MP = VECTORS["mercadopago"]
STRIPE = VECTORS["stripe"]

# The vectors file points at the exchange fixture for this body; it is `request.body_raw` of
# shared/payments/fixtures/stripe_webhook_checkout_session_completed_exchange.json, verbatim.
CHECKOUT_SESSION_COMPLETED_BODY_RAW = (
    '{"id":"evt_1QabcDEF0123456789klmn","object":"event","api_version":"2026-06-24.dahlia","created":1762352700,'
    '"data":{"object":{"id":"cs_test_a1B2c3D4e5F6g7H8i9J0kLmNoPqRsTuVwXyZ0123456789abcdEFGH","object":"checkout.session",'
    '"amount_subtotal":2500,"amount_total":2500,"cancel_url":"https://helpdesk.example.com/pay/return/cancel",'
    '"client_reference_id":"wa-ord-000123","created":1762352400,"currency":"brl","customer":null,"customer_email":null,'
    '"expires_at":1762354200,"livemode":false,"metadata":{"tenant_id":"tenant-42","order_id":"wa-ord-000123"},'
    '"mode":"payment","payment_intent":"pi_3QabcDEF0123456789ghij","payment_link":null,"payment_method_types":["card"],'
    '"payment_status":"paid","status":"complete",'
    '"success_url":"https://helpdesk.example.com/pay/return/success?session_id={CHECKOUT_SESSION_ID}","url":null,'
    '"customer_details":{"email":"cliente@example.com","name":"Francisco da Silva"}}},"livemode":false,'
    '"pending_webhooks":1,"request":{"id":null,"idempotency_key":null},"type":"checkout.session.completed"}'
)

MP_SECRET = "mp-test-webhook-secret-0123456789abcdef"
MP_DATA_ID = "123456789012"
MP_REQUEST_ID = "bb56a2f1-6aae-46ac-982e-9dcd3581d08e"
MP_TS = 1762352400
MP_V1 = "2c6656c78af0271e901dfae8529189ad118ef11af9744736e45cd2bd1206dc05"
MP_HEADER = f"ts={MP_TS},v1={MP_V1}"

STRIPE_SECRET = "whsec_test_0123456789abcdefghijklmnopqrstuv"
STRIPE_BODY = b'{"id":"evt_test","object":"event"}'
STRIPE_T = 1700000000
STRIPE_V1 = "f6d18ce8a6529c9080be558977140e5a3c1cadce1d4512de6d6e32badd2b9939"
STRIPE_HEADER = f"t={STRIPE_T},v1={STRIPE_V1}"

HEX = "0123456789abcdef"
HYPOTHESIS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def mp_reason(**overrides: Any) -> str:
    """The reason mercadopago_verify gives for the contract's notification with these arguments changed."""
    arguments: dict[str, Any] = {
        "secret": MP_SECRET,
        "header": MP_HEADER,
        "request_id": MP_REQUEST_ID,
        "data_id": MP_DATA_ID,
        "now": MP_TS,
    }
    with pytest.raises(SignatureInvalid) as caught:
        mercadopago_verify(**(arguments | overrides))
    return caught.value.reason


def stripe_reason(**overrides: Any) -> str:
    """The reason stripe_verify gives for the contract's event with these arguments changed."""
    arguments: dict[str, Any] = {
        "secret": STRIPE_SECRET,
        "header": STRIPE_HEADER,
        "payload": STRIPE_BODY,
        "now": STRIPE_T,
    }
    with pytest.raises(SignatureInvalid) as caught:
        stripe_verify(**(arguments | overrides))
    return caught.value.reason


def parse_manifest(manifest: str) -> dict[str, str]:
    return dict(pair.split(":", 1) for pair in manifest.removesuffix(";").split(";"))


def seconds(ts: str) -> float:
    return int(ts) / 1000 if int(ts) > 10**12 else int(ts)


# --- The vectors file -------------------------------------------------------------------------------------------------


def test_vectors_file_holds_the_cases_these_tests_expect():
    assert [case["name"] for case in MP["cases"]] == [
        "numeric data.id, all pairs",
        "alphanumeric data.id: lower-case it before signing",
        "x-request-id header absent: drop the whole pair",
        "constants from mercadopago/sdk-python tests/test_webhook_signature_validator.py (13-digit ts)",
    ]
    assert [case["name"] for case in STRIPE["cases"]] == [
        "minimal body",
        "event fixture stripe_webhook_checkout_session_completed_exchange.json",
    ]
    assert STRIPE["scheme"] == "v1"
    assert MP["template"] == "id:[data.id_url];request-id:[x-request-id_header];ts:[ts_header];"


@pytest.mark.parametrize("case", MP["cases"], ids=[case["name"] for case in MP["cases"]])
def test_mercadopago_vector_signs_and_verifies(case):
    secret = case.get("secret", MP["secret"])
    if "query_data.id" in case:
        data_id, request_id, ts = case["query_data.id"], case["x-request-id"], case["ts"]
    else:  # The SDK's constants give only the manifest.
        inputs = parse_manifest(case["manifest"])
        data_id, request_id, ts = inputs["id"], inputs["request-id"], inputs["ts"]

    assert mercadopago_manifest(data_id=data_id, request_id=request_id, ts=ts) == case["manifest"]
    header = mercadopago_sign(secret=secret, request_id=request_id, data_id=data_id, ts=ts)
    assert header == f"ts={ts},v1={case['expected_v1']}"
    assert header == case.get("x-signature", header)
    assert (
        mercadopago_verify(secret=secret, header=header, request_id=request_id, data_id=data_id, now=seconds(ts))
        is None
    )


def test_mercadopago_sdk_vector_ts_is_read_as_milliseconds():
    case = MP["cases"][3]
    inputs = parse_manifest(case["manifest"])
    header = f"ts={inputs['ts']},v1={case['expected_v1']}"
    arguments = {
        "secret": case["secret"],
        "header": header,
        "request_id": inputs["request-id"],
        "data_id": inputs["id"],
    }

    assert mercadopago_verify(**arguments, now=1742505638.683 + 300) is None
    with pytest.raises(SignatureInvalid) as caught:
        mercadopago_verify(**arguments, now=1742505638.683 + 301)
    assert caught.value.reason == "stale"


@pytest.mark.parametrize("case", STRIPE["cases"], ids=[case["name"] for case in STRIPE["cases"]])
def test_stripe_vector_signs_and_verifies(case):
    body_raw = case["body_raw"]
    if body_raw == "<see fixture body_raw>":
        body_raw = CHECKOUT_SESSION_COMPLETED_BODY_RAW
    payload = body_raw.encode()

    signed_payload = case["signed_payload"].replace("<body_raw>", body_raw)
    assert signed_payload == f"{case['t']}.{body_raw}"
    assert (
        hmac.new(STRIPE["secret"].encode(), signed_payload.encode(), hashlib.sha256).hexdigest() == case["expected_v1"]
    )
    header = stripe_sign(secret=STRIPE["secret"], payload=payload, timestamp=case["t"])
    assert header == case["Stripe-Signature"]
    assert header == f"t={case['t']},v1={case['expected_v1']}"
    assert stripe_verify(secret=STRIPE["secret"], header=header, payload=payload, now=case["t"]) is None


def _mp_body_id_instead_of_query_id() -> None:
    body = {"action": "payment.updated", "data": {"id": "123456789013"}, "type": "payment"}
    mercadopago_verify(
        secret=MP["secret"], header=MP_HEADER, request_id=MP_REQUEST_ID, data_id=body["data"]["id"], now=MP_TS
    )


def _mp_alphanumeric_id_signed_upper_case() -> None:
    case = MP["cases"][1]
    manifest = f"id:{case['query_data.id']};request-id:{case['x-request-id']};ts:{case['ts']};"
    v1 = hmac.new(MP["secret"].encode(), manifest.encode(), hashlib.sha256).hexdigest()
    mercadopago_verify(
        secret=MP["secret"],
        header=f"ts={case['ts']},v1={v1}",
        request_id=case["x-request-id"],
        data_id=case["query_data.id"],
        now=int(case["ts"]),
    )


def _stripe_body_re_serialised() -> None:
    case = STRIPE["cases"][1]
    pretty = json.dumps(json.loads(CHECKOUT_SESSION_COMPLETED_BODY_RAW), indent=2).encode()
    stripe_verify(secret=STRIPE["secret"], header=case["Stripe-Signature"], payload=pretty, now=case["t"])


def _stripe_t_older_than_tolerance() -> None:
    case = STRIPE["cases"][0]
    stripe_verify(
        secret=STRIPE["secret"], header=case["Stripe-Signature"], payload=case["body_raw"].encode(), now=case["t"] + 301
    )


NEGATIVE_SCENARIOS = {
    "data.id taken from JSON body instead of query string when they differ": _mp_body_id_instead_of_query_id,
    "alphanumeric data.id signed without lower-casing": _mp_alphanumeric_id_signed_upper_case,
    "body re-serialised (e.g. pretty-printed) before verifying": _stripe_body_re_serialised,
    "t older than now-300 s": _stripe_t_older_than_tolerance,
}
EXPECTED_REASON = {"mismatch": "mismatch", "reject (SDK default tolerance)": "stale"}


def test_every_negative_vector_has_a_scenario():
    assert sorted(case["case"] for case in VECTORS["negative"]) == sorted(NEGATIVE_SCENARIOS)


@pytest.mark.parametrize("case", VECTORS["negative"], ids=[case["case"] for case in VECTORS["negative"]])
def test_negative_vector_is_refused_with_its_reason(case):
    with pytest.raises(SignatureInvalid) as caught:
        NEGATIVE_SCENARIOS[case["case"]]()
    assert caught.value.reason == EXPECTED_REASON[case["expect"]]


# --- The contract's inline vectors ------------------------------------------------------------------------------------


def test_contract_mercadopago_numeric_vector():
    assert (
        mercadopago_manifest(data_id="123456789012", request_id="bb56a2f1-6aae-46ac-982e-9dcd3581d08e", ts="1762352400")
        == "id:123456789012;request-id:bb56a2f1-6aae-46ac-982e-9dcd3581d08e;ts:1762352400;"
    )
    assert (
        mercadopago_sign(
            secret="mp-test-webhook-secret-0123456789abcdef",
            request_id="bb56a2f1-6aae-46ac-982e-9dcd3581d08e",
            data_id="123456789012",
            ts=1762352400,
        )
        == "ts=1762352400,v1=2c6656c78af0271e901dfae8529189ad118ef11af9744736e45cd2bd1206dc05"
    )


def test_contract_mercadopago_alphanumeric_vector():
    assert (
        mercadopago_sign(
            secret="mp-test-webhook-secret-0123456789abcdef",
            request_id="2066ca19-c6f1-498a-be75-1923005edd06",
            data_id="ORD01JQ4S4KY8HWQ6NA5PXB65B3D3",
            ts=1762352400,
        )
        == "ts=1762352400,v1=a74db1831b9facfc5906d9f1097936e1f6aa2f600284955683920c815c1edea6"
    )


def test_contract_stripe_vector():
    assert (
        stripe_sign(
            secret="whsec_test_0123456789abcdefghijklmnopqrstuv",
            payload=b'{"id":"evt_test","object":"event"}',
            timestamp=1700000000,
        )
        == "t=1700000000,v1=f6d18ce8a6529c9080be558977140e5a3c1cadce1d4512de6d6e32badd2b9939"
    )


# --- Mercado Pago -----------------------------------------------------------------------------------------------------


def test_mercadopago_authentic_notification_passes():
    assert (
        mercadopago_verify(secret=MP_SECRET, header=MP_HEADER, request_id=MP_REQUEST_ID, data_id=MP_DATA_ID, now=MP_TS)
        is None
    )


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"data_id": "123456789013"}, id="tampered data.id"),
        pytest.param({"request_id": "bb56a2f1-6aae-46ac-982e-9dcd3581d08f"}, id="tampered request id"),
        pytest.param({"request_id": None}, id="request id dropped"),
        pytest.param({"data_id": None}, id="data.id dropped"),
        pytest.param({"secret": "mp-test-webhook-secret-0123456789abcdeF"}, id="wrong secret"),
        pytest.param({"header": f"ts={MP_TS + 1},v1={MP_V1}"}, id="tampered ts"),
    ],
)
def test_mercadopago_tampered_notification_is_a_mismatch(overrides):
    assert mp_reason(**overrides) == "mismatch"


def test_mercadopago_mismatch_message_carries_neither_secret_nor_expected_signature():
    with pytest.raises(SignatureInvalid) as caught:
        mercadopago_verify(
            secret=MP_SECRET, header=MP_HEADER, request_id=MP_REQUEST_ID, data_id="123456789013", now=MP_TS
        )
    expected_v1 = mercadopago_sign(
        secret=MP_SECRET, request_id=MP_REQUEST_ID, data_id="123456789013", ts=MP_TS
    ).partition(",v1=")[2]
    assert caught.value.reason == "mismatch"
    assert str(caught.value) == "x-signature v1 does not match the notification"
    assert caught.value.message == "x-signature v1 does not match the notification"
    assert MP_SECRET not in str(caught.value)
    assert expected_v1 not in str(caught.value)


@pytest.mark.parametrize(
    ("ts", "now"),
    [
        pytest.param(MP_TS, MP_TS + 300, id="seconds, at the limit"),
        pytest.param(MP_TS, MP_TS - 300, id="seconds, future at the limit"),
        pytest.param(MP_TS * 1000, MP_TS + 300, id="milliseconds, at the limit"),
        pytest.param(MP_TS * 1000, MP_TS - 300, id="milliseconds, future at the limit"),
    ],
)
def test_mercadopago_timestamp_within_tolerance_passes(ts, now):
    header = mercadopago_sign(secret=MP_SECRET, request_id=MP_REQUEST_ID, data_id=MP_DATA_ID, ts=ts)
    assert (
        mercadopago_verify(secret=MP_SECRET, header=header, request_id=MP_REQUEST_ID, data_id=MP_DATA_ID, now=now)
        is None
    )


@pytest.mark.parametrize(
    ("ts", "now", "message"),
    [
        pytest.param(
            MP_TS, MP_TS + 301, "x-signature ts=1762352400 is more than 300 s away from the current time", id="seconds"
        ),
        pytest.param(
            MP_TS, MP_TS - 301, "x-signature ts=1762352400 is more than 300 s away from the current time", id="future"
        ),
        pytest.param(
            MP_TS * 1000,
            MP_TS + 300.001,
            "x-signature ts=1762352400000 is more than 300 s away from the current time",
            id="milliseconds",
        ),
        pytest.param(
            MP_TS * 1000 + 1,
            MP_TS - 300,
            "x-signature ts=1762352400001 is more than 300 s away from the current time",
            id="milliseconds future",
        ),
    ],
)
def test_mercadopago_timestamp_outside_tolerance_is_stale(ts, now, message):
    header = mercadopago_sign(secret=MP_SECRET, request_id=MP_REQUEST_ID, data_id=MP_DATA_ID, ts=ts)
    with pytest.raises(SignatureInvalid) as caught:
        mercadopago_verify(secret=MP_SECRET, header=header, request_id=MP_REQUEST_ID, data_id=MP_DATA_ID, now=now)
    assert caught.value.reason == "stale"
    assert str(caught.value) == message


def test_mercadopago_tolerance_is_configurable():
    assert mp_reason(now=MP_TS + 61, tolerance_seconds=60) == "stale"
    assert (
        mercadopago_verify(
            secret=MP_SECRET,
            header=MP_HEADER,
            request_id=MP_REQUEST_ID,
            data_id=MP_DATA_ID,
            now=MP_TS + 900,
            tolerance_seconds=900,
        )
        is None
    )


def test_mercadopago_forged_signature_with_stale_ts_is_a_mismatch():
    assert mp_reason(data_id="123456789013", now=MP_TS + 3600) == "mismatch"


def test_mercadopago_missing_header():
    with pytest.raises(SignatureInvalid) as caught:
        mercadopago_verify(secret=MP_SECRET, header=None, request_id=MP_REQUEST_ID, data_id=MP_DATA_ID, now=MP_TS)
    assert caught.value.reason == "missing"
    assert str(caught.value) == "the x-signature header is missing"


@pytest.mark.parametrize(
    ("header", "message"),
    [
        pytest.param("ts=1", "x-signature has no v1", id="ts only"),
        pytest.param("v1=abc", "x-signature has no ts", id="v1 only"),
        pytest.param("garbage", "x-signature has no ts", id="garbage"),
        pytest.param("", "x-signature has no ts", id="empty"),
        pytest.param("   ", "x-signature has no ts", id="blank"),
        pytest.param(f"ts=,v1={MP_V1}", "x-signature ts is not a Unix timestamp", id="empty ts"),
        pytest.param(f"ts=17623524OO,v1={MP_V1}", "x-signature ts is not a Unix timestamp", id="letters in ts"),
        pytest.param(f"ts=-1762352400,v1={MP_V1}", "x-signature ts is not a Unix timestamp", id="negative ts"),
        pytest.param(f"ts=1762352400.5,v1={MP_V1}", "x-signature ts is not a Unix timestamp", id="fractional ts"),
        pytest.param(f"ts=١٧٦٢٣٥٢٤٠٠,v1={MP_V1}", "x-signature ts is not a Unix timestamp", id="non-ASCII digits"),
        pytest.param(f"ts={'1' * 14},v1={MP_V1}", "x-signature ts is not a Unix timestamp", id="14-digit ts"),
        pytest.param(f"ts={'1' * 5000},v1={MP_V1}", "x-signature ts is not a Unix timestamp", id="5000-digit ts"),
        pytest.param(f"ts={MP_TS},v1=", "x-signature v1 is not 64 lower-case hex digits", id="empty v1"),
        pytest.param(f"ts={MP_TS},v1=abc", "x-signature v1 is not 64 lower-case hex digits", id="short v1"),
        pytest.param(f"ts={MP_TS},v1={MP_V1}0", "x-signature v1 is not 64 lower-case hex digits", id="long v1"),
        pytest.param(f"ts={MP_TS},v1={MP_V1.upper()}", "x-signature v1 is not 64 lower-case hex digits", id="upper"),
        pytest.param(f"ts={MP_TS},v1={MP_V1[:-1]}é", "x-signature v1 is not 64 lower-case hex digits", id="non-ASCII"),
        pytest.param(f"ts={MP_TS},ts={MP_TS},v1={MP_V1}", "x-signature has more than one ts", id="two ts"),
        pytest.param(f"ts={MP_TS},v1={MP_V1},v1={MP_V1}", "x-signature has more than one v1", id="two v1"),
        pytest.param(f"ts {MP_TS},v1 {MP_V1}", "x-signature has no ts", id="no equals signs"),
    ],
)
def test_mercadopago_malformed_header(header, message):
    with pytest.raises(SignatureInvalid) as caught:
        mercadopago_verify(secret=MP_SECRET, header=header, request_id=MP_REQUEST_ID, data_id=MP_DATA_ID, now=MP_TS)
    assert caught.value.reason == "malformed"
    assert str(caught.value) == message


@pytest.mark.parametrize(
    "header",
    [
        pytest.param(f" ts = {MP_TS} , v1 = {MP_V1} ", id="spaces"),
        pytest.param(f"ts={MP_TS},\tv1={MP_V1}\n", id="tab and newline"),
        pytest.param(f"v1={MP_V1},ts={MP_TS}", id="reordered"),
        pytest.param(f"ts={MP_TS},v1={MP_V1},v2=future-scheme,garbage", id="unknown parts"),
        pytest.param(f"ts={MP_TS},,v1={MP_V1},", id="empty parts"),
    ],
)
def test_mercadopago_header_parsing_tolerates_whitespace_order_and_unknown_parts(header):
    assert (
        mercadopago_verify(secret=MP_SECRET, header=header, request_id=MP_REQUEST_ID, data_id=MP_DATA_ID, now=MP_TS)
        is None
    )


def test_mercadopago_upper_case_alphanumeric_id_is_lower_cased():
    case = MP["cases"][1]
    assert case["query_data.id"] == "ORD01JQ4S4KY8HWQ6NA5PXB65B3D3"
    assert (
        mercadopago_manifest(data_id="ORD01JQ4S4KY8HWQ6NA5PXB65B3D3", request_id=case["x-request-id"], ts=case["ts"])
        == "id:ord01jq4s4ky8hwq6na5pxb65b3d3;request-id:2066ca19-c6f1-498a-be75-1923005edd06;ts:1762352400;"
    )
    for data_id in ("ORD01JQ4S4KY8HWQ6NA5PXB65B3D3", "ord01jq4s4ky8hwq6na5pxb65b3d3", "Ord01jq4s4ky8hwq6na5pxb65b3d3"):
        assert (
            mercadopago_verify(
                secret=MP["secret"],
                header=case["x-signature"],
                request_id=case["x-request-id"],
                data_id=data_id,
                now=int(case["ts"]),
            )
            is None
        )


@pytest.mark.parametrize(
    ("data_id", "manifest"),
    [
        pytest.param("ORD-01JQ4S4KY8", "id:ORD-01JQ4S4KY8;request-id:r-1;ts:1;", id="hyphen"),
        pytest.param("ORD_01JQ", "id:ORD_01JQ;request-id:r-1;ts:1;", id="underscore"),
        pytest.param("ÄBC123", "id:ÄBC123;request-id:r-1;ts:1;", id="non-ASCII letter"),
        pytest.param("A B", "id:A B;request-id:r-1;ts:1;", id="space"),
    ],
)
def test_mercadopago_non_alphanumeric_id_is_kept_as_is(data_id, manifest):
    assert mercadopago_manifest(data_id=data_id, request_id="r-1", ts=1) == manifest


@pytest.mark.parametrize(
    ("data_id", "request_id", "ts", "manifest"),
    [
        pytest.param("123456789012", None, "1762352400", "id:123456789012;ts:1762352400;", id="no request id"),
        pytest.param("123456789012", "", "1762352400", "id:123456789012;ts:1762352400;", id="empty request id"),
        pytest.param(None, "r-1", "1762352400", "request-id:r-1;ts:1762352400;", id="no data.id"),
        pytest.param("", "r-1", "1762352400", "request-id:r-1;ts:1762352400;", id="empty data.id"),
        pytest.param("123456789012", "r-1", None, "id:123456789012;request-id:r-1;", id="no ts"),
        pytest.param(None, None, None, "", id="nothing"),
    ],
)
def test_mercadopago_manifest_drops_absent_pairs(data_id, request_id, ts, manifest):
    assert mercadopago_manifest(data_id=data_id, request_id=request_id, ts=ts) == manifest


def test_mercadopago_missing_request_id_vector_verifies_without_the_header():
    case = MP["cases"][2]
    assert case["x-request-id"] is None
    assert (
        mercadopago_verify(
            secret=MP["secret"], header=case["x-signature"], request_id=None, data_id=MP_DATA_ID, now=MP_TS
        )
        is None
    )
    assert mp_reason(header=case["x-signature"]) == "mismatch"


# --- Stripe -----------------------------------------------------------------------------------------------------------


def test_stripe_authentic_event_passes():
    assert stripe_verify(secret=STRIPE_SECRET, header=STRIPE_HEADER, payload=STRIPE_BODY, now=STRIPE_T) is None


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"payload": b'{"id":"evt_test","object":"event"} '}, id="trailing space"),
        pytest.param({"payload": b'{"id":"evt_tesT","object":"event"}'}, id="tampered body"),
        pytest.param({"payload": b""}, id="empty body"),
        pytest.param({"secret": "whsec_test_0123456789abcdefghijklmnopqrstuV"}, id="wrong secret"),
        pytest.param({"header": f"t={STRIPE_T + 1},v1={STRIPE_V1}"}, id="tampered t"),
        pytest.param({"header": f"t=0{STRIPE_T - 1},v1={STRIPE_V1}"}, id="leading zero t"),
    ],
)
def test_stripe_tampered_event_is_a_mismatch(overrides):
    assert stripe_reason(**overrides) == "mismatch"


def test_stripe_mismatch_message_carries_neither_secret_nor_expected_signature():
    tampered = b'{"id":"evt_other","object":"event"}'
    with pytest.raises(SignatureInvalid) as caught:
        stripe_verify(secret=STRIPE_SECRET, header=STRIPE_HEADER, payload=tampered, now=STRIPE_T)
    expected_v1 = stripe_sign(secret=STRIPE_SECRET, payload=tampered, timestamp=STRIPE_T).partition(",v1=")[2]
    assert caught.value.reason == "mismatch"
    assert str(caught.value) == "no Stripe-Signature v1 matches the payload"
    assert STRIPE_SECRET not in str(caught.value)
    assert expected_v1 not in str(caught.value)


def test_stripe_any_v1_may_match_and_other_schemes_are_ignored():
    other = "0" * 64
    for header in (
        f"t={STRIPE_T},v1={other},v1={STRIPE_V1}",
        f"t={STRIPE_T},v1={STRIPE_V1},v1={other}",
        f"t={STRIPE_T},v0={other},v1={STRIPE_V1}",
        f"t={STRIPE_T},v0=not-hex,v1={STRIPE_V1},scheme=unknown",
        f" v1 = {STRIPE_V1} , t = {STRIPE_T} ",
    ):
        assert stripe_verify(secret=STRIPE_SECRET, header=header, payload=STRIPE_BODY, now=STRIPE_T) is None
    assert stripe_reason(header=f"t={STRIPE_T},v1={other},v0={STRIPE_V1}") == "mismatch"


def test_stripe_old_t_is_stale():
    assert stripe_verify(secret=STRIPE_SECRET, header=STRIPE_HEADER, payload=STRIPE_BODY, now=STRIPE_T + 300) is None
    with pytest.raises(SignatureInvalid) as caught:
        stripe_verify(secret=STRIPE_SECRET, header=STRIPE_HEADER, payload=STRIPE_BODY, now=STRIPE_T + 300.5)
    assert caught.value.reason == "stale"
    assert str(caught.value) == "Stripe-Signature t=1700000000 is more than 300 s old"
    assert stripe_reason(now=STRIPE_T + 61, tolerance_seconds=60) == "stale"


def test_stripe_future_t_is_accepted_like_stripe_python():
    header = stripe_sign(secret=STRIPE_SECRET, payload=STRIPE_BODY, timestamp=STRIPE_T + 86_400)
    assert stripe_verify(secret=STRIPE_SECRET, header=header, payload=STRIPE_BODY, now=STRIPE_T) is None


def test_stripe_forged_signature_with_old_t_is_a_mismatch():
    assert stripe_reason(payload=b"{}", now=STRIPE_T + 3600) == "mismatch"


def test_stripe_missing_header():
    with pytest.raises(SignatureInvalid) as caught:
        stripe_verify(secret=STRIPE_SECRET, header=None, payload=STRIPE_BODY, now=STRIPE_T)
    assert caught.value.reason == "missing"
    assert str(caught.value) == "the Stripe-Signature header is missing"


@pytest.mark.parametrize(
    ("header", "message"),
    [
        pytest.param("t=1", "Stripe-Signature has no v1 signature", id="t only"),
        pytest.param("v1=abc", "Stripe-Signature has no t", id="v1 only"),
        pytest.param("garbage", "Stripe-Signature has no t", id="garbage"),
        pytest.param("", "Stripe-Signature has no t", id="empty"),
        pytest.param(f"t={STRIPE_T},v0={STRIPE_V1}", "Stripe-Signature has no v1 signature", id="v0 only"),
        pytest.param(f"t=,v1={STRIPE_V1}", "Stripe-Signature t is not a Unix timestamp", id="empty t"),
        pytest.param(f"t=17OOOOOOOO,v1={STRIPE_V1}", "Stripe-Signature t is not a Unix timestamp", id="letters in t"),
        pytest.param(f"t=+{STRIPE_T},v1={STRIPE_V1}", "Stripe-Signature t is not a Unix timestamp", id="signed t"),
        pytest.param(f"t={'9' * 5000},v1={STRIPE_V1}", "Stripe-Signature t is not a Unix timestamp", id="5000 digits"),
        pytest.param(f"t={STRIPE_T},t={STRIPE_T},v1={STRIPE_V1}", "Stripe-Signature has more than one t", id="two t"),
        pytest.param(f"t={STRIPE_T},v1=abc", "Stripe-Signature v1 is not 64 lower-case hex digits", id="short v1"),
        pytest.param(
            f"t={STRIPE_T},v1={STRIPE_V1},v1=abc",
            "Stripe-Signature v1 is not 64 lower-case hex digits",
            id="bad 2nd v1",
        ),
        pytest.param(
            f"t={STRIPE_T},v1={STRIPE_V1.upper()}", "Stripe-Signature v1 is not 64 lower-case hex digits", id="upper"
        ),
    ],
)
def test_stripe_malformed_header(header, message):
    with pytest.raises(SignatureInvalid) as caught:
        stripe_verify(secret=STRIPE_SECRET, header=header, payload=STRIPE_BODY, now=STRIPE_T)
    assert caught.value.reason == "malformed"
    assert str(caught.value) == message


# --- Misuse -----------------------------------------------------------------------------------------------------------


def test_empty_secret_is_a_configuration_error_not_a_pass():
    with pytest.raises(ValueError) as from_mercadopago:
        mercadopago_verify(secret="", header=MP_HEADER, request_id=MP_REQUEST_ID, data_id=MP_DATA_ID, now=MP_TS)
    with pytest.raises(ValueError) as from_stripe:
        stripe_verify(secret="", header=STRIPE_HEADER, payload=STRIPE_BODY, now=STRIPE_T)
    assert str(from_mercadopago.value) == "the webhook secret is empty"
    assert str(from_stripe.value) == "the webhook secret is empty"


def test_negative_tolerance_is_refused():
    with pytest.raises(ValueError) as from_mercadopago:
        mercadopago_verify(
            secret=MP_SECRET,
            header=MP_HEADER,
            request_id=MP_REQUEST_ID,
            data_id=MP_DATA_ID,
            now=MP_TS,
            tolerance_seconds=-1,
        )
    with pytest.raises(ValueError) as from_stripe:
        stripe_verify(
            secret=STRIPE_SECRET, header=STRIPE_HEADER, payload=STRIPE_BODY, now=STRIPE_T, tolerance_seconds=-1
        )
    assert str(from_mercadopago.value) == "tolerance_seconds must not be negative"
    assert str(from_stripe.value) == "tolerance_seconds must not be negative"


# --- Properties -------------------------------------------------------------------------------------------------------

secrets = st.text(min_size=1, max_size=80)
optional_text = st.one_of(st.none(), st.text(max_size=60))
mp_timestamps = st.integers(min_value=0, max_value=10**13 - 1)


def flip(signature: str, index: int, offset: int) -> str:
    """``signature`` with the hex digit at ``index`` replaced by a different hex digit."""
    replacement = HEX[(HEX.index(signature[index]) + offset) % 16]
    return signature[:index] + replacement + signature[index + 1 :]


@HYPOTHESIS
@given(secret=secrets, data_id=optional_text, request_id=optional_text, ts=mp_timestamps)
@example(secret="s", data_id="ORD01ABC", request_id=None, ts=1742505638683)
def test_mercadopago_sign_then_verify_round_trips(secret, data_id, request_id, ts):
    header = mercadopago_sign(secret=secret, request_id=request_id, data_id=data_id, ts=ts)
    assert header.startswith(f"ts={ts},v1=")
    assert (
        mercadopago_verify(secret=secret, header=header, request_id=request_id, data_id=data_id, now=seconds(str(ts)))
        is None
    )


@HYPOTHESIS
@given(
    secret=secrets,
    data_id=optional_text,
    request_id=optional_text,
    ts=mp_timestamps,
    index=st.integers(min_value=0, max_value=63),
    offset=st.integers(min_value=1, max_value=15),
)
def test_mercadopago_flipping_one_hex_digit_of_v1_is_a_mismatch(secret, data_id, request_id, ts, index, offset):
    v1 = mercadopago_sign(secret=secret, request_id=request_id, data_id=data_id, ts=ts).partition(",v1=")[2]
    with pytest.raises(SignatureInvalid) as caught:
        mercadopago_verify(
            secret=secret,
            header=f"ts={ts},v1={flip(v1, index, offset)}",
            request_id=request_id,
            data_id=data_id,
            now=seconds(str(ts)),
        )
    assert caught.value.reason == "mismatch"


@HYPOTHESIS
@given(secret=secrets, payload=st.binary(max_size=2048), timestamp=st.integers(min_value=0, max_value=10**13 - 1))
def test_stripe_sign_then_verify_round_trips(secret, payload, timestamp):
    header = stripe_sign(secret=secret, payload=payload, timestamp=timestamp)
    assert header.startswith(f"t={timestamp},v1=")
    assert stripe_verify(secret=secret, header=header, payload=payload, now=timestamp) is None


@HYPOTHESIS
@given(
    secret=secrets,
    payload=st.binary(max_size=2048),
    timestamp=st.integers(min_value=0, max_value=10**13 - 1),
    index=st.integers(min_value=0, max_value=63),
    offset=st.integers(min_value=1, max_value=15),
)
def test_stripe_flipping_one_hex_digit_of_v1_is_a_mismatch(secret, payload, timestamp, index, offset):
    v1 = stripe_sign(secret=secret, payload=payload, timestamp=timestamp).partition(",v1=")[2]
    with pytest.raises(SignatureInvalid) as caught:
        stripe_verify(
            secret=secret, header=f"t={timestamp},v1={flip(v1, index, offset)}", payload=payload, now=timestamp
        )
    assert caught.value.reason == "mismatch"
