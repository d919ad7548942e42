"""Typed Cloud API failures: what a caller should do next is decided by the class, not by string matching.

* ``TransientError``: retry later with backoff (network trouble before the request left, HTTP 5xx/429,
  throughput and pair-rate limits, Meta's temporary codes). ``retry_after`` carries Retry-After when sent.
* ``PermanentError``: record it and stop (bad parameters, 24-hour window, unknown template, bad token...).
* ``AmbiguousSendError``: a send that may have been accepted (the body went out, no answer came back).
  Retrying could message the customer twice; the caller must reconcile instead of retrying blindly.

Error objects look like (CONTRACT §3.3)::

    {"error": {"message": "(#130429) Rate limit hit", "type": "OAuthException", "code": 130429,
               "error_data": {"messaging_product": "whatsapp", "details": "..."},
               "error_subcode": 2494055, "fbtrace_id": "Az8or2yhqkZfEZ-_4Qn_Bam"}}
"""

from __future__ import annotations

import re
from typing import Any

# Codes Meta documents as temporary: throughput (130429), pair rate (131056), "something went wrong"
# (131000), service unavailable (131016), maintenance during a throughput upgrade (131057),
# temporary API service error (2), app and WABA rate limits (4, 80007).
TRANSIENT_CODES = frozenset({130429, 131056, 131000, 131016, 131057, 2, 4, 80007})

_CODE_PREFIX = re.compile(r"^\(#\d+\)\s*")


class CloudApiError(Exception):
    """A failed Cloud API call, with Meta's error fields when the response carried them."""

    def __init__(
        self,
        message: str = "",
        *,
        code: int | None = None,
        title: str = "",
        details: str = "",
        http_status: int | None = None,
        fbtrace_id: str | None = None,
        subcode: int | None = None,
        user_title: str = "",
        user_message: str = "",
    ) -> None:
        message = message or title or (f"Cloud API error {code}" if code is not None else "Cloud API error")
        super().__init__(message)
        self.message = message
        self.code = code
        self.title = title
        self.details = details
        self.http_status = http_status
        self.fbtrace_id = fbtrace_id
        self.subcode = subcode
        # Meta's own wording for people (error_user_title / error_user_msg), sent with template errors.
        self.user_title = user_title
        self.user_message = user_message

    def __str__(self) -> str:
        parts = [self.message]
        if self.details and self.details not in self.message:
            parts.append(f"— {self.details}")
        meta = []
        if self.code is not None:
            meta.append(f"code {self.code}")
        if self.http_status is not None:
            meta.append(f"HTTP {self.http_status}")
        if self.fbtrace_id:
            meta.append(f"fbtrace_id {self.fbtrace_id}")
        if meta:
            parts.append(f"[{', '.join(meta)}]")
        return " ".join(parts)


class TransientError(CloudApiError):
    """Retry with exponential backoff and jitter; honour ``retry_after`` (seconds) when it is set."""

    def __init__(self, message: str = "", *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class PermanentError(CloudApiError):
    """Retrying the same request will fail the same way: record the error and stop."""


class MediaRefused(PermanentError):
    """A media download refused by us, not by Meta: a host or address not allowed, or a file over its limit.

    ``reason`` is the guarded client's code (``too_large``, ``host_not_allowed``, ``address_not_allowed``...).
    """

    def __init__(self, message: str, *, reason: str, limit: int | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.limit = limit


class AmbiguousSendError(CloudApiError):
    """The send may have been accepted by Meta; do not resend without reconciling first."""


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


def is_transient(code: int | None, http_status: int | None = None) -> bool:
    """Whether an error with this Meta ``code`` and HTTP status is worth retrying."""
    if code in TRANSIENT_CODES:
        return True
    return http_status is not None and (http_status >= 500 or http_status == 429)


def classify(http_status: int | None, body_json: Any, *, retry_after: float | None = None) -> CloudApiError:
    """Turn a non-2xx response (status + parsed JSON body, or None) into the matching error instance.

    Uses ``error.code`` first, the HTTP status second, and Meta's own ``is_transient`` hint last.
    """
    error = body_json.get("error") if isinstance(body_json, dict) else None
    if not isinstance(error, dict):
        message = f"Cloud API answered HTTP {http_status} without a Graph API error object"
        if http_status is not None and (http_status >= 500 or http_status == 429):
            return TransientError(message, http_status=http_status, retry_after=retry_after)
        return PermanentError(message, http_status=http_status)

    code = _as_int(error.get("code"))
    raw_message = str(error.get("message") or "").strip()
    title = _CODE_PREFIX.sub("", raw_message) or str(error.get("error_user_title") or "")
    error_data = error.get("error_data")
    details = str(error_data.get("details") or "") if isinstance(error_data, dict) else ""
    fields: dict[str, Any] = {
        "code": code,
        "title": title,
        "details": details,
        "http_status": http_status,
        "fbtrace_id": error.get("fbtrace_id") or None,
        "subcode": _as_int(error.get("error_subcode")),
        "user_title": str(error.get("error_user_title") or ""),
        "user_message": str(error.get("error_user_msg") or ""),
    }
    message = raw_message or (
        f"Cloud API error {code}" if code is not None else f"Cloud API error (HTTP {http_status})"
    )
    if is_transient(code, http_status) or error.get("is_transient") is True:
        return TransientError(message, retry_after=retry_after, **fields)
    return PermanentError(message, **fields)
