"""X-Hub-Signature-256 for Meta webhooks: HMAC-SHA256 of the raw request body, keyed by the App Secret.

Always verify over the bytes exactly as received. Meta signs a compact, ASCII-escaped serialisation
(``encode_like_meta``); parsing and re-serialising a body changes its bytes and its signature.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from typing import Any

HEADER_NAME = "X-Hub-Signature-256"
_PREFIX = "sha256="
_HEX_DIGEST = re.compile(r"[0-9a-fA-F]{64}")


def sign(body: bytes, app_secret: str) -> str:
    """Return the header value Meta would send for ``body``: ``sha256=<lowercase hex>``."""
    if not app_secret:
        raise ValueError("An app secret is required to sign a webhook body.")
    digest = hmac.new(app_secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return _PREFIX + digest


def verify(body: bytes, header: str | None, app_secret: str) -> bool:
    """True only when ``header`` is a well-formed ``sha256=<hex>`` matching ``body`` under ``app_secret``.

    A missing or malformed header, or an empty secret (a misconfigured channel), never verifies.
    """
    if not app_secret or not isinstance(header, str):
        return False
    header = header.strip()
    if header[: len(_PREFIX)].lower() != _PREFIX:
        return False
    provided = header[len(_PREFIX) :]
    if not _HEX_DIGEST.fullmatch(provided):
        return False
    expected = sign(body, app_secret)[len(_PREFIX) :]
    return hmac.compare_digest(expected, provided.lower())


def encode_like_meta(obj: Any) -> bytes:
    """Serialise ``obj`` byte-for-byte the way Meta POSTs webhooks.

    Compact separators, every non-ASCII code point as lowercase ``\\uXXXX`` (astral characters as
    surrogate pairs) and ``/`` escaped as ``\\/``. Used by the fake Cloud API and by tests.
    """
    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=True)
    # "/" only ever occurs inside JSON strings, so escaping it everywhere is safe.
    return text.replace("/", "\\/").encode("ascii")
