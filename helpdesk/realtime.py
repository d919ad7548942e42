"""The only way to push to browsers: events are published after the transaction commits.

All events of one transaction go out together in a single round of channel-layer sends.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterable
from concurrent.futures import Future
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from helpdesk.after_commit import call_guarded

logger = logging.getLogger(__name__)


def user_group(tenant_id: int, user_id: int) -> str:
    return f"t{tenant_id}.u{user_id}"


class _Flush:
    """The on-commit callback holding the events of one transaction (savepoint level)."""

    def __init__(self) -> None:
        self.items: list[tuple[int, list[int], dict[str, Any]]] = []

    def __call__(self) -> None:
        # Live updates are hints: Redis being down never fails the transaction's caller.
        call_guarded(self._send, what=f"{len(self.items)} live update(s)")

    def _send(self) -> None:
        layer = get_channel_layer()
        if layer is None or not self.items:
            return

        async def send_all() -> None:
            for tenant_id, user_ids, event in self.items:
                for user_id in user_ids:
                    await layer.group_send(user_group(tenant_id, user_id), {"type": "realtime.event", "event": event})

        if _uses_own_loop(layer):
            # Queued on the publisher loop (FIFO, so events keep their order); the commit does not wait.
            future = asyncio.run_coroutine_threadsafe(send_all(), _background_loop())
            future.add_done_callback(_log_failure)
        else:
            async_to_sync(send_all)()


def _log_failure(future: Future[None]) -> None:
    if not future.cancelled() and (exc := future.exception()) is not None:
        logger.warning("Live updates not handed over after commit", exc_info=exc)


def _uses_own_loop(layer: Any) -> bool:
    # Redis layers keep connections per event loop: one long-lived loop reuses them. The in-memory
    # layer must stay on the caller's loop (async_to_sync), where its consumers live.
    return type(layer).__module__.startswith("channels_redis")


_loop_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None


def _background_loop() -> asyncio.AbstractEventLoop:
    global _loop
    with _loop_lock:
        if _loop is None or _loop.is_closed():
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="realtime-publisher", daemon=True).start()
            _loop = loop
        return _loop


def publish_on_commit(*, tenant_id: int, user_ids: Iterable[int], event: dict[str, Any]) -> None:
    """Send ``event`` to every open WebSocket of these users in this tenant once the data is committed."""
    targets = sorted(set(user_ids))
    if not targets:
        return
    connection = transaction.get_connection()
    if connection.in_atomic_block:
        current = set(connection.savepoint_ids)
        for sids, func, _robust in connection.run_on_commit:
            # Join a flush registered at this very savepoint level, so a rollback drops both together.
            if isinstance(func, _Flush) and sids == current:
                func.items.append((tenant_id, targets, event))
                return
    flush = _Flush()
    flush.items.append((tenant_id, targets, event))
    transaction.on_commit(flush)
