"""A bot flow's integration step: a signed POST of what the bot collected to the workspace's own endpoint,
whose JSON answer later steps use (docs/flows-integrations.md says what the business receives).

The call goes only through the guarded client (helpdesk/outbound_http.py): https to a public address,
checked on the address actually connected; a redirect is refused, never followed. Loopback addresses
and plain http are open only when the deployment says so (a fake endpoint in development and tests).

Signing, Stripe-like: ``X-Helpdesk-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>``, the HMAC keyed
with the workspace's secret over ``f"{t}.".encode() + body`` (the exact bytes sent). Each attempt is
signed afresh; ``X-Helpdesk-Delivery`` stays the same across the retries of one call, so that the
receiver can recognise a repeat.

The call never raises for a failure of the endpoint: it answers an ``IntegrationResult`` whose
``error`` (a stable code) sends the flow down its error branch. Neither the secret nor a body is logged.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import re
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import httpx
from django.conf import settings
from django.utils.translation import gettext as _

from helpdesk.exceptions import ValidationFailed
from helpdesk.outbound_http import BodyTooLarge, GuardedClient, OutboundPolicy, OutboundRefused, address_refusal

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Helpdesk-Signature"
TIMESTAMP_HEADER = "X-Helpdesk-Timestamp"
DELIVERY_HEADER = "X-Helpdesk-Delivery"
USER_AGENT = "Helpdesk-Flows/1"
URL_MAX_LENGTH = 500
# The endpoint's answer (a JSON object) is read up to this size; a larger one fails the call.
ANSWER_MAX_BYTES = 64 * 1024
# A receiver refuses a signature whose timestamp is further than this from its clock (replays).
SIGNATURE_TOLERANCE_SECONDS = 300
# Waits before the second, third... attempt: 0.5 s, 1 s, 2 s, at most 4 s.
BACKOFF_SECONDS = 0.5
BACKOFF_MAX_SECONDS = 4.0

_DELIVERY_ID = re.compile(r"[A-Za-z0-9._:-]{1,200}")
_HOST_LABEL = re.compile(r"(?!-)[a-z0-9_-]{1,63}(?<!-)")


@dataclass(frozen=True)
class IntegrationResult:
    """``ok``: a 2xx answer whose body is a JSON object (``data``). ``status``: the HTTP status of the last
    answer (0 when none came). ``error``: "" or one of ``refused``, ``timeout``, ``network``, ``http_4xx``,
    ``http_5xx``, ``unexpected_status``, ``invalid_json``, ``too_large``."""

    ok: bool
    status: int = 0
    data: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    attempts: int = 0


def integration_url_check(url: str) -> str:
    """The endpoint address ``url`` (trimmed) if an integration step may call it; ``ValidationFailed`` otherwise.

    It must be https (http when ``FLOWS_INTEGRATION_ALLOW_PLAIN_HTTP``), carry no credentials, and not
    name a non-public address. A host name is checked where it matters, on every address it resolves to
    when the call connects.
    """
    url = url.strip()
    if not url:
        raise _invalid_url(_("Enter the address of the endpoint."))
    if len(url) > URL_MAX_LENGTH:
        raise _invalid_url(
            _("The address of the endpoint is longer than %(limit)d characters.") % {"limit": URL_MAX_LENGTH}
        )
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        raise _invalid_url(_("The address of the endpoint is not a valid URL.")) from None
    if settings.FLOWS_INTEGRATION_ALLOW_PLAIN_HTTP:
        if parsed.scheme not in ("https", "http"):
            raise _invalid_url(_("The address of the endpoint must start with https:// or http://."))
    elif parsed.scheme != "https":
        raise _invalid_url(_("The address of the endpoint must start with https://."))
    if parsed.userinfo:
        raise _invalid_url(_("The address of the endpoint must not contain a user name or password."))
    host = parsed.raw_host.decode("ascii").lower()
    if not host:
        raise _invalid_url(_("The address of the endpoint is not a valid URL."))
    address = _address_literal(host)
    if address is None and not _host_name_valid(host):
        raise _invalid_url(_("The address of the endpoint is not a valid URL."))
    allow_loopback = settings.FLOWS_INTEGRATION_ALLOW_LOOPBACK
    if address is not None:
        refused = address_refusal(address, allow_loopback=allow_loopback) is not None
    else:
        refused = not allow_loopback and (host.rstrip(".") == "localhost" or host.rstrip(".").endswith(".localhost"))
    if refused:
        raise _invalid_url(
            _("The address of the endpoint must be public: not a loopback, private or link-local network address.")
        )
    return url


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-Helpdesk-Signature`` value: ``t=<timestamp>,v1=<hex HMAC-SHA256(secret, f"{t}." + body)>``."""
    return f"t={timestamp},v1={_digest(secret, timestamp, body)}"


def verify(
    secret: str, header: str, body: bytes, *, tolerance: int = SIGNATURE_TOLERANCE_SECONDS, now: float | None = None
) -> bool:
    """What a receiver does: True if ``header`` signs ``body`` with ``secret`` at a time within ``tolerance``
    seconds of ``now`` (the current time by default). Several ``v1`` values may be given (a secret being
    rotated); unknown keys are ignored. The comparison is constant-time."""
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        key, _sep, value = part.strip().partition("=")
        if key == "t" and value.isascii() and value.isdigit() and len(value) <= 12:
            timestamp = int(value)
        elif key == "v1" and value:
            signatures.append(value)
    if timestamp is None or not signatures:
        return False
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        return False
    expected = _digest(secret, timestamp, body).encode()
    return any(hmac.compare_digest(expected, candidate.encode()) for candidate in signatures)


def integration_policy(timeout: float) -> OutboundPolicy:
    """Where an integration call may go: any public host (deployment settings open loopback and plain http)."""
    return OutboundPolicy.of(
        ["*"],
        allow_loopback=settings.FLOWS_INTEGRATION_ALLOW_LOOPBACK,
        allow_plain_http=settings.FLOWS_INTEGRATION_ALLOW_PLAIN_HTTP,
        max_redirects=0,
        timeout=httpx.Timeout(timeout),
        deadline_seconds=timeout,
    )


def integration_call(
    *,
    url: str,
    secret: str,
    payload: dict[str, Any],
    delivery_id: str,
    timeout: float = 5.0,
    retries: int = 2,
    transport: httpx.BaseTransport | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.time,
) -> IntegrationResult:
    """POST ``payload`` (compact JSON) to ``url``, signed with ``secret``, and return the endpoint's answer.

    A network error, a timeout, a 5xx or a 429 is tried again ``retries`` times, waiting 0.5 s, 1 s, ...
    (``sleep``); any other outcome is final. Each phase of an attempt (connect, send, each read) has
    ``timeout`` seconds, and the answer must be complete ``timeout`` seconds after it was sent.
    ``delivery_id`` names the logical call (letters, digits, ``._:-``): the same on every attempt.
    ``transport`` replaces the network in tests only (it bypasses the address checks).
    """
    if not secret:
        raise ValueError("An integration call needs the workspace's signing secret.")
    if not _DELIVERY_ID.fullmatch(delivery_id):
        raise ValueError("A delivery id is 1 to 200 letters, digits or ._:- characters.")
    host = _host_for_logs(url)
    try:
        integration_url_check(url)
    except ValidationFailed:
        return _finished(host, IntegrationResult(ok=False, error="refused"), reason="url_not_allowed")
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    attempts = 0
    with GuardedClient(integration_policy(timeout), transport=transport) as client:
        while True:
            attempts += 1
            headers = _headers(secret, int(clock()), body, delivery_id)
            result, reason, retryable = _attempt(client, url, body, headers)
            result = replace(result, attempts=attempts)
            if not retryable or attempts > retries:
                return _finished(host, result, reason=reason)
            logger.info(
                "Flow integration call to %s: attempt %d failed (%s, HTTP %s); trying again.",
                host,
                attempts,
                result.error,
                result.status or "-",
            )
            sleep(min(BACKOFF_SECONDS * 2 ** (attempts - 1), BACKOFF_MAX_SECONDS))


def _attempt(
    client: GuardedClient, url: str, body: bytes, headers: dict[str, str]
) -> tuple[IntegrationResult, str, bool]:
    """One POST: its result, a reason for the logs, and whether another attempt may do better."""
    try:
        fetched = client.post(url, content=body, max_bytes=ANSWER_MAX_BYTES, headers=headers)
    except BodyTooLarge:
        return IntegrationResult(ok=False, error="too_large"), "too_large", False
    except OutboundRefused as exc:
        return IntegrationResult(ok=False, error="refused"), exc.reason, False
    except httpx.TimeoutException as exc:
        return IntegrationResult(ok=False, error="timeout"), type(exc).__name__, True
    except httpx.HTTPError as exc:
        return IntegrationResult(ok=False, error="network"), type(exc).__name__, True
    status = fetched.status_code
    if fetched.is_success:
        data = _json_object(fetched.content)
        if data is None:
            return IntegrationResult(ok=False, status=status, error="invalid_json"), "invalid_json", False
        return IntegrationResult(ok=True, status=status, data=data), "", False
    if status == 429:
        return IntegrationResult(ok=False, status=status, error="http_4xx"), "rate_limited", True
    if status >= 500:
        return IntegrationResult(ok=False, status=status, error="http_5xx"), "server_error", True
    if 400 <= status < 500:
        return IntegrationResult(ok=False, status=status, error="http_4xx"), "client_error", False
    return IntegrationResult(ok=False, status=status, error="unexpected_status"), "unexpected_status", False


def _json_object(content: bytes) -> dict[str, Any] | None:
    """The answer as a JSON object; an empty answer is an empty object; anything else is None."""
    if not content.strip():
        return {}
    try:
        data = json.loads(content, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON.")


def _finished(host: str, result: IntegrationResult, *, reason: str) -> IntegrationResult:
    if result.ok:
        logger.info(
            "Flow integration call to %s answered HTTP %s (%d attempt(s)).", host, result.status, result.attempts
        )
    else:
        logger.warning(
            "Flow integration call to %s failed: %s (%s, HTTP %s, %d attempt(s)).",
            host,
            result.error,
            reason,
            result.status or "-",
            result.attempts,
        )
    return result


def _headers(secret: str, timestamp: int, body: bytes, delivery_id: str) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "Accept": "application/json",
        "User-Agent": USER_AGENT,
        SIGNATURE_HEADER: sign(secret, timestamp, body),
        TIMESTAMP_HEADER: str(timestamp),
        DELIVERY_HEADER: delivery_id,
    }


def _digest(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def _address_literal(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address ``host`` spells, in any form a resolver takes (``127.1``, ``0x7f.1``, ``2130706433``)."""
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def _host_name_valid(host: str) -> bool:
    labels = host[:-1].split(".") if host.endswith(".") else host.split(".")
    return len(host) <= 253 and all(_HOST_LABEL.fullmatch(label) for label in labels)


def _host_for_logs(url: str) -> str:
    try:
        return httpx.URL(url).host or "(no host)"
    except httpx.InvalidURL:
        return "(invalid URL)"


def _invalid_url(message: str) -> ValidationFailed:
    return ValidationFailed(message, details={"field": "url"})
