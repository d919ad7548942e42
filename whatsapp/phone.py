"""Phone numbers as WhatsApp ids: digits only, country code first, one canonical form per person.

Brazil added a ninth digit to every mobile number (2012-2016), yet Meta's ``wa_id`` for a Brazilian
mobile can still come without it (``55`` + DDD + 8 digits). The same customer then shows up under two
ids. ``normalize_wa_id`` gives the one form we store: the 9 inserted for mobiles, landlines untouched.
"""

from __future__ import annotations

import re

import phonenumbers

_NON_DIGITS = re.compile(r"\D")
_BR_COUNTRY_CODE = "55"


def normalize_wa_id(digits: str) -> str:
    """Canonical WhatsApp id: digits only; Brazilian 8-digit mobiles get their ninth digit.

    ``551191234567`` -> ``5511991234567``; ``551133334444`` (a landline, local number starting 2-5)
    and every non-Brazilian number are returned as digits, unchanged.
    """
    digits = _NON_DIGITS.sub("", digits or "")
    if len(digits) == 12 and digits.startswith(_BR_COUNTRY_CODE):
        area_code, local = digits[2:4], digits[4:]
        # Valid DDDs are 11-99 without zeros; mobiles are the 8-digit local numbers starting with 6-9.
        if "0" not in area_code and local[0] in "6789":
            return f"{_BR_COUNTRY_CODE}{area_code}9{local}"
    return digits


def to_e164(digits: str) -> str:
    """``+`` followed by the canonical digits, e.g. ``+5511991234567``."""
    canonical = normalize_wa_id(digits)
    if not canonical:
        raise ValueError(f"{digits!r} contains no digits, so it is not a phone number.")
    return f"+{canonical}"


def parse_user_phone(text: str, default_region: str = "BR") -> str:
    """Parse a number typed by a person (``(11) 99123-4567``, ``+1 650-555-1234``) into canonical digits.

    Numbers without a ``+`` are read as numbers of ``default_region``. Raises ``ValueError`` with a
    readable message when the text is not a valid phone number.
    """
    try:
        parsed = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(f"{text!r} is not a phone number ({exc}).") from exc
    e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    canonical = normalize_wa_id(e164)
    # Validate the canonical form, so an old 8-digit Brazilian mobile is accepted once the 9 is added.
    if not phonenumbers.is_valid_number(phonenumbers.parse(f"+{canonical}")):
        raise ValueError(f"{text!r} is not a valid phone number.")
    return canonical
