"""The fake transit operator on its own, driven with raw HTTP over a socket: the contract of flows/fake/README.md
field by field, idempotent credits (also under concurrent calls), failures on demand, the admin API, and the
standalone program (``python -m flows.fake``), which imports nothing of Django or the product."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from flows.fake import FakeAdminError, wait_for

if TYPE_CHECKING:
    from tests.flows.transit_fixtures import TransitSetup


ROOT = Path(__file__).resolve().parents[2]
CREATED_AT = "2026-11-05T14:32:00Z"


def problem(response: httpx.Response) -> tuple[int, dict[str, Any]]:
    return response.status_code, response.json()["error"]


# --- Authentication ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer not-a-key", "Basic dHJhbnNpdC1rZXktdGVuYW50LTQyOg==", "transit-key-tenant-42", "Bearer"],
    ids=["missing", "unknown-key", "basic", "no-scheme", "empty-key"],
)
def test_a_call_without_a_known_api_key_is_401_and_credits_nothing(transit: TransitSetup, authorization):
    headers = {"Authorization": authorization} if authorization else {}
    with httpx.Client(base_url=transit.base_url, headers=headers, trust_env=False) as anonymous:
        lookup = anonymous.get(f"/v1/cards/{transit.maria}")
        credit = anonymous.post(
            f"/v1/cards/{transit.maria}/credits",
            json={"amount": 2000, "currency": "BRL", "reference": transit.reference},
            headers={"Idempotency-Key": "key-1"},
        )

    for response in (lookup, credit):
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.json() == {
            "error": {
                "code": "unauthorized",
                "message": "A valid API key is required (Authorization: Bearer <key>).",
            }
        }
    assert transit.card(transit.maria)["balance"] == 1250
    assert transit.credits(transit.maria) == []


def test_the_bearer_scheme_is_case_insensitive(transit: TransitSetup):
    response = transit.lookup(transit.maria, Authorization=f"bearer {transit.api_key}")

    assert response.status_code == 200


# --- Looking a card up ------------------------------------------------------------------------------------------------


def test_a_card_is_answered_with_the_holders_short_name_its_balance_in_centavos_and_its_status(
    transit: TransitSetup,
):
    response = transit.lookup(transit.maria)

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "number": "123456789012",
        "holder_name": "Maria S.",
        "balance": 1250,
        "currency": "BRL",
        "status": "active",
    }


def test_a_blocked_card_is_found_with_its_status(transit: TransitSetup):
    response = transit.lookup(transit.blocked)

    assert response.status_code == 200
    assert response.json() == {
        "number": "111122223333",
        "holder_name": "Ana C.",
        "balance": 500,
        "currency": "BRL",
        "status": "blocked",
    }


def test_a_holder_with_one_name_is_shown_as_is(transit: TransitSetup):
    transit.admin.add_card("444455556666", "Xuxa", balance=10)

    assert transit.lookup("444455556666").json()["holder_name"] == "Xuxa"


def test_an_unknown_card_is_404_card_not_found(transit: TransitSetup):
    response = transit.lookup(transit.unknown)

    assert problem(response) == (404, {"code": "card_not_found", "message": "No card has this number."})


@pytest.mark.parametrize(
    "number",
    ["12345678901", "1234567890123", "12345678901a", "1234%205678%209012", "%D9%A1%D9%A2%D9%A3%D9%A4%D9%A5%D9%A6"],
    ids=["11-digits", "13-digits", "letter", "spaces", "arabic-indic-digits"],
)
def test_a_card_number_that_is_not_12_ascii_digits_is_400_invalid_card_number(transit: TransitSetup, number):
    lookup = transit.lookup(number)
    credit = transit.credit(number)

    for response in (lookup, credit):
        assert problem(response) == (400, {"code": "invalid_card_number", "message": "A card number is 12 digits."})


def test_unknown_paths_and_methods_answer_in_the_error_shape(transit: TransitSetup):
    assert problem(transit.http.get("/v1/nothing")) == (
        404,
        {"code": "not_found", "message": "There is nothing at this address."},
    )
    assert problem(transit.http.delete(f"/v1/cards/{transit.maria}")) == (
        405,
        {"code": "method_not_allowed", "message": "This method is not allowed here."},
    )


# --- Crediting a card -------------------------------------------------------------------------------------------------


def test_a_credit_is_answered_201_with_the_new_balance_and_raises_the_cards_balance(transit: TransitSetup):
    response = transit.credit(transit.maria, "wa-ord-000123-credit")

    assert response.status_code == 201
    assert "idempotent-replayed" not in response.headers
    assert response.json() == {
        "id": "cr_00000001",
        "number": "123456789012",
        "amount": 2000,
        "balance": 3250,
        "reference": "wa-ord-000123",
        "created_at": CREATED_AT,
    }
    assert transit.card(transit.maria) == {
        "number": "123456789012",
        "holder_name": "Maria Souza",
        "balance": 3250,
        "currency": "BRL",
        "status": "active",
        "credits": [
            {
                "id": "cr_00000001",
                "number": "123456789012",
                "amount": 2000,
                "balance": 3250,
                "reference": "wa-ord-000123",
                "created_at": CREATED_AT,
                "idempotency_key": "wa-ord-000123-credit",
            }
        ],
    }
    assert transit.lookup(transit.maria).json()["balance"] == 3250


def test_the_same_key_and_request_again_replays_the_first_answer_and_credits_once(transit: TransitSetup):
    first = transit.credit(transit.maria, "key-1")
    transit.clock.advance(3600)

    again = transit.credit(transit.maria, "key-1")

    assert first.status_code == 201
    assert again.status_code == 200
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert again.json()["created_at"] == CREATED_AT
    assert transit.balance(transit.maria) == 3250
    assert [credit["id"] for credit in transit.credits(transit.maria)] == ["cr_00000001"]


def test_the_same_request_with_the_keys_in_another_order_is_the_same_request(transit: TransitSetup):
    transit.credit(transit.maria, "key-1")

    again = transit.http.post(
        f"/v1/cards/{transit.maria}/credits",
        content=b'{"reference": "wa-ord-000123", "currency": "BRL", "amount": 2000}',
        headers={"Idempotency-Key": "key-1", "Content-Type": "application/json"},
    )

    assert again.status_code == 200
    assert transit.balance(transit.maria) == 3250


def test_two_keys_make_two_credits(transit: TransitSetup):
    first = transit.credit(transit.maria, "key-1")
    second = transit.credit(transit.maria, "key-2")

    assert (first.status_code, second.status_code) == (201, 201)
    assert (first.json()["balance"], second.json()["balance"]) == (3250, 5250)
    assert second.json()["id"] == "cr_00000002"
    assert transit.balance(transit.maria) == 5250


@pytest.mark.parametrize(
    ("number", "body"),
    [
        ("123456789012", {"amount": 2001, "currency": "BRL", "reference": "wa-ord-000123"}),
        ("123456789012", {"amount": 2000, "currency": "BRL", "reference": "wa-ord-000124"}),
        ("987654321098", {"amount": 2000, "currency": "BRL", "reference": "wa-ord-000123"}),
    ],
    ids=["other-amount", "other-reference", "other-card"],
)
def test_the_same_key_with_another_request_is_409_and_credits_nothing(transit: TransitSetup, number, body):
    transit.credit(transit.maria, "key-1")

    response = transit.credit(number, "key-1", body)

    assert problem(response) == (
        409,
        {"code": "idempotency_conflict", "message": "This Idempotency-Key was used for another request."},
    )
    assert transit.balance(transit.maria) == 3250
    assert len(transit.credits(transit.maria)) == 1
    assert transit.credits(transit.joao) == []


def test_keys_are_scoped_to_the_api_key(transit: TransitSetup):
    transit.credit(transit.maria, "key-1")

    other = transit.credit(transit.maria, "key-1", Authorization=f"Bearer {transit.other_key}")

    assert other.status_code == 201
    assert other.json()["id"] == "cr_00000002"
    assert transit.balance(transit.maria) == 5250


def test_concurrent_calls_with_the_same_key_make_one_credit_and_all_get_its_answer(transit: TransitSetup):
    calls = 8
    barrier = threading.Barrier(calls)
    answers: list[httpx.Response] = []
    lock = threading.Lock()

    def call() -> None:
        headers = {"Authorization": f"Bearer {transit.api_key}", "Idempotency-Key": "key-1"}
        body = {"amount": 2000, "currency": "BRL", "reference": transit.reference}
        with httpx.Client(base_url=transit.base_url, headers=headers, timeout=10, trust_env=False) as http:
            barrier.wait(5)
            response = http.post(f"/v1/cards/{transit.maria}/credits", json=body)
        with lock:
            answers.append(response)

    threads = [threading.Thread(target=call) for _ in range(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    assert sorted(response.status_code for response in answers) == [200] * (calls - 1) + [201]
    assert {json.dumps(response.json(), sort_keys=True) for response in answers} == {
        json.dumps(
            {
                "id": "cr_00000001",
                "number": "123456789012",
                "amount": 2000,
                "balance": 3250,
                "reference": "wa-ord-000123",
                "created_at": CREATED_AT,
            },
            sort_keys=True,
        )
    }
    assert transit.balance(transit.maria) == 3250
    assert len(transit.credits(transit.maria)) == 1


def test_concurrent_calls_with_distinct_keys_all_count(transit: TransitSetup):
    calls = 8
    barrier = threading.Barrier(calls)
    statuses: list[int] = []

    def call(index: int) -> None:
        headers = {"Authorization": f"Bearer {transit.api_key}", "Idempotency-Key": f"key-{index}"}
        body = {"amount": 100, "currency": "BRL", "reference": f"wa-ord-{index}"}
        with httpx.Client(base_url=transit.base_url, headers=headers, timeout=10, trust_env=False) as http:
            barrier.wait(5)
            statuses.append(http.post(f"/v1/cards/{transit.joao}/credits", json=body).status_code)

    threads = [threading.Thread(target=call, args=(index,)) for index in range(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    assert statuses == [201] * calls
    assert transit.balance(transit.joao) == 800
    assert sorted(credit["balance"] for credit in transit.credits(transit.joao)) == list(range(100, 900, 100))


def test_a_credit_without_an_idempotency_key_is_400_and_credits_nothing(transit: TransitSetup):
    missing = transit.credit(transit.maria, None)
    empty = transit.credit(transit.maria, "")

    for response in (missing, empty):
        assert problem(response) == (
            400,
            {"code": "idempotency_key_required", "message": "The Idempotency-Key header is required."},
        )
    assert transit.credits(transit.maria) == []


def test_an_idempotency_key_of_64_characters_is_fine_and_of_65_is_400(transit: TransitSetup):
    too_long = transit.credit(transit.maria, "k" * 65)
    longest = transit.credit(transit.maria, "k" * 64)

    assert problem(too_long) == (
        400,
        {"code": "invalid_idempotency_key", "message": "An Idempotency-Key has at most 64 chars."},
    )
    assert longest.status_code == 201
    assert [credit["idempotency_key"] for credit in transit.credits(transit.maria)] == ["k" * 64]


@pytest.mark.parametrize("amount", [0, -100, 100_001], ids=["zero", "negative", "over-the-limit"])
def test_an_amount_out_of_range_is_422_invalid_amount(transit: TransitSetup, amount):
    response = transit.credit(transit.maria, body={"amount": amount, "currency": "BRL", "reference": "r"})

    assert problem(response) == (
        422,
        {"code": "invalid_amount", "message": "A credit is between 1 and 100000 centavos."},
    )
    assert transit.credits(transit.maria) == []


def test_the_largest_credit_is_100000_centavos(transit: TransitSetup):
    response = transit.credit(transit.joao, body={"amount": 100_000, "currency": "BRL", "reference": "r"})

    assert response.status_code == 201
    assert transit.balance(transit.joao) == 100_000


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"amount": "2000", "currency": "BRL", "reference": "r"}, "amount must be an integer of centavos."),
        ({"amount": 20.0, "currency": "BRL", "reference": "r"}, "amount must be an integer of centavos."),
        ({"amount": True, "currency": "BRL", "reference": "r"}, "amount must be an integer of centavos."),
        ({"currency": "BRL", "reference": "r"}, "amount must be an integer of centavos."),
        ({"amount": 2000, "reference": "r"}, "currency is required."),
        ({"amount": 2000, "currency": "BRL"}, "reference is required (at most 64 characters)."),
        ({"amount": 2000, "currency": "BRL", "reference": ""}, "reference is required (at most 64 characters)."),
        ({"amount": 2000, "currency": "BRL", "reference": "r" * 65}, "reference is required (at most 64 characters)."),
        ([2000], "The body must be a JSON object."),
    ],
    ids=["text", "float", "bool", "no-amount", "no-currency", "no-reference", "empty-reference", "long", "list"],
)
def test_a_malformed_credit_is_400_invalid_request(transit: TransitSetup, body, message):
    response = transit.credit(transit.maria, body=body)

    assert problem(response) == (400, {"code": "invalid_request", "message": message})
    assert transit.credits(transit.maria) == []


def test_a_body_that_is_not_json_is_400_invalid_request(transit: TransitSetup):
    response = transit.http.post(
        f"/v1/cards/{transit.maria}/credits", content=b"amount=2000", headers={"Idempotency-Key": "key-1"}
    )

    assert problem(response) == (400, {"code": "invalid_request", "message": "The body must be a JSON object."})


def test_a_credit_in_another_currency_is_422_invalid_currency(transit: TransitSetup):
    response = transit.credit(transit.maria, body={"amount": 2000, "currency": "USD", "reference": "r"})

    assert problem(response) == (422, {"code": "invalid_currency", "message": "This card holds BRL."})
    assert transit.credits(transit.maria) == []


def test_a_credit_to_an_unknown_card_is_404(transit: TransitSetup):
    response = transit.credit(transit.unknown)

    assert problem(response) == (404, {"code": "card_not_found", "message": "No card has this number."})


def test_a_blocked_card_is_not_credited_and_the_refusal_is_not_stored_under_the_key(transit: TransitSetup):
    refused = transit.credit(transit.blocked, "key-1")
    transit.admin.add_card(transit.blocked, "Ana Costa", balance=500)  # unblocked

    again = transit.credit(transit.blocked, "key-1")

    assert problem(refused) == (422, {"code": "card_blocked", "message": "This card is blocked."})
    assert again.status_code == 201
    assert again.json()["balance"] == 2500


# --- Failures on demand -----------------------------------------------------------------------------------------------


def test_error_500_fails_the_next_credits_without_crediting_then_they_go_through(transit: TransitSetup):
    transit.admin.fail("error_500", count=2)

    first = transit.credit(transit.maria, "key-1")
    second = transit.credit(transit.maria, "key-1")
    balance_after_failures = transit.balance(transit.maria)
    third = transit.credit(transit.maria, "key-1")

    assert (
        problem(first)
        == problem(second)
        == (
            500,
            {"code": "internal_error", "message": "The operator's system failed."},
        )
    )
    assert balance_after_failures == 1250
    assert third.status_code == 201
    assert transit.balance(transit.maria) == 3250
    assert transit.admin.failures() == []


def test_an_applied_error_500_credits_the_card_and_the_retry_gets_that_credit_back(transit: TransitSetup):
    transit.admin.fail("error_500", applied=True)

    failed = transit.credit(transit.maria, "key-1")
    retry = transit.credit(transit.maria, "key-1")

    assert failed.status_code == 500
    assert retry.status_code == 200
    assert retry.json()["id"] == "cr_00000001"
    assert retry.json()["balance"] == 3250
    assert len(transit.credits(transit.maria)) == 1


def test_reject_refuses_the_next_credit_with_422_credit_refused(transit: TransitSetup):
    transit.admin.fail("reject", applied=True)  # a refused credit is never made

    refused = transit.credit(transit.maria, "key-1")

    assert problem(refused) == (422, {"code": "credit_refused", "message": "The operator refused this credit."})
    assert transit.credits(transit.maria) == []


def test_a_failure_for_one_card_leaves_the_others_alone(transit: TransitSetup):
    transit.admin.fail("reject", number=transit.joao)

    maria = transit.credit(transit.maria, "key-1")
    joao = transit.credit(transit.joao, "key-2")

    assert maria.status_code == 201
    assert problem(joao)[1]["code"] == "credit_refused"


def test_failures_hit_only_calls_that_would_succeed(transit: TransitSetup):
    transit.admin.fail("error_500")

    blocked = transit.credit(transit.blocked, "key-1")
    unknown = transit.credit(transit.unknown, "key-2")

    assert (blocked.status_code, unknown.status_code) == (422, 404)
    assert len(transit.admin.failures()) == 1


def test_mode_none_drops_the_waiting_failures(transit: TransitSetup):
    transit.admin.fail("error_500", count=3)
    transit.admin.fail("reject", number=transit.joao)
    transit.admin.fail("reject", number=transit.maria)

    left = transit.admin.fail("none", number=transit.maria)
    cleared = transit.admin.fail("none")

    assert [(failure["mode"], failure["number"]) for failure in left] == [("error_500", None), ("reject", transit.joao)]
    assert cleared == []
    assert transit.credit(transit.maria).status_code == 201


def test_a_slow_answer_to_a_patient_client_is_504_timeout(transit: TransitSetup):
    transit.admin.fail("timeout", delay_s=0.05)

    response = transit.credit(transit.maria, "key-1")

    assert problem(response) == (504, {"code": "timeout", "message": "The operator's system did not answer in time."})
    assert transit.credits(transit.maria) == []


def test_an_applied_timeout_answers_the_credit_late(transit: TransitSetup):
    transit.admin.fail("timeout", delay_s=0.05, applied=True)

    response = transit.credit(transit.maria, "key-1")

    assert response.status_code == 201
    assert response.json()["balance"] == 3250


def test_lookups_fail_on_demand_too(transit: TransitSetup):
    transit.admin.fail("error_500", operation="lookup")

    failed = transit.lookup(transit.maria)
    answered = transit.lookup(transit.maria)

    assert failed.status_code == 500
    assert answered.status_code == 200


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"mode": "explode"}, "mode is one of error_500, timeout, reject or none."),
        ({"mode": "reject", "operation": "lookup"}, "Only credits can be refused."),
        ({"mode": "error_500", "count": 0}, "count must be an integer of at least 1."),
        ({"mode": "timeout", "delay_s": 601}, "delay_s is between 0 and 600 seconds."),
        ({"mode": "error_500", "number": "12"}, "A card number is 12 digits."),
        ({"mode": "error_500", "times": 2}, "Unknown fields: times."),
    ],
)
def test_a_bad_failure_request_is_refused_and_nothing_is_queued(transit: TransitSetup, body, message):
    response = transit.http.post("/_fake/failures", json=[{"mode": "error_500"}, body])

    assert response.status_code == 400
    assert response.json()["error"]["message"] == message
    assert transit.admin.failures() == []


# --- Admin API --------------------------------------------------------------------------------------------------------


def test_the_request_log_keeps_each_call_without_the_api_key(transit: TransitSetup):
    transit.lookup(transit.maria)
    transit.credit(transit.maria, "key-1")

    log = transit.admin.requests()

    assert log == [
        {"id": 1, "at": CREATED_AT, "method": "GET", "path": "/v1/cards/123456789012", "status_code": 200},
        {
            "id": 2,
            "at": CREATED_AT,
            "method": "POST",
            "path": "/v1/cards/123456789012/credits",
            "status_code": 201,
            "idempotency_key": "key-1",
            "json": {"amount": 2000, "currency": "BRL", "reference": "wa-ord-000123"},
        },
    ]
    assert transit.api_key not in json.dumps(log)


def test_a_client_hanging_up_on_a_slow_answer_is_logged(transit: TransitSetup):
    transit.admin.fail("timeout", delay_s=60)
    with (
        httpx.Client(base_url=transit.base_url, timeout=0.3, trust_env=False) as impatient,
        pytest.raises(httpx.ReadTimeout),
    ):
        impatient.post(
            f"/v1/cards/{transit.maria}/credits",
            json={"amount": 2000, "currency": "BRL", "reference": "r"},
            headers={"Authorization": f"Bearer {transit.api_key}", "Idempotency-Key": "key-1"},
        )

    entry = wait_for(lambda: next(iter(transit.admin.requests()), {}), 10, message="the slow call ended")
    assert (entry["status_code"], entry["client_gone"]) == (504, True)
    assert transit.credits(transit.maria) == []


def test_replacing_a_card_forgets_its_credits(transit: TransitSetup):
    transit.credit(transit.maria)

    card = transit.admin.add_card(transit.maria, "Maria Souza", balance=99)

    assert card == {
        "number": "123456789012",
        "holder_name": "Maria Souza",
        "balance": 99,
        "currency": "BRL",
        "status": "active",
        "credits": [],
    }


@pytest.mark.parametrize(
    ("card", "message"),
    [
        ({"number": "1234", "holder_name": "X"}, "A card number is 12 digits."),
        ({"number": "123456789012", "holder_name": " "}, "holder_name is required."),
        ({"number": "123456789012", "holder_name": "X", "balance": -1}, "balance must be an integer of at least 0."),
        ({"number": "123456789012", "holder_name": "X", "status": "lost"}, "status is one of active, blocked."),
        ({"number": "123456789012", "holder_name": "X", "owner": "Y"}, "Unknown fields: owner."),
    ],
)
def test_a_bad_card_is_refused_by_the_admin_api(transit: TransitSetup, card, message):
    response = transit.http.post("/_fake/cards", json=card)

    assert response.status_code == 400
    assert response.json()["error"]["message"] == message
    assert transit.balance(transit.maria) == 1250


def test_the_admin_api_says_when_a_card_is_unknown(transit: TransitSetup):
    with pytest.raises(FakeAdminError) as refused:
        transit.admin.card(transit.unknown)

    assert (refused.value.status, refused.value.code) == (404, "card_not_found")


def test_reset_forgets_everything_and_can_set_the_demo_up_again(transit: TransitSetup):
    transit.credit(transit.maria, "key-1")
    transit.admin.fail("error_500")

    transit.admin.reset()
    after_reset = (transit.admin.cards(), transit.admin.failures(), transit.admin.requests())
    unauthorized = transit.lookup(transit.maria).status_code
    transit.admin.reset(demo=True)

    assert after_reset == ([], [], [])
    assert unauthorized == 401
    demo = transit.lookup("123456789012", Authorization="Bearer demo-transit-key")
    assert demo.json()["balance"] == 1250
    assert [(card["number"], card["balance"], card["status"]) for card in transit.admin.cards()] == [
        ("123456789012", 1250, "active"),
        ("987654321098", 0, "active"),
        ("111122223333", 500, "blocked"),
    ]


# --- The standalone program -------------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_python_m_flows_fake_serves_the_demo_and_a_config_file(tmp_path: Path):
    config = tmp_path / "transit.json"
    config.write_text(
        json.dumps({"api_keys": ["ops-key"], "cards": [{"number": "222233334444", "holder_name": "Rui Alves"}]})
    )
    port = _free_port()
    output = tmp_path / "stderr.txt"
    with output.open("w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "flows.fake", "--port", str(port), "--demo", "--config", str(config)],
            cwd=ROOT,
            stderr=stderr,
            stdout=subprocess.DEVNULL,
        )
    try:
        base = f"http://127.0.0.1:{port}"

        def healthy() -> bool:
            try:
                return httpx.get(f"{base}/_fake/health", trust_env=False).status_code == 200
            except httpx.TransportError:
                return process.poll() is not None

        wait_for(healthy, 20, message="python -m flows.fake did not start")
        demo = httpx.get(f"{base}/v1/cards/987654321098", headers={"Authorization": "Bearer demo-transit-key"})
        configured = httpx.get(f"{base}/v1/cards/222233334444", headers={"Authorization": "Bearer ops-key"})
    finally:
        process.terminate()
        process.wait(10)

    assert demo.json() == {
        "number": "987654321098",
        "holder_name": "João L.",
        "balance": 0,
        "currency": "BRL",
        "status": "active",
    }
    assert configured.json()["holder_name"] == "Rui A."
    printed = output.read_text().splitlines()
    assert printed[:6] == [
        f"Fake transit operator on http://127.0.0.1:{port}/",
        "API keys: demo-transit-key, ops-key",
        "Cards:",
        "  123456789012  Maria Souza  R$ 12,50  active",
        "  987654321098  João Lima  R$ 0,00  active",
        "  111122223333  Ana Costa  R$ 5,00  blocked",
    ]


def test_a_bad_config_file_stops_the_program_with_a_message(tmp_path: Path):
    config = tmp_path / "transit.json"
    config.write_text(json.dumps({"cards": [{"number": "12", "holder_name": "X"}]}))

    result = subprocess.run(
        [sys.executable, "-m", "flows.fake", "--port", str(_free_port()), "--config", str(config)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )

    assert result.returncode == 1
    assert result.stderr.strip() == f"python -m flows.fake: {config}: A card number is 12 digits."


def test_the_fake_imports_nothing_of_django_or_the_product():
    probe = (
        "import sys, flows.fake, flows.fake.__main__\n"
        "product = ('django', 'helpdesk', 'tenants', 'conversations', 'whatsapp', 'automations', 'payments')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in product"
        " or (m.startswith('flows.') and not m.startswith('flows.fake'))))\n"
    )

    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    )

    assert result.stdout.strip() == "[]"
