"""The only way to push to browsers: events are published after the transaction commits."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction


def user_group(tenant_id: int, user_id: int) -> str:
    return f"t{tenant_id}.u{user_id}"


def publish_on_commit(*, tenant_id: int, user_ids: Iterable[int], event: dict[str, Any]) -> None:
    """Send ``event`` to every open WebSocket of these users in this tenant once the data is committed."""
    targets = sorted(set(user_ids))

    def send() -> None:
        layer = get_channel_layer()
        if layer is None:
            return
        for user_id in targets:
            async_to_sync(layer.group_send)(user_group(tenant_id, user_id), {"type": "realtime.event", "event": event})

    transaction.on_commit(send)
