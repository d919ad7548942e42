"""The browser's WebSocket to a workspace: only members, authenticated by session, may join.

A socket joins its member's audience groups (``selectors.member_live_groups``: what the visibility
rule lets them see), their own group (notifications, access changes) and the workspace's (availability).
When their access changes (role, inbox membership, deactivation) the socket re-reads it, joins and
leaves groups accordingly and tells the page to re-sync; without access it is closed at once.

Events arrive already serialised; a burst is coalesced into one frame per ~100 ms per socket
(``{"type": "batch", "events": [...]}``), the first event of a quiet moment goes out at once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.http import Http404

from conversations.selectors import member_live_groups
from helpdesk.live_layer import count
from helpdesk.realtime import member_group, members_group
from tenants.access import membership_needs_mfa_enrolment
from tenants.selectors import membership_for

logger = logging.getLogger("helpdesk.live")

COALESCE_SECONDS = 0.1
# Attempts at joining or leaving a group before giving up (the page then reconnects and re-syncs).
GROUP_ATTEMPTS = 5
CLOSE_ACCESS_LOST = 4403


class TenantEventsConsumer(AsyncWebsocketConsumer):
    groups: list[str] = []

    async def connect(self) -> None:
        user = self.scope.get("user")
        self.slug = self.scope["url_route"]["kwargs"]["tenant_slug"]
        self.joined: set[str] = set()
        self.audience: set[str] = set()
        self._buffer: list[str] = []
        self._flusher: asyncio.Task[None] | None = None
        self._last_sent = 0.0
        self.watching: str | None = None
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        access = await self._access(user)
        if access is None:
            await self.close(code=4404)
            return
        self.user = user
        self.tenant_id, audience = access
        if not await self._set_groups(audience):
            await self.close(code=1011)
            return
        await self.accept()
        await self.send(text_data=json.dumps(self._hello()))

    def _hello(self) -> dict[str, Any]:
        return {"type": "hello", "tenant": self.slug, "groups": sorted(self.audience)}

    @database_sync_to_async
    def _access(self, user: Any) -> tuple[int, list[str]] | None:
        try:
            membership = membership_for(user=user, tenant_slug=self.slug)
        except Http404:
            return None
        if membership_needs_mfa_enrolment(membership):
            return None
        return membership.tenant_id, member_live_groups(membership=membership)

    async def _set_groups(self, audience: list[str]) -> bool:
        """Join the groups of this access and leave the others; False when Redis would not take it."""
        wanted = {*audience, member_group(self.tenant_id, self.user.pk), members_group(self.tenant_id)}
        for group in sorted(wanted - self.joined):
            if not await self._retry("group_add", group):
                return False
            self.joined.add(group)
        for group in sorted(self.joined - wanted):
            await self._retry("group_discard", group)
            self.joined.discard(group)
        self.audience = set(audience)
        return True

    async def _retry(self, operation: str, group: str) -> bool:
        delay = 0.1
        for attempt in range(1, GROUP_ATTEMPTS + 1):
            try:
                await getattr(self.channel_layer, operation)(group, self.channel_name)
                return True
            except Exception:
                count(f"{operation}_failures")
                logger.warning("Live updates: %s(%s) failed (attempt %s)", operation, group, attempt, exc_info=True)
                if attempt < GROUP_ATTEMPTS:
                    await asyncio.sleep(delay)
                    delay *= 2
        return False

    async def dispatch(self, message: dict[str, Any]) -> None:
        """As Channels' own, without its ``aclose_old_connections()`` before every message: that is a hop
        through the one thread of synchronous code per message and socket (at 250 agents, most of the
        process's time, and in the way of its HTTP requests). This consumer reads the database only
        through ``database_sync_to_async``, which closes old connections in its own thread."""
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def disconnect(self, code: int) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
        for group in sorted(getattr(self, "joined", ())):
            await self._retry("group_discard", group)
        self.joined = set()

    # Messages from the channel layer.

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        """The page says which conversation it has open (``{"type": "watch", "conversation": id}``): its
        events then come with the message bubbles. It selects among events this socket gets anyway."""
        if not text_data or len(text_data) > 200:
            return
        try:
            data = json.loads(text_data)
        except ValueError:
            return
        if isinstance(data, dict) and data.get("type") == "watch":
            conversation = data.get("conversation")
            valid = isinstance(conversation, int) and not isinstance(conversation, bool)
            self.watching = str(conversation) if valid else None
            await self._queue(json.dumps({"type": "watching", "conversation": conversation if valid else None}))

    async def realtime_event(self, message: dict[str, Any]) -> None:
        skip = message.get("skip")
        if skip and self.audience.intersection(skip):
            return  # e.g. "hidden" from a group this member left while another still shows it
        watch = message.get("watch")
        await self._queue(message["full"] if watch is not None and watch == self.watching else message["text"])

    async def realtime_resync(self, message: dict[str, Any]) -> None:
        await self._queue(json.dumps({"type": "resync", "reason": message.get("reason", "")}))

    async def realtime_access(self, message: dict[str, Any]) -> None:
        access = await self._access(self.user)
        if access is None or access[0] != self.tenant_id:
            await self._flush()
            await self.close(code=CLOSE_ACCESS_LOST)
            return
        before = set(self.audience)
        if not await self._set_groups(access[1]):
            await self.close(code=1011)
            return
        if self.audience != before:
            # It may now see more or less: the page re-reads the list, with its new groups.
            await self._queue(json.dumps(self._hello()))
            await self._queue(json.dumps({"type": "resync", "reason": "access"}))

    # Coalescing: one frame per COALESCE_SECONDS at most; the first of a quiet moment goes at once.

    async def _queue(self, text: str) -> None:
        self._buffer.append(text)
        if self._flusher is not None:
            return
        wait = self._last_sent + COALESCE_SECONDS - time.monotonic()
        if wait <= 0:
            await self._flush()
        else:
            self._flusher = asyncio.ensure_future(self._flush_later(wait))

    async def _flush_later(self, wait: float) -> None:
        try:
            while True:
                await asyncio.sleep(wait)
                await self._flush()
                if not self._buffer:
                    return
                wait = COALESCE_SECONDS  # events that came while the frame was being sent
        finally:
            self._flusher = None

    async def _flush(self) -> None:
        if not self._buffer:
            return
        texts, self._buffer = self._buffer, []
        frame = texts[0] if len(texts) == 1 else '{"type": "batch", "events": [' + ", ".join(texts) + "]}"
        self._last_sent = time.monotonic()
        await self.send(text_data=frame)
