"""Meta's webhook body encoding and signatures, implemented here so the fake depends on nothing of the product.

Meta POSTs compact JSON in which every non-ASCII code point is ``\\uXXXX`` (lowercase hex, astral characters as
surrogate pairs) and ``/`` is ``\\/``; ``X-Hub-Signature-256`` is the HMAC-SHA256 of exactly those bytes.
Graph API responses use the same escaping.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any


def encode_like_meta(payload: Any) -> bytes:
    text = json.dumps(payload, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    # "/" never appears inside a JSON escape sequence, so a plain replace is exact.
    return text.replace("/", "\\/").encode("ascii")


def signature_sha256(app_secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(app_secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def signature_sha1(app_secret: str, body: bytes) -> str:
    # Legacy Graph header; only a digest of the body, not used for security.
    return "sha1=" + hmac.new(app_secret.encode("utf-8"), body, hashlib.sha1).hexdigest()


def webhook_headers(app_secret: str, body: bytes) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": "facebookexternalua",
        "X-Hub-Signature-256": signature_sha256(app_secret, body),
        "X-Hub-Signature": signature_sha1(app_secret, body),
    }
