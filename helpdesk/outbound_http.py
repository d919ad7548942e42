"""Guarded outbound HTTP: the one way the product fetches a URL that a user or a vendor's answer supplied.

A fetch goes only to listed hosts, and only to public addresses: the host name is resolved here, every
address it resolves to is checked, and the connection is opened to a checked address (so a DNS answer
that changes between the check and the connection cannot win). Redirects of a GET are followed here,
each hop checked again, up to a bounded count (a POST's are refused); the body is streamed and refused
once it passes a size cap; every phase has a timeout and the whole fetch a deadline. No proxy from the
environment is used, since a proxy would connect on our behalf to addresses we never checked.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import time
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import httpcore
import httpx

logger = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

DEFAULT_TIMEOUT = httpx.Timeout(connect=5.0, read=15.0, write=15.0, pool=5.0)

# Cloud metadata services. Most sit in link-local space (refused anyway); these are named because
# some are not (Azure's wire server is a public address, AWS's IPv6 endpoint a unique-local one).
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean...
        "169.254.170.2",  # AWS ECS task metadata
        "168.63.129.16",  # Azure wire server
        "100.100.100.200",  # Alibaba Cloud
        "fd00:ec2::254",  # AWS over IPv6
    )
)
# IPv6 prefixes that carry an IPv4 address inside; the embedded address is what gets reached.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class OutboundRefused(Exception):
    """A fetch refused by policy (not a network failure). ``reason`` is a stable code; the message is for logs."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class BodyTooLarge(OutboundRefused):
    def __init__(self, limit: int, size: int | None = None) -> None:
        told = f" ({size} bytes announced)" if size is not None else ""
        super().__init__("too_large", f"The response body is larger than the limit of {limit} bytes{told}.")
        self.limit = limit
        self.size = size


@dataclass(frozen=True)
class OutboundPolicy:
    """Where a guarded client may go.

    ``allowed_hosts``: exact host names, ``*.example.com`` for any host under example.com, or ``*`` for
    any host (an integration a tenant configures: public addresses and https are still required).
    ``allow_loopback``: loopback addresses (127.0.0.0/8, ::1) may be reached, and plain http used; only
    for a local fake of a vendor in development and tests. Private, link-local, multicast, reserved and
    metadata addresses are never reached.
    ``allow_plain_http``: plain http may be used (addresses are checked all the same); development only.
    """

    allowed_hosts: frozenset[str]
    allow_loopback: bool = False
    allow_plain_http: bool = False
    max_redirects: int = 3
    timeout: httpx.Timeout = field(default_factory=lambda: DEFAULT_TIMEOUT)
    # The whole fetch (every hop and the body) must end within this many seconds.
    deadline_seconds: float = 120.0

    @classmethod
    def of(cls, hosts: Iterable[str], **kwargs: typing.Any) -> OutboundPolicy:
        return cls(allowed_hosts=frozenset(h.strip().lower().rstrip(".") for h in hosts if h.strip()), **kwargs)

    def host_allowed(self, host: str) -> bool:
        host = host.lower().rstrip(".")
        for entry in self.allowed_hosts:
            if entry == "*":
                return True
            if entry.startswith("*."):
                if host.endswith(entry[1:]) and len(host) > len(entry) - 1:
                    return True
            elif host == entry:
                return True
        return False


def address_refusal(address: IPAddress, *, allow_loopback: bool = False) -> str | None:
    """Why ``address`` may not be connected to, or None when it is a public address (or allowed loopback)."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address.teredo is not None:
            embedded = address.teredo[1]
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            return address_refusal(embedded, allow_loopback=allow_loopback)
    if address in METADATA_ADDRESSES:
        return "metadata"
    if address.is_loopback:
        return None if allow_loopback else "loopback"
    if address.is_link_local:
        return "link_local"
    if address.is_multicast:
        return "multicast"
    if address.is_unspecified or address.is_reserved:
        return "reserved"
    if address.is_private:
        return "private"
    if not address.is_global:
        return "not_global"
    return None


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to (an IP literal resolves to itself)."""
    try:
        return [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise httpcore.ConnectError(f"Could not resolve {host}: {exc}") from exc
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    return addresses


class _CheckedNetworkBackend(httpcore.NetworkBackend):
    """Resolves the host itself, refuses it if any address is not allowed, and connects to a checked address."""

    def __init__(self, *, allow_loopback: bool) -> None:
        self._allow_loopback = allow_loopback
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[typing.Any] | None = None,
    ) -> httpcore.NetworkStream:
        addresses = resolve(host, port)
        if not addresses:
            raise httpcore.ConnectError(f"{host} resolved to no address.")
        for address in addresses:
            reason = address_refusal(address, allow_loopback=self._allow_loopback)
            if reason is not None:
                raise OutboundRefused("address_not_allowed", f"{host} resolves to a {reason} address ({address}).")
        last_error: Exception | None = None
        for address in addresses:
            try:
                return self._inner.connect_tcp(
                    str(address), port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last_error = exc
        assert last_error is not None
        raise last_error

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[typing.Any] | None = None
    ) -> httpcore.NetworkStream:
        raise OutboundRefused("address_not_allowed", "Unix sockets are never reached.")

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class CheckedTransport(httpx.HTTPTransport):
    """An httpx transport whose every connection goes to an address checked by ``address_refusal``."""

    def __init__(self, *, allow_loopback: bool = False) -> None:
        super().__init__(trust_env=False)
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=10,
            max_keepalive_connections=5,
            keepalive_expiry=5.0,
            network_backend=_CheckedNetworkBackend(allow_loopback=allow_loopback),
        )


@dataclass(frozen=True)
class Fetched:
    url: str
    status_code: int
    headers: httpx.Headers
    content: bytes

    @property
    def is_success(self) -> bool:
        return 200 <= self.status_code < 300


# Bodies of answers that are not a success are only read this far (for an error message).
_ERROR_BODY_LIMIT = 64 * 1024


class GuardedClient:
    """Fetches URLs under an ``OutboundPolicy``. ``transport`` replaces the network in tests only."""

    def __init__(self, policy: OutboundPolicy, *, transport: httpx.BaseTransport | None = None) -> None:
        self.policy = policy
        self._http = httpx.Client(
            transport=transport or CheckedTransport(allow_loopback=policy.allow_loopback),
            timeout=policy.timeout,
            follow_redirects=False,
            trust_env=False,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> GuardedClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def check_url(self, url: httpx.URL) -> None:
        schemes = ("https", "http") if self.policy.allow_loopback or self.policy.allow_plain_http else ("https",)
        if url.scheme not in schemes:
            raise OutboundRefused("scheme_not_allowed", f"Only {' or '.join(schemes)} URLs are fetched.")
        if url.userinfo:
            raise OutboundRefused("bad_url", "URLs with credentials are not fetched.")
        if not url.host or not self.policy.host_allowed(url.host):
            raise OutboundRefused("host_not_allowed", f"The host {url.host or '(none)'} is not on the allow-list.")

    def get(self, url: str, *, max_bytes: int, headers: Mapping[str, str] | None = None) -> Fetched:
        """GET ``url`` and its redirects; the body of a success must not exceed ``max_bytes``.

        Raises ``OutboundRefused`` (``BodyTooLarge`` for the size) for what the policy refuses, and
        httpx's errors for network failures and timeouts.
        """
        deadline = time.monotonic() + self.policy.deadline_seconds
        try:
            current = httpx.URL(url)
        except httpx.InvalidURL as exc:
            raise OutboundRefused("bad_url", "The URL is not valid.") from exc
        sent_headers = dict(headers or {})
        # A body we count is the body we store: no compression to expand past the cap.
        sent_headers["Accept-Encoding"] = "identity"
        for _hop in range(self.policy.max_redirects + 1):
            self.check_url(current)
            request = self._http.build_request("GET", current, headers=sent_headers)
            response = self._http.send(request, stream=True)
            try:
                if response.is_redirect:
                    location = response.headers.get("Location", "")
                    try:
                        following = current.join(location)
                    except httpx.InvalidURL as exc:
                        raise OutboundRefused("bad_url", "A redirect pointed at an invalid URL.") from exc
                    if (following.scheme, following.host, following.port) != (
                        current.scheme,
                        current.host,
                        current.port,
                    ):
                        # Credentials go only to the origin they were given for.
                        sent_headers = {k: v for k, v in sent_headers.items() if k.lower() != "authorization"}
                    current = following
                    continue
                limit = max_bytes if response.is_success else min(max_bytes, _ERROR_BODY_LIMIT)
                content = self._read(response, limit=limit, deadline=deadline, truncate=not response.is_success)
                return Fetched(str(current), response.status_code, response.headers, content)
            finally:
                response.close()
        raise OutboundRefused("too_many_redirects", f"More than {self.policy.max_redirects} redirects.")

    def post(self, url: str, *, content: bytes, max_bytes: int, headers: Mapping[str, str] | None = None) -> Fetched:
        """POST ``content`` to ``url`` once; the body of a success must not exceed ``max_bytes``.

        A redirect is refused, not followed: the body would be sent again to an address the caller did
        not give (or turned into a GET by a 303). Raises as ``get`` does.
        """
        deadline = time.monotonic() + self.policy.deadline_seconds
        try:
            target = httpx.URL(url)
        except httpx.InvalidURL as exc:
            raise OutboundRefused("bad_url", "The URL is not valid.") from exc
        self.check_url(target)
        sent_headers = dict(headers or {})
        sent_headers["Accept-Encoding"] = "identity"
        request = self._http.build_request("POST", target, headers=sent_headers, content=content)
        response = self._http.send(request, stream=True)
        try:
            if response.is_redirect:
                raise OutboundRefused("redirect_not_followed", f"{target.host} answered a redirect to a POST.")
            limit = max_bytes if response.is_success else min(max_bytes, _ERROR_BODY_LIMIT)
            answer = self._read(response, limit=limit, deadline=deadline, truncate=not response.is_success)
            return Fetched(str(target), response.status_code, response.headers, answer)
        finally:
            response.close()

    def _read(self, response: httpx.Response, *, limit: int, deadline: float, truncate: bool) -> bytes:
        announced = response.headers.get("Content-Length")
        if announced and announced.isdigit() and int(announced) > limit and not truncate:
            self._refused_size(response, limit, int(announced))
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > limit:
                if truncate:
                    chunks.append(chunk[: limit - (size - len(chunk))])
                    break
                self._refused_size(response, limit, None)
            chunks.append(chunk)
            if time.monotonic() > deadline:
                raise httpx.ReadTimeout("The whole fetch took longer than its deadline.", request=response.request)
        return b"".join(chunks)

    def _refused_size(self, response: httpx.Response, limit: int, announced: int | None) -> typing.NoReturn:
        logger.warning(
            "Refused a response body from %s over the limit of %s bytes (announced: %s).",
            response.request.url.host,
            limit,
            announced if announced is not None else "no",
        )
        raise BodyTooLarge(limit, announced)
