"""The address of the client behind a request, trusting ``X-Forwarded-For`` only as far as our own proxies.

Login throttling and the audit log use it. ``TRUSTED_PROXIES`` (addresses or networks) lists the
reverse proxies in front of the ASGI server. A request from any other peer is taken at its own
address, whatever ``X-Forwarded-For`` it sends. A request from a trusted proxy is traced back along
``X-Forwarded-For`` from the right: the first hop that is not a trusted proxy is the client (hops
further left were written by that client and prove nothing). uvicorn's ``--forwarded-allow-ips`` is
given the same list, so both read the chain alike.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from django.conf import settings
from django.http import HttpRequest

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@lru_cache(maxsize=8)
def _networks(entries: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(entry.strip(), strict=False) for entry in entries if entry.strip())


def _parse(value: str) -> Address | None:
    """An address as proxies write it: bare, ``v4:port`` or ``[v6]:port``; None if it is none of these."""
    value = value.strip()
    if value.startswith("["):
        value = value[1 : value.find("]")] if "]" in value else value
    elif value.count(":") == 1:
        value = value.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _trusted(address: Address, networks: tuple[Network, ...]) -> bool:
    return any(address.version == net.version and address in net for net in networks)


def client_address(request: HttpRequest) -> str | None:
    """The client's IP address, or None when the server was not told a usable one."""
    peer = _parse(request.META.get("REMOTE_ADDR") or "")
    if peer is None:
        return None
    networks = _networks(tuple(settings.TRUSTED_PROXIES))
    if not _trusted(peer, networks):
        return str(peer)
    client = peer
    hops = (request.headers.get("X-Forwarded-For") or "").split(",")
    for raw in reversed(hops):
        hop = _parse(raw)
        if hop is None:
            # A hop no proxy of ours would write: trust the chain no further than the proxy that passed it.
            break
        client = hop
        if not _trusted(hop, networks):
            break
    return str(client)
