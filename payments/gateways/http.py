"""The HTTP plumbing the adapters share: one httpx client per PSP account, TLS set up from files, explicit timeouts,
and every failure mapped onto :class:`TransientGatewayError` or :class:`PermanentGatewayError`.

Credentials live only in headers of the underlying client (or in a token the adapter keeps): never in URLs, error
messages or ``repr``.
"""

from __future__ import annotations

import email.utils
import functools
import json
import ssl
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import UTC
from decimal import Decimal
from types import TracebackType
from typing import Any, Self
from urllib.parse import quote

import httpx

from payments.gateways.base import GatewayError, PermanentGatewayError, TransientGatewayError, Violation

DEFAULT_TIMEOUT = httpx.Timeout(connect=5.0, read=20.0, write=20.0, pool=5.0)
UNEXPECTED_RESPONSE = "unexpected_response"


@dataclass(frozen=True)
class TlsConfig:
    """Files for TLS to a PSP: our client certificate and key (mutual TLS, API Pix) and the CA bundle that signed the
    PSP's server certificate (``None``: the system's CAs)."""

    cert_file: str | None = None
    key_file: str | None = None
    ca_file: str | None = None


@dataclass(frozen=True)
class ErrorDetails:
    """What a provider's error body says, before it becomes an exception of the right class."""

    message: str
    code: str | None = None
    violations: tuple[Violation, ...] = ()


ErrorParser = Callable[[httpx.Response], ErrorDetails]


@functools.cache
def tls_context(tls: TlsConfig | None) -> ssl.SSLContext:
    """A verifying TLS ≥ 1.2 context, with our client certificate loaded when one is configured.

    Loading happens here, when the adapter is built, so a wrong path or a key that does not match the certificate
    fails loudly at once instead of as a handshake error on the first payment. Loading the system's CAs costs about
    20 ms, and every webhook and job builds a gateway: each configuration's context is made once per process (a
    context is safe to share between clients; a certificate's file is named after its content).
    """
    context = ssl.create_default_context(cafile=tls.ca_file if tls else None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if tls is not None and tls.cert_file:
        context.load_cert_chain(tls.cert_file, tls.key_file)
    return context


def segment(value: str, what: str) -> str:
    """One URL path segment from an id: empty ids are refused and everything else is escaped."""
    if not value:
        raise ValueError(f"The {what} is empty.")
    return quote(value, safe="")


def retry_after_seconds(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date); ``None`` when absent or unreadable."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - time.time())


class HttpClient:
    """A synchronous JSON client for one PSP account; ``send`` returns only responses with an expected status."""

    def __init__(
        self,
        *,
        gateway: str,
        base_url: str,
        error_parser: ErrorParser,
        timeout: httpx.Timeout,
        tls: TlsConfig | None = None,
        headers: Mapping[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
        transient_statuses: Collection[int] = (429,),
    ) -> None:
        self.gateway = gateway
        self._parse_error = error_parser
        self._transient_statuses = frozenset(transient_statuses)
        self._client = httpx.Client(
            base_url=base_url.rstrip("/"),
            timeout=timeout,
            verify=tls_context(tls),
            headers=dict(headers or {}),
            transport=transport,
            follow_redirects=False,
        )

    def __repr__(self) -> str:
        return f"<HttpClient {self.gateway} {self._client.base_url}>"

    def close(self) -> None:
        self._client.close()

    def send(self, method: str, url: str, *, expected: Collection[int], **kwargs: Any) -> httpx.Response:
        """Make one request; raise a typed error for a network failure or an unexpected status."""
        try:
            response = self._client.request(method, url, **kwargs)
        except httpx.TimeoutException as exc:
            raise TransientGatewayError(
                f"{method} {url} timed out ({type(exc).__name__})", gateway=self.gateway
            ) from exc
        except (httpx.UnsupportedProtocol, httpx.LocalProtocolError, httpx.InvalidURL) as exc:
            raise PermanentGatewayError(f"{method} {url} cannot be sent: {exc}", gateway=self.gateway) from exc
        except httpx.TransportError as exc:
            raise TransientGatewayError(f"{method} {url} failed: {type(exc).__name__}", gateway=self.gateway) from exc
        if response.status_code in expected:
            return response
        raise self.error_for(response)

    def error_for(self, response: httpx.Response) -> GatewayError:
        """The exception for a refused request: 5xx and the provider's transient statuses are worth a retry."""
        details = self._parse_error(response)
        status = response.status_code
        if status >= 500 or status in self._transient_statuses:
            return TransientGatewayError(
                details.message,
                gateway=self.gateway,
                http_status=status,
                code=details.code,
                retry_after=retry_after_seconds(response.headers.get("retry-after")),
            )
        return PermanentGatewayError(
            details.message, gateway=self.gateway, http_status=status, code=details.code, violations=details.violations
        )

    def json(self, response: httpx.Response) -> Any:
        """The body as JSON with numbers that have a fraction read as ``Decimal`` (never ``float``)."""
        try:
            return json.loads(response.content, parse_float=Decimal)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise self.unexpected(f"{response.request.method} {response.request.url.path} answered non-JSON") from None

    def unexpected(self, message: str) -> PermanentGatewayError:
        """An answer that breaks the provider's contract: retrying would get the same answer."""
        return PermanentGatewayError(message, gateway=self.gateway, code=UNEXPECTED_RESPONSE)


def body_json(response: httpx.Response) -> Any:
    """The body as JSON for error parsing; ``None`` when it is not JSON."""
    try:
        return json.loads(response.content, parse_float=Decimal)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None


def mapping(value: object) -> Mapping[str, Any]:
    """``value`` when it is a JSON object, else an empty mapping: error bodies are read leniently."""
    return value if isinstance(value, Mapping) else {}


class ClosingGateway:
    """What every adapter does with its ``HttpClient``: close it, also as a context manager."""

    _http: HttpClient

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
