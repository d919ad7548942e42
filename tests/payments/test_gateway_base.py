"""What every gateway shares: the charge request's checks, money and time on each provider's wire, ids, the
registry and the typed errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import httpx
import pytest

from payments.gateways import (
    KINDS,
    BcbPixConfig,
    BcbPixGateway,
    ChargeItem,
    ChargeRequest,
    Gateway,
    MercadoPagoConfig,
    MercadoPagoGateway,
    PermanentGatewayError,
    StripeConfig,
    StripeGateway,
    TransientGatewayError,
    gateway_for,
    new_refund_id,
    new_txid,
)
from payments.gateways.http import retry_after_seconds
from payments.gateways.ids import is_refund_id, is_txid
from payments.gateways.wire import (
    WireFormatError,
    bcb_amount,
    iso_with_offset,
    parse_bcb_amount,
    parse_reais,
    parse_timestamp,
    reais_number,
    rfc3339,
)

EXPIRES = datetime(2026, 11, 5, 14, 47, tzinfo=UTC)


def request(**overrides) -> ChargeRequest:
    options = {"reference": "wa-ord-000123", "charge_id": new_txid(), "amount": 2500, "description": "x"}
    return ChargeRequest(**{**options, "expires_at": EXPIRES, **overrides})


# --- ChargeRequest ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("amount", [25.0, Decimal("25"), "2500", True])
def test_an_amount_that_is_not_an_integer_of_centavos_is_refused(amount):
    with pytest.raises(TypeError, match="integer of minor units"):
        request(amount=amount)


@pytest.mark.parametrize("amount", [0, -1, 1_000_000_000_000])
def test_an_amount_outside_1_centavo_to_the_widest_wire_format_is_refused(amount):
    with pytest.raises(ValueError, match="between 1 and 999999999999"):
        request(amount=amount)


def test_a_naive_expiry_and_items_that_do_not_add_up_are_refused():
    with pytest.raises(ValueError, match="aware"):
        request(expires_at=datetime(2026, 11, 5, 14, 47))
    with pytest.raises(ValueError, match="add up"):
        request(items=(ChargeItem("a", "A", 2, 1000),))
    with pytest.raises(ValueError, match="quantity"):
        request(items=(ChargeItem("a", "A", 0, 2500),), amount=2500)


def test_items_that_add_up_are_accepted():
    assert request(items=(ChargeItem("a", "A", 2, 1000), ChargeItem("b", "B", 1, 500))).amount == 2500


# --- Money and time on the wire ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cents", "text"), [(2500, "25.00"), (1, "0.01"), (10, "0.10"), (999_999_999_999, "9999999999.99")]
)
def test_bcb_amounts_are_strings_with_two_decimals_both_ways(cents, text):
    assert bcb_amount(cents) == text
    assert parse_bcb_amount(text) == cents


@pytest.mark.parametrize(
    "text", ["25", "25.0", "25,00", " 25.00", "25.00 ", "+25.00", "1.000.00", "12345678901.00", 25.0]
)
def test_anything_but_a_full_match_of_the_bcb_money_pattern_is_refused(text):
    with pytest.raises(WireFormatError):
        parse_bcb_amount(text)


@pytest.mark.parametrize(
    ("cents", "number"), [(2500, 25.0), (1999, 19.99), (1, 0.01), (30, 0.3), (123456789, 1234567.89)]
)
def test_mercado_pago_amounts_are_json_numbers_with_exactly_our_digits(cents, number):
    assert reais_number(cents) == number
    assert repr(reais_number(cents)) == repr(number)
    assert parse_reais(Decimal(repr(number))) == cents


def test_mercado_pago_amounts_are_read_as_decimals_never_floats():
    assert parse_reais(Decimal("0.3")) == 30
    assert parse_reais(25) == 2500
    with pytest.raises(WireFormatError):
        parse_reais(0.3)  # a float would already have lost the exact value
    with pytest.raises(WireFormatError):
        parse_reais(Decimal("19.999"))
    with pytest.raises(WireFormatError):
        parse_reais("25.00")


def test_timestamps_are_written_as_each_provider_does():
    moment = datetime(2026, 11, 5, 14, 33, 41, 127000, tzinfo=UTC)

    assert rfc3339(moment) == "2026-11-05T14:33:41.127Z"
    assert iso_with_offset(moment) == "2026-11-05T11:33:41.127-03:00"
    assert parse_timestamp("2026-11-05T14:33:41.127Z") == moment
    assert parse_timestamp("2026-11-05T11:33:41.127-03:00") == moment
    with pytest.raises(WireFormatError):
        parse_timestamp("2026-11-05T14:33:41")
    with pytest.raises(ValueError):
        rfc3339(datetime(2026, 11, 5))


def test_retry_after_reads_seconds_and_http_dates():
    assert retry_after_seconds("3") == 3.0
    assert retry_after_seconds(None) is None
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0


# --- Ids --------------------------------------------------------------------------------------------------------------


def test_new_ids_are_unique_valid_txids_and_refund_ids():
    txids = {new_txid() for _ in range(1000)}

    assert len(txids) == 1000
    assert all(is_txid(txid) and len(txid) == 32 for txid in txids)
    assert is_refund_id(new_refund_id())
    assert not is_txid("wa-ord-000123-link-1")
    assert not is_refund_id("a" * 36)


# --- Registry ---------------------------------------------------------------------------------------------------------


def test_gateway_for_builds_each_kind_from_its_config():
    configs = {
        "bcb_pix": BcbPixConfig(
            api_url="https://pix.example.com/api/v2",
            token_url="https://pix.example.com/oauth/token",
            client_id="c",
            client_secret="s",
            pix_key="k",
        ),
        "mercadopago": MercadoPagoConfig(access_token="TEST-x"),
        "stripe": StripeConfig(secret_key="sk_test_x"),
    }

    made = {kind: gateway_for(kind, configs[kind]) for kind in KINDS}

    assert KINDS == ("bcb_pix", "mercadopago", "stripe")
    assert [type(g) for g in made.values()] == [BcbPixGateway, MercadoPagoGateway, StripeGateway]
    assert all(isinstance(g, Gateway) and g.kind == kind for kind, g in made.items())
    with pytest.raises(TypeError, match="takes a MercadoPagoConfig"):
        gateway_for("mercadopago", configs["stripe"])
    with pytest.raises(ValueError, match="Unknown gateway 'boleto'"):
        gateway_for("boleto", configs["stripe"])


def test_secrets_stay_out_of_reprs():
    config = MercadoPagoConfig(access_token="TEST-secret-token", webhook_secret="hook-secret")
    gateway = MercadoPagoGateway(config)

    assert "secret" not in repr(config) and "secret" not in repr(gateway)
    assert "s3cr3t" not in repr(
        BcbPixConfig(api_url="a", token_url="b", client_id="c", client_secret="s3cr3t", pix_key="k")
    )


def test_errors_say_which_gateway_what_and_the_status():
    transient = TransientGatewayError("busy", gateway="stripe", http_status=429, retry_after=2.0)
    permanent = PermanentGatewayError("nope", gateway="mercadopago", http_status=400, code="4292")

    assert str(transient) == "stripe: busy (HTTP 429)"
    assert str(permanent) == "mercadopago: nope [4292] (HTTP 400)"
    assert transient.retry_after == 2.0


def test_a_url_the_adapter_cannot_use_is_permanent():
    config = StripeConfig(secret_key="sk_test_x", api_url="ftp://api.stripe.com")
    with StripeGateway(config) as gateway, pytest.raises(PermanentGatewayError, match="cannot be sent"):
        gateway.get_charge("cs_test_x")


def test_an_answer_that_is_not_json_is_permanent_unexpected_response():
    transport = httpx.MockTransport(lambda r: httpx.Response(200, content=b"<html>maintenance</html>"))
    gateway = StripeGateway(StripeConfig(secret_key="sk_test_x"), transport=transport)
    with gateway, pytest.raises(PermanentGatewayError) as error:
        gateway.get_charge("cs_test_x")

    assert error.value.code == "unexpected_response"


def test_each_adapter_takes_the_time_from_its_clock():
    fixed = datetime(2026, 11, 5, 14, 32, tzinfo=timezone(timedelta(hours=-3)))
    gateway = MercadoPagoGateway(MercadoPagoConfig(access_token="TEST-x"), clock=lambda: fixed)

    body = gateway.preference_body(request(expires_at=fixed + timedelta(minutes=15)))

    assert (body["expiration_date_from"], body["expiration_date_to"]) == (
        "2026-11-05T14:32:00.000-03:00",
        "2026-11-05T14:47:00.000-03:00",
    )
