"""One canonical WhatsApp id per person, including Brazil's ninth digit."""

from __future__ import annotations

import pytest

from whatsapp.phone import normalize_wa_id, parse_user_phone, to_e164


@pytest.mark.parametrize(
    ("wa_id", "canonical"),
    [
        ("551191234567", "5511991234567"),  # São Paulo mobile as Meta may send it, without the 9
        ("552187654321", "5521987654321"),  # Rio mobile
        ("558161234567", "5581961234567"),  # mobile starting with 6
        ("5511991234567", "5511991234567"),  # already canonical
        ("551133334444", "551133334444"),  # São Paulo landline
        ("554132221111", "554132221111"),  # Curitiba landline starting with 3
        ("16505551234", "16505551234"),  # United States
        ("972987654321", "972987654321"),  # Israel, 12 digits but not Brazil
        ("447700900123", "447700900123"),  # United Kingdom, 12 digits
    ],
)
def test_normalize_wa_id(wa_id, canonical):
    assert normalize_wa_id(wa_id) == canonical


def test_normalize_wa_id_strips_formatting():
    assert normalize_wa_id("+55 (11) 9123-4567") == "5511991234567"
    assert normalize_wa_id("+1 650-555-1234") == "16505551234"


def test_normalize_wa_id_leaves_impossible_area_codes_alone():
    assert normalize_wa_id("551091234567") == "551091234567"


def test_to_e164_adds_plus_to_the_canonical_form():
    assert to_e164("551191234567") == "+5511991234567"
    assert to_e164("16505551234") == "+16505551234"


def test_to_e164_rejects_text_without_digits():
    with pytest.raises(ValueError, match="no digits"):
        to_e164("n/a")


@pytest.mark.parametrize(
    ("text", "digits"),
    [
        ("(11) 99123-4567", "5511991234567"),
        ("11 9123-4567", "5511991234567"),  # old 8-digit mobile format gets its 9
        ("+55 11 3333-4444", "551133334444"),
        ("+1 (650) 555-1234", "16505551234"),
        ("+44 20 7946 0958", "442079460958"),
    ],
)
def test_parse_user_phone(text, digits):
    assert parse_user_phone(text) == digits


def test_parse_user_phone_uses_the_default_region():
    assert parse_user_phone("(650) 555-1234", default_region="US") == "16505551234"


@pytest.mark.parametrize("text", ["abc", "123", "+55 11 1234", ""])
def test_parse_user_phone_rejects_invalid_numbers(text):
    with pytest.raises(ValueError, match="phone number"):
        parse_user_phone(text)
