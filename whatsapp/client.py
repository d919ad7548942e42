"""Builds the Cloud API client of a channel (the only place that decrypts its token for use)."""

from __future__ import annotations

import hashlib
import threading
from typing import Any

import httpx
from django.conf import settings

from whatsapp.cloud_api import CloudApiClient
from whatsapp.models import WhatsAppChannel

# Tests install an httpx transport here to reach an in-process fake without sockets.
_transport_override: dict[str, Any] = {}

# One client (and so one pool of keep-alive connections) per channel configuration and process.
_clients: dict[tuple[Any, ...], CloudApiClient] = {}
_lock = threading.Lock()


def client_for(channel: WhatsAppChannel) -> CloudApiClient:
    transport = _transport_override.get("transport")
    timeout = httpx.Timeout(settings.WHATSAPP_HTTP_TIMEOUT, connect=settings.WHATSAPP_HTTP_CONNECT_TIMEOUT)
    if transport is not None:
        # A test's transport: a fresh client each time, nothing cached across tests.
        return CloudApiClient(
            channel.api_base_url, channel.api_version, channel.access_token, timeout=timeout, transport=transport
        )
    key = (
        channel.pk,
        channel.api_base_url,
        channel.api_version,
        hashlib.sha256(channel.access_token_encrypted.encode()).hexdigest(),
        settings.WHATSAPP_HTTP_TIMEOUT,
        settings.WHATSAPP_HTTP_CONNECT_TIMEOUT,
    )
    with _lock:
        client = _clients.get(key)
        if client is None:
            client = CloudApiClient(channel.api_base_url, channel.api_version, channel.access_token, timeout=timeout)
            _clients[key] = client
        return client
