"""The product's transit-operator adapter (``flows.transit``) against the fake operator over a real socket: the
dataclasses it reads, one credit per idempotency key (also from concurrent threads), and every failure mapped to
its class — permanent (not found, blocked, refused) or transient (5xx, timeout, network)."""

from __future__ import annotations

import socket
import threading
import time
from typing import TYPE_CHECKING

import httpx
import pytest

from flows.fake import wait_for
from flows.transit import (
    TransitCard,
    TransitCardBlocked,
    TransitCardNotFound,
    TransitCredit,
    TransitError,
    TransitOperatorClient,
    TransitRefused,
    TransitUnavailable,
    card_number_normalise,
    client_kept,
    masked,
)

if TYPE_CHECKING:
    from tests.flows.transit_fixtures import TransitSetup


# --- Card numbers -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "number"),
    [
        ("123456789012", "123456789012"),
        ("1234 5678 9012", "123456789012"),
        ("1234.5678.9012", "123456789012"),
        ("1234-5678-9012", "123456789012"),
        ("1234\u20135678\u20149012", "123456789012"),  # en and em dashes, as phones type them
        (" 12 34\u00a05678\t9012\n", "123456789012"),
        ("12345678901", None),
        ("1234567890123", None),
        ("12345678901a", None),
        ("+123456789012", None),
        ("1234/5678/9012", None),
        ("\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669\u0660\u0661\u0662", None),  # Arabic-Indic
        ("\uff11\uff12\uff13\uff14\uff15\uff16\uff17\uff18\uff19\uff10\uff11\uff12", None),  # fullwidth
        ("", None),
        (" - . ", None),
    ],
)
def test_card_number_normalise_keeps_the_12_ascii_digits_or_says_none(raw, number):
    assert card_number_normalise(raw) == number


@pytest.mark.parametrize(
    ("number", "shown"),
    [("123456789012", "•••• 9012"), ("1234 5678 9012", "•••• 9012"), ("987654321098", "•••• 1098"), ("12", "••••")],
)
def test_masked_shows_only_the_last_four_digits(number, shown):
    assert masked(number) == shown


# --- Looking a card up ------------------------------------------------------------------------------------------------


def test_card_lookup_reads_the_card(transit: TransitSetup):
    card = transit.client().card_lookup(transit.maria)

    assert card == TransitCard(number="123456789012", holder_name="Maria S.", balance=1250, currency="BRL", active=True)


def test_card_lookup_takes_the_number_as_a_customer_typed_it(transit: TransitSetup):
    card = transit.client().card_lookup("1234 5678-9012")

    assert card.number == "123456789012"
    assert [entry["path"] for entry in transit.admin.requests()] == ["/v1/cards/123456789012"]


def test_a_blocked_card_is_found_inactive(transit: TransitSetup):
    card = transit.client().card_lookup(transit.blocked)

    assert card == TransitCard(number="111122223333", holder_name="Ana C.", balance=500, currency="BRL", active=False)


def test_an_unknown_card_raises_card_not_found(transit: TransitSetup):
    with pytest.raises(TransitCardNotFound) as raised:
        transit.client().card_lookup(transit.unknown)

    assert (raised.value.http_status, raised.value.code) == (404, "card_not_found")
    assert str(raised.value) == "transit operator: No card has this number. [card_not_found] (HTTP 404)"


def test_something_that_is_no_card_number_is_not_found_without_asking_the_operator(transit: TransitSetup):
    client = transit.client()

    with pytest.raises(TransitCardNotFound) as lookup:
        client.card_lookup("1234")
    with pytest.raises(TransitCardNotFound):
        client.card_credit("abc", amount=2000, reference="r", idempotency_key="key-1")

    assert (lookup.value.http_status, lookup.value.code) == (None, "invalid_card_number")
    assert transit.admin.requests() == []


# --- Crediting a card -------------------------------------------------------------------------------------------------


def test_card_credit_credits_the_card_once_and_reads_the_credit(transit: TransitSetup):
    credit = transit.client().card_credit(
        transit.maria, amount=2000, reference=transit.reference, idempotency_key="wa-ord-000123-credit"
    )

    assert credit == TransitCredit(id="cr_00000001", amount=2000, balance=3250, reference="wa-ord-000123")
    assert transit.balance(transit.maria) == 3250
    [request] = transit.admin.requests()
    assert (request["method"], request["path"], request["idempotency_key"], request["json"]) == (
        "POST",
        "/v1/cards/123456789012/credits",
        "wa-ord-000123-credit",
        {"amount": 2000, "currency": "BRL", "reference": "wa-ord-000123"},
    )


def test_the_same_idempotency_key_twice_gives_the_same_credit_and_raises_the_balance_once(transit: TransitSetup):
    client = transit.client()

    first = client.card_credit(transit.maria, amount=2000, reference=transit.reference, idempotency_key="key-1")
    second = client.card_credit(transit.maria, amount=2000, reference=transit.reference, idempotency_key="key-1")

    assert first == second == TransitCredit(id="cr_00000001", amount=2000, balance=3250, reference="wa-ord-000123")
    assert transit.balance(transit.maria) == 3250
    assert len(transit.credits(transit.maria)) == 1


def test_concurrent_credits_with_one_key_from_threads_make_one_credit(transit: TransitSetup):
    calls = 6
    barrier = threading.Barrier(calls)
    results: list[TransitCredit | BaseException] = []
    lock = threading.Lock()

    def credit() -> None:
        with TransitOperatorClient(transit.base_url, transit.api_key) as client:
            barrier.wait(5)
            try:
                result: TransitCredit | BaseException = client.card_credit(
                    transit.maria, amount=2000, reference=transit.reference, idempotency_key="key-1"
                )
            except TransitError as exc:
                result = exc
        with lock:
            results.append(result)

    threads = [threading.Thread(target=credit) for _ in range(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    assert results == [TransitCredit(id="cr_00000001", amount=2000, balance=3250, reference="wa-ord-000123")] * calls
    assert transit.balance(transit.maria) == 3250
    assert len(transit.credits(transit.maria)) == 1


def test_the_same_key_for_another_credit_is_refused_permanently(transit: TransitSetup):
    client = transit.client()
    client.card_credit(transit.maria, amount=2000, reference=transit.reference, idempotency_key="key-1")

    with pytest.raises(TransitRefused) as raised:
        client.card_credit(transit.maria, amount=3000, reference=transit.reference, idempotency_key="key-1")

    assert (raised.value.http_status, raised.value.code) == (409, "idempotency_conflict")
    assert transit.balance(transit.maria) == 3250


def test_crediting_a_blocked_card_raises_card_blocked_and_credits_nothing(transit: TransitSetup):
    with pytest.raises(TransitCardBlocked) as raised:
        transit.client().card_credit(transit.blocked, amount=2000, reference="r", idempotency_key="key-1")

    assert (raised.value.http_status, raised.value.code) == (422, "card_blocked")
    assert transit.card(transit.blocked)["balance"] == 500
    assert transit.credits(transit.blocked) == []


def test_crediting_an_unknown_card_raises_card_not_found(transit: TransitSetup):
    with pytest.raises(TransitCardNotFound) as raised:
        transit.client().card_credit(transit.unknown, amount=2000, reference="r", idempotency_key="key-1")

    assert (raised.value.http_status, raised.value.code) == (404, "card_not_found")


@pytest.mark.parametrize("amount", [0, -1, 100_001])
def test_an_amount_the_operator_does_not_take_is_refused_permanently(transit: TransitSetup, amount):
    with pytest.raises(TransitRefused) as raised:
        transit.client().card_credit(transit.maria, amount=amount, reference="r", idempotency_key="key-1")

    assert (raised.value.http_status, raised.value.code) == (422, "invalid_amount")
    assert transit.credits(transit.maria) == []


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"amount": 20.0}, TypeError),
        ({"amount": True}, TypeError),
        ({"reference": ""}, ValueError),
        ({"idempotency_key": ""}, ValueError),
        ({"idempotency_key": "k" * 65}, ValueError),
        ({"idempotency_key": "two words"}, ValueError),
    ],
    ids=["float-amount", "bool-amount", "no-reference", "no-key", "long-key", "key-with-space"],
)
def test_a_credit_the_caller_got_wrong_is_not_sent(transit: TransitSetup, options, error):
    arguments = {"amount": 2000, "reference": "r", "idempotency_key": "key-1", **options}

    with pytest.raises(error):
        transit.client().card_credit(transit.maria, **arguments)

    assert transit.admin.requests() == []


# --- Failures ---------------------------------------------------------------------------------------------------------


def test_a_500_is_unavailable_and_the_retry_with_the_same_key_credits_once(transit: TransitSetup):
    transit.admin.fail("error_500")
    client = transit.client()

    with pytest.raises(TransitUnavailable) as raised:
        client.card_credit(transit.maria, amount=2000, reference=transit.reference, idempotency_key="key-1")
    balance_after_failure = transit.balance(transit.maria)
    credit = client.card_credit(transit.maria, amount=2000, reference=transit.reference, idempotency_key="key-1")

    assert (raised.value.http_status, raised.value.code) == (500, "internal_error")
    assert balance_after_failure == 1250
    assert credit.balance == 3250
    assert len(transit.credits(transit.maria)) == 1


def test_a_500_after_the_credit_was_made_is_settled_by_the_retry_with_the_same_key(transit: TransitSetup):
    transit.admin.fail("error_500", applied=True)
    client = transit.client()

    with pytest.raises(TransitUnavailable):
        client.card_credit(transit.maria, amount=2000, reference=transit.reference, idempotency_key="key-1")
    credit = client.card_credit(transit.maria, amount=2000, reference=transit.reference, idempotency_key="key-1")

    assert credit == TransitCredit(id="cr_00000001", amount=2000, balance=3250, reference="wa-ord-000123")
    assert len(transit.credits(transit.maria)) == 1


def test_a_refused_credit_is_permanent_and_credits_nothing(transit: TransitSetup):
    transit.admin.fail("reject")

    with pytest.raises(TransitRefused) as raised:
        transit.client().card_credit(transit.maria, amount=2000, reference="r", idempotency_key="key-1")

    assert (raised.value.http_status, raised.value.code) == (422, "credit_refused")
    assert transit.credits(transit.maria) == []


def test_an_operator_that_does_not_answer_is_unavailable_within_the_clients_timeout(transit: TransitSetup):
    transit.admin.fail("timeout", delay_s=60)
    client = transit.client(timeout=0.3)

    started = time.monotonic()
    with pytest.raises(TransitUnavailable) as raised:
        client.card_credit(transit.maria, amount=2000, reference=transit.reference, idempotency_key="key-1")
    waited = time.monotonic() - started

    assert raised.value.http_status is None
    assert "timed out" in raised.value.message
    assert waited < 30  # the client gave up on its own timeout, long before the operator's 60 s answer
    # The fake saw the client hang up; nothing was credited, and the retry with the key credits once.
    entry = wait_for(lambda: next(iter(transit.admin.requests()), {}), 10, message="the slow call ended")
    assert entry["client_gone"] is True
    assert transit.credits(transit.maria) == []
    credit = client.card_credit(transit.maria, amount=2000, reference=transit.reference, idempotency_key="key-1")
    assert credit.balance == 3250
    assert len(transit.credits(transit.maria)) == 1


def test_a_timeout_after_the_credit_was_made_is_settled_by_the_retry_with_the_same_key(transit: TransitSetup):
    transit.admin.fail("timeout", delay_s=60, applied=True)
    client = transit.client(timeout=0.3)

    with pytest.raises(TransitUnavailable):
        client.card_credit(transit.maria, amount=2000, reference=transit.reference, idempotency_key="key-1")
    credit = client.card_credit(transit.maria, amount=2000, reference=transit.reference, idempotency_key="key-1")

    assert credit == TransitCredit(id="cr_00000001", amount=2000, balance=3250, reference="wa-ord-000123")
    assert len(transit.credits(transit.maria)) == 1


@pytest.mark.parametrize("mode", ["error_500", "timeout"])
def test_a_lookup_that_fails_is_unavailable(transit: TransitSetup, mode):
    transit.admin.fail(mode, operation="lookup", delay_s=60)

    with pytest.raises(TransitUnavailable):
        transit.client(timeout=0.3).card_lookup(transit.maria)


def test_an_operator_nobody_listens_at_is_unavailable():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing listens there

    with (
        TransitOperatorClient(f"http://127.0.0.1:{port}", "key") as client,
        pytest.raises(TransitUnavailable) as raised,
    ):
        client.card_lookup("123456789012")

    assert raised.value.message == "GET /v1/cards/123456789012 failed: ConnectError"


def test_an_unknown_api_key_is_refused_permanently_and_never_shown(transit: TransitSetup):
    client = transit.client(api_key="wrong-secret-key")

    with pytest.raises(TransitRefused) as raised:
        client.card_lookup(transit.maria)

    assert (raised.value.http_status, raised.value.code) == (401, "unauthorized")
    assert "wrong-secret-key" not in str(raised.value) + repr(raised.value) + repr(client)


def test_a_wrong_base_url_is_refused_not_taken_for_an_unknown_card(transit: TransitSetup):
    with pytest.raises(TransitRefused) as raised:
        transit.client(base_url=f"{transit.base_url}/api").card_lookup(transit.maria)

    assert type(raised.value) is TransitRefused
    assert (raised.value.http_status, raised.value.code) == (404, "not_found")


@pytest.mark.parametrize(
    ("response", "error", "code"),
    [
        (httpx.Response(200, text="<html>maintenance</html>"), TransitUnavailable, "unexpected_response"),
        (httpx.Response(200, json=["not", "an", "object"]), TransitUnavailable, "unexpected_response"),
        (httpx.Response(200, json={"number": "123456789012"}), TransitUnavailable, "unexpected_response"),
        (
            httpx.Response(
                200,
                json={
                    "number": "999999999999",
                    "holder_name": "X",
                    "balance": 1,
                    "currency": "BRL",
                    "status": "active",
                },
            ),
            TransitUnavailable,
            "unexpected_response",
        ),
        (
            httpx.Response(
                200,
                json={"number": "123456789012", "holder_name": "X", "balance": "1", "currency": "BRL", "status": "a"},
            ),
            TransitUnavailable,
            "unexpected_response",
        ),
        (
            httpx.Response(429, json={"error": {"code": "rate_limited", "message": "Slow down."}}),
            TransitUnavailable,
            "rate_limited",
        ),
        (httpx.Response(503, text="Service Unavailable"), TransitUnavailable, None),
        (httpx.Response(302, headers={"Location": "https://elsewhere.example"}), TransitUnavailable, None),
        (httpx.Response(403, json={"error": {"code": "forbidden", "message": "No."}}), TransitRefused, "forbidden"),
        (httpx.Response(404, text="Not Found"), TransitRefused, None),
    ],
    ids=["html", "list", "missing-fields", "another-card", "text-balance", "429", "503", "redirect", "403", "bare-404"],
)
def test_answers_outside_the_contract_map_to_a_class_that_says_what_to_do(response, error, code):
    transport = httpx.MockTransport(lambda request: response)

    with (
        TransitOperatorClient("https://transit.example", "key", transport=transport) as client,
        pytest.raises(error) as raised,
    ):
        client.card_lookup("123456789012")

    assert type(raised.value) is error
    assert raised.value.code == code


def test_a_credit_answer_that_cannot_be_read_is_unavailable_so_the_retry_settles_it():
    transport = httpx.MockTransport(lambda request: httpx.Response(201, json={"id": "cr_1", "amount": 2000}))

    with (
        TransitOperatorClient("https://transit.example", "key", transport=transport) as client,
        pytest.raises(TransitUnavailable) as raised,
    ):
        client.card_credit("123456789012", amount=2000, reference="r", idempotency_key="key-1")

    assert raised.value.code == "unexpected_response"


@pytest.mark.parametrize(
    ("base_url", "api_key"),
    [("", "key"), ("https://transit.example", ""), ("https://transit.example", "key\r\nX-Injected: 1")],
    ids=["not-configured", "no-key", "header-injection"],
)
def test_a_client_without_a_usable_base_url_or_key_is_not_made(base_url, api_key):
    with pytest.raises(ValueError) as raised:
        TransitOperatorClient(base_url, api_key)

    assert "X-Injected" not in str(raised.value)


def test_the_process_keeps_one_client_per_operator_and_key(transit: TransitSetup):
    first = client_kept(transit.base_url, transit.api_key)
    again = client_kept(transit.base_url, transit.api_key)
    other_key = client_kept(transit.base_url, "another-workspace-key")

    assert again is first
    assert other_key is not first
    # Kept clients stay open: two calls in a row go through the same client.
    assert first.card_lookup("123456789012").number == "123456789012"
    assert first.card_lookup("987654321098").number == "987654321098"
