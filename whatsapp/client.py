"""Builds the Cloud API client of a channel (the only place that decrypts its token for use)."""

from __future__ import annotations

from typing import Any

import httpx
from django.conf import settings

from whatsapp.cloud_api import CloudApiClient
from whatsapp.models import WhatsAppChannel

# Tests install an httpx transport here to reach an in-process fake without sockets.
_transport_override: dict[str, Any] = {}


def client_for(channel: WhatsAppChannel) -> CloudApiClient:
    timeout = httpx.Timeout(settings.WHATSAPP_HTTP_TIMEOUT, connect=settings.WHATSAPP_HTTP_CONNECT_TIMEOUT)
    return CloudApiClient(
        channel.api_base_url,
        channel.api_version,
        channel.access_token,
        timeout=timeout,
        transport=_transport_override.get("transport"),
    )
