"""Builds the Cloud API client of a channel (the only place that decrypts its token for use).

Every channel reaches the Graph API at ``WHATSAPP_API_BASE_URL``, a deployment setting, and fetches
media only from ``WHATSAPP_MEDIA_ALLOWED_HOSTS``.
"""

from __future__ import annotations

import hashlib
import threading
from typing import Any

import httpx
from django.conf import settings

from helpdesk.outbound_http import OutboundPolicy
from whatsapp.cloud_api import CloudApiClient
from whatsapp.models import WhatsAppChannel

# Tests install an httpx transport here to reach an in-process fake without sockets.
_transport_override: dict[str, Any] = {}

# One client (and so one pool of keep-alive connections) per channel configuration and process.
_clients: dict[tuple[Any, ...], CloudApiClient] = {}
_lock = threading.Lock()


def media_policy() -> OutboundPolicy:
    """Where media URLs from Meta's answers may be fetched from (settings)."""
    return OutboundPolicy.of(
        settings.WHATSAPP_MEDIA_ALLOWED_HOSTS,
        allow_loopback=settings.WHATSAPP_MEDIA_ALLOW_LOOPBACK,
        timeout=_timeout(),
    )


def cloud_api_client(
    access_token: str,
    *,
    api_version: str = "",
    timeout: httpx.Timeout | None = None,
    transport: httpx.BaseTransport | None = None,
) -> CloudApiClient:
    """A client at the deployment's Graph API address for ``access_token``."""
    return CloudApiClient(
        settings.WHATSAPP_API_BASE_URL,
        api_version or settings.WHATSAPP_API_VERSION,
        access_token,
        timeout=timeout or _timeout(),
        transport=transport or _transport_override.get("transport"),
        media_policy=media_policy(),
    )


def _timeout() -> httpx.Timeout:
    return httpx.Timeout(settings.WHATSAPP_HTTP_TIMEOUT, connect=settings.WHATSAPP_HTTP_CONNECT_TIMEOUT)


def client_for(channel: WhatsAppChannel) -> CloudApiClient:
    transport = _transport_override.get("transport")
    if transport is not None:
        # A test's transport: a fresh client each time, nothing cached across tests.
        return cloud_api_client(channel.access_token, api_version=channel.api_version, transport=transport)
    key = (
        channel.pk,
        settings.WHATSAPP_API_BASE_URL,
        channel.api_version,
        hashlib.sha256(channel.access_token_encrypted.encode()).hexdigest(),
        settings.WHATSAPP_HTTP_TIMEOUT,
        settings.WHATSAPP_HTTP_CONNECT_TIMEOUT,
        tuple(settings.WHATSAPP_MEDIA_ALLOWED_HOSTS),
        settings.WHATSAPP_MEDIA_ALLOW_LOOPBACK,
    )
    with _lock:
        client = _clients.get(key)
        if client is None:
            client = cloud_api_client(channel.access_token, api_version=channel.api_version)
            _clients[key] = client
        return client
