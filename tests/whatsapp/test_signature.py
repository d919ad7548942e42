"""X-Hub-Signature-256 over the raw body, checked against the captured escaped webhook and its vectors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from whatsapp.signature import encode_like_meta, sign, verify

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "whatsapp"
SECRET = "test_app_secret"
RAW = (FIXTURES / "raw_webhook_inbound_image_escaped.json").read_bytes()
VECTORS = json.loads((FIXTURES / "webhook_signature_test_vectors.json").read_text())["vectors"]
CAPTURE_HEADER = VECTORS[0]["x_hub_signature_256"]


def test_sign_returns_sha256_prefix_and_lowercase_hex():
    header = sign(b'{"object":"whatsapp_business_account","entry":[]}', SECRET)
    assert header == VECTORS[1]["x_hub_signature_256"]
    assert header.startswith("sha256=") and header[7:] == header[7:].lower() and len(header) == 7 + 64


def test_valid_signature_verifies():
    body = b'{"object":"whatsapp_business_account","entry":[]}'
    assert verify(body, sign(body, SECRET), SECRET) is True


def test_signature_with_uppercase_hex_still_verifies():
    body = b'{"object":"whatsapp_business_account","entry":[]}'
    assert verify(body, "sha256=" + sign(body, SECRET)[7:].upper(), SECRET) is True


def test_one_tampered_byte_fails():
    tampered = bytearray(RAW)
    tampered[100] ^= 0x01
    assert verify(bytes(tampered), CAPTURE_HEADER, SECRET) is False


def test_wrong_secret_fails():
    assert verify(RAW, CAPTURE_HEADER, "another_app_secret") is False


def test_missing_header_fails():
    assert verify(RAW, None, SECRET) is False
    assert verify(RAW, "", SECRET) is False


@pytest.mark.parametrize(
    "header",
    [
        CAPTURE_HEADER[7:],  # no "sha256=" prefix
        "sha1=98b83078ea0a4ebc8ac6a49fdac53f91e4a8156b",  # legacy header algorithm
        "sha256=",  # empty digest
        "sha256=" + "z" * 64,  # not hex
        CAPTURE_HEADER[:-2],  # truncated digest
        CAPTURE_HEADER + "00",  # digest too long
        "sha256 =" + CAPTURE_HEADER[7:],
    ],
)
def test_malformed_header_fails(header):
    assert verify(RAW, header, SECRET) is False


def test_empty_app_secret_never_verifies():
    assert verify(RAW, CAPTURE_HEADER, "") is False
    with pytest.raises(ValueError, match="app secret"):
        sign(RAW, "")


def test_captured_escaped_body_matches_its_test_vector():
    vector = VECTORS[0]
    assert vector["body_file"] == "raw_webhook_inbound_image_escaped.json"
    assert len(RAW) == vector["body_length"] == 885
    assert sign(RAW, vector["app_secret"]) == vector["x_hub_signature_256"]
    assert verify(RAW, vector["x_hub_signature_256"], vector["app_secret"]) is True


def test_reserialised_unescaped_body_gives_the_negative_vector_and_does_not_verify():
    negative = VECTORS[2]
    unescaped = json.dumps(json.loads(RAW), separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    assert sign(unescaped, negative["app_secret"]) == negative["body_utf8_unescaped_sha256_hmac"]
    assert verify(unescaped, CAPTURE_HEADER, SECRET) is False


def test_encode_like_meta_reproduces_the_captured_bytes_exactly():
    assert encode_like_meta(json.loads(RAW)) == RAW
    assert sign(encode_like_meta(json.loads(RAW)), SECRET) == CAPTURE_HEADER


def test_encode_like_meta_escapes_slashes_and_non_ascii_with_lowercase_hex():
    encoded = encode_like_meta({"caption": "café 👍", "mime_type": "image/jpeg"})
    assert encoded == b'{"caption":"caf\\u00e9 \\ud83d\\udc4d","mime_type":"image\\/jpeg"}'
    assert json.loads(encoded) == {"caption": "café 👍", "mime_type": "image/jpeg"}
