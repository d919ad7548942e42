"""Identifiers shaped like Meta's: digit-string object ids, ``wamid.<base64>`` message ids, fbtrace ids."""

from __future__ import annotations

import base64
import secrets
import string

_TRACE_ALPHABET = string.ascii_letters + string.digits + "-_"


def object_id() -> str:
    # Graph object ids are 15-17 digit strings; the first digit is never 0.
    return str(secrets.randbelow(9 * 10**15) + 10**15)


def wamid(wa_id: str, *, inbound: bool) -> str:
    # Real wamids are base64 of a small protobuf-like record: the customer's number, a direction marker
    # and a random hex id (20 hex digits for messages from the customer, 18 for messages to them).
    digits = wa_id.encode("ascii")
    rand = secrets.token_hex(10 if inbound else 9).upper().encode("ascii")
    marker = b"\x12" if inbound else b"\x11"
    raw = b"\x1c\x18" + bytes([len(digits)]) + digits + b"\x15\x02\x00" + marker + b"\x18" + bytes([len(rand)])
    return "wamid." + base64.b64encode(raw + rand + b"\x00").decode("ascii")


def fbtrace_id() -> str:
    return "A" + "".join(secrets.choice(_TRACE_ALPHABET) for _ in range(22))


def url_token() -> str:
    return secrets.token_urlsafe(24)


def conversation_id() -> str:
    return secrets.token_hex(16)


def upload_session() -> str:
    # Meta's session part is base64 of "1:attachment:<uuid>", ids like "upload:MTphdHRhY2htZW50Ojlk...".
    raw = f"1:attachment:{secrets.token_hex(16)}".encode("ascii")
    return base64.b64encode(raw).decode("ascii").rstrip("=")


def upload_handle(file_type: str, app_id: str, now: int) -> str:
    # Handles look like "4::<base64 of the MIME type>:<opaque>:e:<expiry>:<app id>:<user id>:<signature>".
    mime = base64.b64encode(file_type.encode("ascii")).decode("ascii")
    return f"4::{mime}:{secrets.token_urlsafe(60)}:e:{now + 30 * 24 * 3600}:{app_id}:{object_id()}:{url_token()[:19]}"
