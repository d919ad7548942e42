"""Pix BR Code ("copia e cola", EMV QRCPS-MPM): TLV parsing with CRC checks, and building static and dynamic codes.

Contract: ``shared/whatsapp/CONTRACT.md`` §8 and ``shared/payments/CONTRACT.md`` §2.9. Positions in error
messages are 0-based character offsets into the whole code.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TypeAlias

PIX_GUI = "br.gov.bcb.pix"
NO_TXID = "***"
NAME_LIMIT = 25
CITY_LIMIT = 15
KEY_LIMIT = 77
TXID_LIMIT = 25
# Field 54 holds at most 13 characters: "9999999999.99".
MAX_AMOUNT_CENTS = 999_999_999_999

Fields: TypeAlias = dict[str, str | dict[str, str]]

_TWO_DIGITS = re.compile(r"[0-9]{2}")
_HEX4 = re.compile(r"[0-9A-Fa-f]{4}")
_AMOUNT = re.compile(r"([0-9]+)(?:\.([0-9]{1,2}))?")
_STATIC_TXID = re.compile(r"[A-Za-z0-9]{1,25}")
_KEY_FORMATS = (
    re.compile(r"[0-9]{11}"),  # CPF
    re.compile(r"[0-9A-Z]{14}"),  # CNPJ (alphanumeric since BCB API 2.9.0)
    re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+"),  # e-mail
    re.compile(r"\+55[0-9]{10,11}"),  # phone
    re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"),  # EVP
)


class BrCodeError(ValueError):
    """A BR Code (or the data for one) breaks the format; the message names the field or position."""


@dataclass(frozen=True)
class BrCode:
    """What a payment feature reads from a BR Code; ``fields`` keeps the raw parsed mapping."""

    payload_format: str
    point_of_initiation: str | None  # "11" static, "12" dynamic, None when absent
    gui: str
    key: str | None  # 26-01, static codes
    location: str | None  # 26-25, dynamic codes (a URL without its scheme)
    description: str | None  # 26-02
    mcc: str
    currency: str
    amount_cents: int | None
    country: str
    merchant_name: str
    merchant_city: str
    txid: str  # 62-05, "***" when none
    crc: str
    fields: Fields = field(hash=False, repr=False)


def crc16(payload: str) -> str:
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, xorout 0) as 4 upper-case hex digits."""
    crc = 0xFFFF
    for byte in payload.encode():
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021 if crc & 0x8000 else crc << 1) & 0xFFFF
    return f"{crc:04X}"


def _is_template(tag: str) -> bool:
    number = int(tag)
    return 26 <= number <= 51 or number == 62 or 80 <= number <= 99


def _split(text: str, *, offset: int, prefix: str) -> list[tuple[str, int, str]]:
    """(ID, absolute position of the value, value) for each TLV field of ``text``, in order."""
    found: list[tuple[str, int, str]] = []
    pos = 0
    while pos < len(text):
        where = offset + pos
        if pos + 4 > len(text):
            raise BrCodeError(f"Truncated field at position {where}.")
        tag, size = text[pos : pos + 2], text[pos + 2 : pos + 4]
        name = prefix + tag
        if not _TWO_DIGITS.fullmatch(tag):
            raise BrCodeError(f"The field ID at position {where} is {tag!r}; two digits are required.")
        if not _TWO_DIGITS.fullmatch(size) or size == "00":
            raise BrCodeError(
                f"Field {name} at position {where} has length {size!r}; two digits from 01 to 99 are required."
            )
        end = pos + 4 + int(size)
        if end > len(text):
            raise BrCodeError(f"Truncated field at position {where}.")
        if any(tag == seen for seen, _, _ in found):
            raise BrCodeError(f"Field {name} appears twice (again at position {where}).")
        found.append((tag, offset + pos + 4, text[pos + 4 : end]))
        pos = end
    return found


def parse_tlv(text: str) -> Fields:
    """ID -> value in order; templates (26-51, 62, 80-99) become nested ID -> value mappings."""
    fields: Fields = {}
    for tag, start, value in _split(text, offset=0, prefix=""):
        nested = _is_template(tag)
        fields[tag] = {sub: v for sub, _, v in _split(value, offset=start, prefix=f"{tag}-")} if nested else value
    return fields


def _check_length(name: str, value: str, limit: int) -> None:
    if len(value) > limit:
        raise BrCodeError(f"Field {name} is {len(value)} characters; at most {limit} are allowed.")


def _encode(fields: Mapping[str, str | Mapping[str, str]], prefix: str) -> str:
    parts = []
    for tag, value in fields.items():
        name = prefix + tag
        if not _TWO_DIGITS.fullmatch(tag):
            raise BrCodeError(f"The field ID {name!r} is not two digits.")
        text = value if isinstance(value, str) else _encode(value, f"{name}-")
        if not text:
            raise BrCodeError(f"Field {name} is empty; at least 1 character is required.")
        _check_length(name, text, 99)
        parts.append(f"{tag}{len(text):02d}{text}")
    return "".join(parts)


def encode_tlv(fields: Mapping[str, str | Mapping[str, str]]) -> str:
    """The TLV text of ``fields`` (nested mappings become templates); the inverse of :func:`parse_tlv`."""
    return _encode(fields, "")


def _value(fields: Mapping[str, str | dict[str, str]], tag: str, name: str | None = None) -> str:
    value = fields.get(tag)
    if not isinstance(value, str):
        raise BrCodeError(f"Field {name or tag} is missing.")
    return value


def parse(code: str) -> BrCode:
    """Parse and check a BR Code: ASCII, 00 first, 63 last with a matching CRC, a Pix account, currency 986."""
    for index, char in enumerate(code):
        if not char.isascii():
            raise BrCodeError(f"The code has a non-ASCII character at position {index}.")
    tags = list(fields := parse_tlv(code))
    if not tags:
        raise BrCodeError("The code is empty.")
    if tags[0] != "00":
        raise BrCodeError(f"Field 00 must come first; the code starts with field {tags[0]}.")
    if "63" not in fields:
        raise BrCodeError("The code has no field 63 (CRC); it must end with 6304 and four hex digits.")
    if tags[-1] != "63":
        raise BrCodeError(f"Field 63 (CRC) must be the last field; field {tags[tags.index('63') + 1]} follows it.")
    crc = _value(fields, "63")
    if not _HEX4.fullmatch(crc):
        raise BrCodeError(f"Field 63 is {crc!r}; four hex digits are required.")
    if crc.upper() != crc16(code[:-4]):
        raise BrCodeError(f"The CRC is {crc}; the payload's is {crc16(code[:-4])}.")
    if fields["00"] != "01":
        raise BrCodeError(f"Field 00 is {fields['00']!r}; 01 is required.")
    initiation = fields.get("01")
    if initiation not in (None, "11", "12"):
        raise BrCodeError(f"Field 01 is {initiation!r}; 11 (static) or 12 (dynamic) is required.")
    accounts = ((tag, v) for tag, v in fields.items() if 26 <= int(tag) <= 51 and isinstance(v, dict))
    pix = next(((tag, v) for tag, v in accounts if v.get("00", "").lower() == PIX_GUI), None)
    if pix is None:
        raise BrCodeError(f"No merchant account field (26-51) has the GUI {PIX_GUI}.")
    tag, account = pix
    if "01" in account and "25" in account:
        raise BrCodeError(f"Field {tag} has both a key (01) and a location (25); only one is allowed.")
    currency = _value(fields, "53")
    if currency != "986":
        raise BrCodeError(f"Field 53 is {currency!r}; 986 (BRL) is required.")
    amount, name, city = fields.get("54"), _value(fields, "59"), _value(fields, "60")
    _check_length("59", name, NAME_LIMIT)
    _check_length("60", city, CITY_LIMIT)
    additional = fields.get("62")
    txid = _value(additional if isinstance(additional, dict) else {}, "05", "62-05")
    _check_length("62-05", txid, TXID_LIMIT)
    return BrCode(
        payload_format=fields["00"],
        point_of_initiation=initiation if isinstance(initiation, str) else None,
        gui=account["00"],
        key=account.get("01"),
        location=account.get("25"),
        description=account.get("02"),
        mcc=_value(fields, "52"),
        currency=currency,
        amount_cents=_cents(amount) if isinstance(amount, str) else None,
        country=_value(fields, "58"),
        merchant_name=name,
        merchant_city=city,
        txid=txid,
        crc=crc,
        fields=fields,
    )


def _cents(amount: str) -> int:
    _check_length("54", amount, 13)
    match = _AMOUNT.fullmatch(amount)
    if match is None:
        raise BrCodeError(f"Field 54 is {amount!r}; an amount such as 100.50 is required.")
    return int(match[1]) * 100 + int((match[2] or "").ljust(2, "0"))


def format_amount(amount_cents: int) -> str:
    """Minor units as field 54 writes them: 2500 -> "25.00" (integer arithmetic only)."""
    if amount_cents <= 0:
        raise BrCodeError(f"The amount must be positive; it is {amount_cents} cents.")
    if amount_cents > MAX_AMOUNT_CENTS:
        raise BrCodeError(f"The amount is {amount_cents} cents; at most {MAX_AMOUNT_CENTS} fit field 54.")
    return f"{amount_cents // 100}.{amount_cents % 100:02d}"


def ascii_text(text: str, limit: int | None = None) -> str:
    """Accents stripped, characters without an ASCII form dropped, spaces collapsed, cut to ``limit``."""
    decomposed = unicodedata.normalize("NFKD", text)
    kept = "".join(" " if char.isspace() else char for char in decomposed if char.isspace() or " " <= char <= "~")
    collapsed = " ".join(kept.split())
    return collapsed if limit is None else collapsed[:limit].rstrip()


def _merchant(merchant_name: str, merchant_city: str) -> dict[str, str | dict[str, str]]:
    name, city = ascii_text(merchant_name, NAME_LIMIT), ascii_text(merchant_city, CITY_LIMIT)
    if not name or not city:
        raise BrCodeError(f"The merchant {'name' if not name else 'city'} has no ASCII characters to keep.")
    return {"58": "BR", "59": name, "60": city}


def _seal(payload: str) -> str:
    return f"{payload}6304{crc16(payload + '6304')}"


def static_code(
    *,
    key: str,
    merchant_name: str,
    merchant_city: str,
    amount_cents: int | None,
    txid: str = NO_TXID,
    description: str = "",
) -> str:
    """A static (reusable) BR Code for a business without a PSP API; name and city are made ASCII and cut."""
    if len(key) > KEY_LIMIT:
        raise BrCodeError(f"The key is {len(key)} characters; at most {KEY_LIMIT} are allowed.")
    if not key.isascii() or not any(pattern.fullmatch(key) for pattern in _KEY_FORMATS):
        raise BrCodeError(f"The key {key!r} is not a CPF, CNPJ, e-mail, +55 phone or EVP key.")
    if txid != NO_TXID and not _STATIC_TXID.fullmatch(txid):
        raise BrCodeError(f"The txid {txid!r} must be *** or 1 to 25 letters and digits.")
    account = {"00": PIX_GUI, "01": key}
    if info := ascii_text(description):
        account["02"] = info
    # No field 01: the contract makes it optional for static codes and BCB's static example (§2.6.3) omits it.
    fields: dict[str, str | dict[str, str]] = {"00": "01", "26": account, "52": "0000", "53": "986"}
    if amount_cents is not None:
        fields["54"] = format_amount(amount_cents)
    fields |= _merchant(merchant_name, merchant_city) | {"62": {"05": txid}}
    return _seal(encode_tlv(fields))


def dynamic_code(*, location: str, merchant_name: str, merchant_city: str) -> str:
    """A dynamic BR Code pointing at a PSP's ``location`` (the scheme "https://" is dropped if given)."""
    if location.lower().startswith("https://"):
        location = location[len("https://") :]
    if not location or not location.isascii() or "://" in location or " " in location:
        raise BrCodeError(f"The location {location!r} must be an ASCII URL without its scheme.")
    account = {"00": PIX_GUI, "25": location}
    fields: dict[str, str | dict[str, str]] = {"00": "01", "01": "12", "26": account, "52": "0000", "53": "986"}
    fields |= _merchant(merchant_name, merchant_city) | {"62": {"05": NO_TXID}}
    return _seal(encode_tlv(fields))
