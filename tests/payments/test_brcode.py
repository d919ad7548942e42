"""Pix BR Codes: the contract's vectors parse, verify and re-encode byte for byte; codes we build parse back to what
we put in; every malformed code is refused with a message that names the place."""

from __future__ import annotations

import binascii
import json
import string
import unicodedata
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from payments.brcode import (
    CITY_LIMIT,
    MAX_AMOUNT_CENTS,
    NAME_LIMIT,
    BrCode,
    BrCodeError,
    ascii_text,
    crc16,
    dynamic_code,
    encode_tlv,
    format_amount,
    parse,
    parse_tlv,
    static_code,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
VECTORS = json.loads((FIXTURES / "payments" / "pix_brcode_vectors.json").read_text())["vectors"]
# The BCB examples of shared/whatsapp/CONTRACT.md §8 (static, dynamic, composite, multi-arrangement), already in tests.
BCB_EXAMPLES = json.loads((FIXTURES / "whatsapp" / "pix_brcode_examples.json").read_text())["examples"]
SCENARIO = next(vector for vector in VECTORS if "fields" in vector)
CODES = [pytest.param(v["brcode"], id=v["name"][:40]) for v in VECTORS if "brcode" in v] + [
    pytest.param(e["payload"], id=e["name"]) for e in BCB_EXAMPLES
]
BCB_STATIC = next(e["payload"] for e in BCB_EXAMPLES if e["name"] == "bcb_static_evp_no_amount")
SCENARIO_LOCATION = "pix.example.com/qr/v2/9d36b84fc70b478fb95c12729b90ca25"
HYPOTHESIS = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture], database=None
)


def sealed(body: str) -> str:
    """``body`` + 6304 + its CRC, computed by the standard library's CRC-CCITT (an oracle independent of ours)."""
    return f"{body}6304{binascii.crc_hqx(f'{body}6304'.encode(), 0xFFFF):04X}"


def decimal_amount(cents: int) -> str:
    return str(Decimal(cents).scaleb(-2))


# The contract's vectors


@pytest.mark.parametrize("vector", [v for v in VECTORS if "crc" in v], ids=lambda v: v["name"])
def test_crc16_gives_the_check_value(vector):
    assert crc16(vector["input"]) == vector["crc"] == "29B1"


@given(st.text(alphabet=string.printable, max_size=300))
@HYPOTHESIS
def test_crc16_agrees_with_the_standard_library_crc_ccitt(payload):
    assert crc16(payload) == f"{binascii.crc_hqx(payload.encode(), 0xFFFF):04X}"


@pytest.mark.parametrize("code", CODES)
def test_each_vector_parses_verifies_its_crc_and_reencodes_to_the_same_string(code):
    parsed = parse(code)

    assert parsed.crc == code[-4:] == crc16(code[:-4])
    assert encode_tlv(parsed.fields) == code
    assert parsed.payload_format == "01"
    assert parsed.gui.lower() == "br.gov.bcb.pix"


def test_scenario_vector_parses_to_its_fields():
    parsed = parse(SCENARIO["brcode"])

    assert parsed.fields == SCENARIO["fields"]
    assert list(parsed.fields) == ["00", "01", "26", "52", "53", "58", "59", "60", "62", "63"]
    assert parsed == BrCode(
        payload_format="01",
        point_of_initiation="12",
        gui="br.gov.bcb.pix",
        key=None,
        location=SCENARIO_LOCATION,
        description=None,
        mcc="0000",
        currency="986",
        amount_cents=None,
        country="BR",
        merchant_name="TRANSPORTE EXEMPLO",
        merchant_city="SAO PAULO",
        txid="***",
        crc="89FF",
        fields=SCENARIO["fields"],
    )


def test_multi_arrangement_example_gives_key_amount_and_reference_label():
    parsed = parse(next(e["payload"] for e in BCB_EXAMPLES if e["name"] == "bcb_brcode_manual_multi_arrangement"))

    assert (parsed.gui, parsed.key, parsed.location) == ("BR.GOV.BCB.PIX", "123e4567-e12b-12d1-a456-426655440000", None)
    assert (parsed.amount_cents, parsed.txid, parsed.point_of_initiation) == (12345, "RP12345678-2019", None)
    assert parsed.fields["27"] == {"00": "BR.COM.OUTRO", "01": "0123456789"}
    assert parsed.fields["61"] == "70074900"


def test_dynamic_code_reproduces_the_scenario_vector():
    code = dynamic_code(location=SCENARIO_LOCATION, merchant_name="TRANSPORTE EXEMPLO", merchant_city="SAO PAULO")

    assert code == SCENARIO["brcode"]


def test_dynamic_code_drops_the_https_scheme_of_the_location():
    code = dynamic_code(
        location=f"https://{SCENARIO_LOCATION}", merchant_name="TRANSPORTE EXEMPLO", merchant_city="SAO PAULO"
    )

    assert code == SCENARIO["brcode"]


@pytest.mark.parametrize("location", ["", "http://pix.example.com/qr/1", "pix.example.com/qr/ção", "pix example"])
def test_dynamic_code_refuses_a_location_with_a_scheme_spaces_or_accents(location):
    with pytest.raises(BrCodeError) as error:
        dynamic_code(location=location, merchant_name="EMPRESA", merchant_city="SAO PAULO")

    assert str(error.value) == f"The location {location!r} must be an ASCII URL without its scheme."


# Static codes we build


def test_static_code_reproduces_the_bcb_static_example_without_field_01():
    code = static_code(
        key="123e4567-e12b-12d1-a456-426655440000",
        merchant_name="Fulano de Tal",
        merchant_city="BRASILIA",
        amount_cents=None,
    )

    assert code == BCB_STATIC


def test_static_code_writes_amount_description_txid_and_ascii_names():
    code = static_code(
        key="12345678909",
        merchant_name="Padaria São João",
        merchant_city="São Paulo",
        amount_cents=2500,
        txid="PEDIDO42",
        description="Pedido 42",
    )

    assert code == (
        "00020126460014br.gov.bcb.pix0111123456789090209Pedido 42520400005303986540525.005802BR"
        "5916Padaria Sao Joao6009Sao Paulo62120508PEDIDO4263049350"
    )
    assert code == sealed(code[:-8])


EMAILS = st.builds(
    "{}@{}.{}".format,
    st.text(string.ascii_lowercase + string.digits + "._-", min_size=1, max_size=20),
    st.text(string.ascii_lowercase + string.digits, min_size=1, max_size=15),
    st.text(string.ascii_lowercase, min_size=2, max_size=4),
)
KEYS = st.one_of(
    st.text(string.digits, min_size=11, max_size=11),
    st.text(string.digits + string.ascii_uppercase, min_size=14, max_size=14),
    EMAILS,
    st.text(string.digits, min_size=10, max_size=11).map("+55{}".format),
    st.uuids().map(str),
)
# ASCII and Latin letters (accents), tabs and non-breaking spaces, and characters without any ASCII form.
HUMAN_TEXT = st.text(
    st.characters(min_codepoint=32, max_codepoint=0x17F) | st.sampled_from("東京€ß\t\u00a0"), min_size=1, max_size=40
)
TXIDS = st.just("***") | st.text(string.ascii_letters + string.digits, min_size=1, max_size=25)


@given(
    key=KEYS,
    name=HUMAN_TEXT.filter(lambda text: ascii_text(text, NAME_LIMIT)),
    city=HUMAN_TEXT.filter(lambda text: ascii_text(text, CITY_LIMIT)),
    amount=st.none() | st.integers(min_value=1, max_value=MAX_AMOUNT_CENTS),
    txid=TXIDS,
    description=st.text(string.ascii_letters + " çãé", max_size=20),
)
@HYPOTHESIS
def test_static_code_parses_back_to_what_was_put_in(key, name, city, amount, txid, description):
    code = static_code(
        key=key, merchant_name=name, merchant_city=city, amount_cents=amount, txid=txid, description=description
    )
    parsed = parse(code)

    assert code.isascii()
    assert encode_tlv(parsed.fields) == code
    assert (parsed.key, parsed.location, parsed.point_of_initiation) == (key, None, None)
    assert parsed.amount_cents == amount
    assert parsed.fields.get("54") == (None if amount is None else decimal_amount(amount))
    assert parsed.txid == txid
    assert parsed.description == (ascii_text(description) or None)
    assert parsed.merchant_name == ascii_text(name, NAME_LIMIT)
    assert parsed.merchant_city == ascii_text(city, CITY_LIMIT)
    for text, limit in ((parsed.merchant_name, NAME_LIMIT), (parsed.merchant_city, CITY_LIMIT)):
        assert 0 < len(text) <= limit
        assert all(" " <= char <= "~" for char in text)
        assert text == text.strip()
        assert "  " not in text


@given(HUMAN_TEXT)
@HYPOTHESIS
def test_ascii_text_keeps_each_ascii_letter_and_digit_of_the_decomposed_text_in_order(text):
    wanted = [char for char in unicodedata.normalize("NFKD", text) if char.isascii() and char.isalnum()]

    assert [char for char in ascii_text(text) if char.isalnum()] == wanted


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("São Paulo", "Sao Paulo"),
        ("Ação & Cia.", "Acao & Cia."),
        ("  Café\t東京  Ltda ", "Cafe Ltda"),
        ("Straße €", "Strae"),
        ("東京", ""),
    ],
)
def test_ascii_text_strips_accents_keeps_case_and_drops_what_has_no_ascii_form(text, expected):
    assert ascii_text(text) == expected


def test_static_code_cuts_name_to_25_and_city_to_15_characters():
    parsed = parse(
        static_code(
            key="fulano@example.com",
            merchant_name="Comércio de Alimentos São João Ltda",
            merchant_city="São José dos Campos",
            amount_cents=None,
        )
    )

    assert parsed.merchant_name == "Comercio de Alimentos Sao"
    assert parsed.merchant_city == "Sao Jose dos Ca"


def test_a_cut_that_ends_on_a_space_leaves_no_trailing_space():
    parsed = parse(
        static_code(
            key="+5511987654321", merchant_name="Restaurante Bom Sabor da Vila", merchant_city="Rio", amount_cents=1
        )
    )

    assert parsed.merchant_name == "Restaurante Bom Sabor da"
    assert parsed.amount_cents == 1
    assert parsed.fields["54"] == "0.01"


@pytest.mark.parametrize(
    ("name", "city", "message"),
    [
        ("東京", "Sao Paulo", "The merchant name has no ASCII characters to keep."),
        ("Empresa", "€€", "The merchant city has no ASCII characters to keep."),
    ],
)
def test_a_name_or_city_with_nothing_ascii_is_refused(name, city, message):
    with pytest.raises(BrCodeError) as error:
        static_code(key="12345678909", merchant_name=name, merchant_city=city, amount_cents=None)

    assert str(error.value) == message


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        (0, "The amount must be positive; it is 0 cents."),
        (-100, "The amount must be positive; it is -100 cents."),
        (1_000_000_000_000, "The amount is 1000000000000 cents; at most 999999999999 fit field 54."),
    ],
)
def test_an_amount_of_zero_negative_or_over_13_characters_is_refused(amount, message):
    with pytest.raises(BrCodeError) as error:
        static_code(key="12345678909", merchant_name="Empresa", merchant_city="Sao Paulo", amount_cents=amount)

    assert str(error.value) == message


@pytest.mark.parametrize(
    ("cents", "text"),
    [(1, "0.01"), (10, "0.10"), (2500, "25.00"), (10050, "100.50"), (999_999_999_999, "9999999999.99")],
)
def test_format_amount_writes_two_decimals(cents, text):
    assert format_amount(cents) == text

    with_amount = BCB_STATIC[:-8].replace("5802BR", f"54{len(text):02d}{text}5802BR")

    assert parse(sealed(with_amount)).amount_cents == cents


@pytest.mark.parametrize(("text", "cents"), [("100", 10000), ("100.5", 10050), ("0.05", 5), ("007.10", 710)])
def test_parse_reads_amounts_with_no_one_or_two_decimals(text, cents):
    with_amount = BCB_STATIC[:-8].replace("5802BR", f"54{len(text):02d}{text}5802BR")

    assert parse(sealed(with_amount)).amount_cents == cents


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("not-a-key", "The key 'not-a-key' is not a CPF, CNPJ, e-mail, +55 phone or EVP key."),
        ("1234567890", "The key '1234567890' is not a CPF, CNPJ, e-mail, +55 phone or EVP key."),
        ("+14155550100", "The key '+14155550100' is not a CPF, CNPJ, e-mail, +55 phone or EVP key."),
        ("joão@example.com", "The key 'joão@example.com' is not a CPF, CNPJ, e-mail, +55 phone or EVP key."),
        (f"{'a' * 66}@example.com", "The key is 78 characters; at most 77 are allowed."),
    ],
)
def test_a_key_of_no_known_kind_is_refused(key, message):
    with pytest.raises(BrCodeError) as error:
        static_code(key=key, merchant_name="Empresa", merchant_city="Sao Paulo", amount_cents=None)

    assert str(error.value) == message


@pytest.mark.parametrize("txid", ["", "PEDIDO-42", "A" * 26, "pedido 42"])
def test_a_static_txid_other_than_stars_or_1_to_25_alphanumerics_is_refused(txid):
    with pytest.raises(BrCodeError) as error:
        static_code(key="12345678909", merchant_name="Empresa", merchant_city="Sao Paulo", amount_cents=1, txid=txid)

    assert str(error.value) == f"The txid {txid!r} must be *** or 1 to 25 letters and digits."


def test_a_merchant_account_over_99_characters_is_refused():
    with pytest.raises(BrCodeError) as error:
        static_code(
            key="123e4567-e12b-12d1-a456-426655440000",
            merchant_name="Empresa",
            merchant_city="Sao Paulo",
            amount_cents=None,
            description="x" * 38,
        )

    # 18 (GUI) + 40 (key) + 42 (description)
    assert str(error.value) == "Field 26 is 100 characters; at most 99 are allowed."


# Malformed codes

CODE = SCENARIO["brcode"]


@pytest.mark.parametrize(
    ("code", "message"),
    [
        (f"{CODE[:-4]}1234", "The CRC is 1234; the payload's is 89FF."),
        (CODE[:-2], "Truncated field at position 159."),
        (CODE[:60], "Truncated field at position 12."),
        (CODE[:2], "Truncated field at position 0."),
        (
            CODE.replace("5918TRANS", "59X8TRANS"),
            "Field 59 at position 113 has length 'X8'; two digits from 01 to 99 are required.",
        ),
        (
            CODE.replace("5918TRANS", "5900TRANS"),
            "Field 59 at position 113 has length '00'; two digits from 01 to 99 are required.",
        ),
        (CODE.replace("0014br.gov", "0X14br.gov"), "The field ID at position 16 is '0X'; two digits are required."),
        (CODE[:-8], "The code has no field 63 (CRC); it must end with 6304 and four hex digits."),
        (f"{CODE}6104ABCD", "Field 63 (CRC) must be the last field; field 61 follows it."),
        (CODE.replace("TRANSPORTE", "TRANSPÓRTE"), "The code has a non-ASCII character at position 123."),
        (f"{CODE[:-4]}89FG", "Field 63 is '89FG'; four hex digits are required."),
        ("", "The code is empty."),
        (sealed("0102120002015802BR"), "Field 00 must come first; the code starts with field 01."),
        (sealed("0002015802BR5802BR"), "Field 58 appears twice (again at position 12)."),
        (sealed(CODE[:-8].replace("000201", "000202", 1)), "Field 00 is '02'; 01 is required."),
        (
            sealed(CODE[:-8].replace("010212", "010213", 1)),
            "Field 01 is '13'; 11 (static) or 12 (dynamic) is required.",
        ),
        (sealed(CODE[:-8].replace("5303986", "5303840")), "Field 53 is '840'; 986 (BRL) is required."),
        (
            sealed(CODE[:-8].replace("br.gov.bcb.pix", "br.gov.bcb.pit")),
            "No merchant account field (26-51) has the GUI br.gov.bcb.pix.",
        ),
        (
            sealed(CODE[:-8].replace("26760014br.gov.bcb.pix", "26910014br.gov.bcb.pix011112345678909")),
            "Field 26 has both a key (01) and a location (25); only one is allowed.",
        ),
        (
            sealed(CODE[:-8].replace("5918TRANSPORTE EXEMPLO", "5930TRANSPORTE EXEMPLO DE CAMPINAS")),
            "Field 59 is 30 characters; at most 25 are allowed.",
        ),
        (
            sealed(CODE[:-8].replace("6009SAO PAULO", "6019SAO JOSE DOS CAMPOS")),
            "Field 60 is 19 characters; at most 15 are allowed.",
        ),
        (
            sealed(CODE[:-8].replace("5802BR", "54041,005802BR")),
            "Field 54 is '1,00'; an amount such as 100.50 is required.",
        ),
        (sealed(CODE[:-8].replace("62070503***", "62070703***")), "Field 62-05 is missing."),
        (sealed(CODE[:-8].replace("6009SAO PAULO", "")), "Field 60 is missing."),
    ],
)
def test_a_malformed_code_is_refused_with_a_message_naming_the_place(code, message):
    with pytest.raises(BrCodeError) as error:
        parse(code)

    assert str(error.value) == message


def test_parse_tlv_reports_positions_inside_templates_from_the_start_of_the_code():
    with pytest.raises(BrCodeError) as error:
        parse_tlv("0002012609001499XYZ")

    assert str(error.value) == "Truncated field at position 10."


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"59": ""}, "Field 59 is empty; at least 1 character is required."),
        ({"62": {"05": "x" * 100}}, "Field 62-05 is 100 characters; at most 99 are allowed."),
        ({"5": "x"}, "The field ID '5' is not two digits."),
    ],
)
def test_encode_tlv_refuses_empty_long_and_badly_named_fields(fields, message):
    with pytest.raises(BrCodeError) as error:
        encode_tlv(fields)

    assert str(error.value) == message


FIELD_VALUES = st.text(string.ascii_letters + string.digits + " .*-/@", min_size=1, max_size=20)
PLAIN_TAGS = [f"{n:02d}" for n in [*range(26), *range(52, 62), *range(63, 80)]]
TEMPLATE_TAGS = [f"{n:02d}" for n in [*range(26, 52), 62, *range(80, 100)]]
TEMPLATES = st.dictionaries(st.sampled_from(PLAIN_TAGS), FIELD_VALUES, min_size=1, max_size=4)


@given(
    st.dictionaries(st.sampled_from(PLAIN_TAGS), FIELD_VALUES, max_size=8),
    st.dictionaries(st.sampled_from(TEMPLATE_TAGS), TEMPLATES, max_size=3),
)
@HYPOTHESIS
def test_parse_tlv_inverts_encode_tlv(plain, templates):
    fields = plain | templates

    assert parse_tlv(encode_tlv(fields)) == fields
