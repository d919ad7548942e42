"""The fake's own webhook encoding and signing, checked byte for byte against a real Meta capture."""

from __future__ import annotations

import hashlib
import hmac
import json

from tests.whatsapp.fake_fixtures import fixture_bytes, load_fixture
from whatsapp.fake.encoding import encode_like_meta, signature_sha1, signature_sha256, webhook_headers


def test_encoding_reproduces_the_captured_meta_body_byte_for_byte():
    raw = fixture_bytes("raw_webhook_inbound_image_escaped.json")

    assert encode_like_meta(json.loads(raw)) == raw


def test_encoding_escapes_non_ascii_as_lowercase_u_escapes_and_slashes():
    body = encode_like_meta({"caption": "Café w/ açúcar 👍", "mime_type": "image/jpeg"})

    assert body == b'{"caption":"Caf\\u00e9 w\\/ a\\u00e7\\u00facar \\ud83d\\udc4d","mime_type":"image\\/jpeg"}'
    assert json.loads(body) == {"caption": "Café w/ açúcar 👍", "mime_type": "image/jpeg"}


def test_signatures_match_the_published_test_vectors():
    vectors = load_fixture("webhook_signature_test_vectors.json")["vectors"]
    raw = fixture_bytes(vectors[0]["body_file"])

    assert len(raw) == vectors[0]["body_length"]
    assert signature_sha256(vectors[0]["app_secret"], raw) == vectors[0]["x_hub_signature_256"]
    assert signature_sha1(vectors[0]["app_secret"], raw) == vectors[0]["x_hub_signature_sha1_legacy"]
    small = vectors[1]["body_utf8"].encode("utf-8")
    assert signature_sha256(vectors[1]["app_secret"], small) == vectors[1]["x_hub_signature_256"]


def test_reserialising_without_meta_escaping_gives_the_negative_vector_not_the_real_one():
    vectors = load_fixture("webhook_signature_test_vectors.json")["vectors"]
    parsed = json.loads(fixture_bytes("raw_webhook_inbound_image_escaped.json"))
    unescaped = json.dumps(parsed, separators=(",", ":"), ensure_ascii=False).encode("utf-8")

    assert signature_sha256("test_app_secret", unescaped) == vectors[2]["body_utf8_unescaped_sha256_hmac"]
    assert signature_sha256("test_app_secret", unescaped) != vectors[0]["x_hub_signature_256"]


def test_webhook_headers_carry_both_signatures_and_meta_user_agent():
    body = b'{"object":"whatsapp_business_account","entry":[]}'

    headers = webhook_headers("s3cret", body)

    assert headers["Content-Type"] == "application/json"
    assert headers["User-Agent"] == "facebookexternalua"
    expected = hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert headers["X-Hub-Signature-256"] == f"sha256={expected}"
    assert headers["X-Hub-Signature"].startswith("sha1=")
