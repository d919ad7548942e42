"""The only way to push to browsers: events are published to audience groups after the transaction commits.

An event goes to *groups*, not to people: who belongs to which group is the visibility rule's
business (``conversations.selectors``); a socket joins the groups of its member. All events of one
transaction are built after the commit (from committed rows), serialised to JSON once, and handed
to the channel layer in one round: one ``group_send`` per event and group, whatever the number of
agents online.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction

from helpdesk.after_commit import call_guarded
from helpdesk.live_layer import count

logger = logging.getLogger(__name__)

# Publishes not yet handed to Redis above which a WARNING is logged (the publisher falls behind).
BACKLOG_WARNING = 1000


def member_group(tenant_id: int, user_id: int) -> str:
    """One member's own sockets: notifications and changes of their access."""
    return f"t{tenant_id}.u{user_id}"


def members_group(tenant_id: int) -> str:
    """Every socket of the workspace: availability, and role changes that affect everyone."""
    return f"t{tenant_id}.members"


class LiveBatch:
    """The events of one transaction, built together after the commit (a builder may batch its reads)."""

    def __init__(self, items: list[tuple[int, list[str], Any]]) -> None:
        self.items = items
        self._memo: dict[Any, Any] = {}

    def memo(self, key: Any, compute: Callable[[], Any]) -> Any:
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]

    def first(self, key: Any) -> bool:
        """True the first time ``key`` is asked about in this batch (e.g. a row already sent)."""
        seen = ("first", key) in self._memo
        self._memo[("first", key)] = True
        return not seen


# An event is a dict, or a callable building it after the commit: (batch) -> (groups, event, skip groups)
# or (groups, event, skip groups, (watch key, fuller event for the sockets watching that key)), or None.
EventBuilder = Callable[[LiveBatch], "tuple[Any, ...] | None"]


class _Flush:
    """The on-commit callback holding the events of one transaction (savepoint level)."""

    def __init__(self) -> None:
        self.items: list[tuple[int, list[str], Any]] = []

    def __call__(self) -> None:
        # Live updates are hints: Redis being down never fails the transaction's caller.
        call_guarded(self._send, what=f"{len(self.items)} live update(s)")

    def messages(self) -> list[tuple[str, dict[str, Any]]]:
        batch = LiveBatch(self.items)
        out: list[tuple[str, dict[str, Any]]] = []
        for _tenant_id, groups, event in self.items:
            skip: list[str] = []
            watched = None
            if callable(event):
                built = event(batch)
                if built is None:
                    continue
                groups, event, skip, *rest = built
                watched = rest[0] if rest else None
            message: dict[str, Any] = {"type": "realtime.event", "text": json.dumps(event, cls=DjangoJSONEncoder)}
            if skip:
                message["skip"] = skip
            if watched is not None:
                # A fuller variant for the sockets watching this key (e.g. with the conversation open).
                message["watch"], full = watched
                message["full"] = json.dumps(full, cls=DjangoJSONEncoder)
            out.extend((group, message) for group in groups)
        return out

    def _send(self) -> None:
        layer = get_channel_layer()
        if layer is None or not self.items:
            return
        # A workspace with no socket open anywhere: nothing to build (events are rendered rows).
        watched = {t for t in {t for t, _g, _e in self.items} if listening(layer, t)}
        self.items = [item for item in self.items if item[0] in watched]
        messages = self.messages()
        if messages:
            send_to_groups(layer, messages)


_listening_until: dict[int, float] = {}
LISTENING_TTL = 1.0


def listening(layer: Any, tenant_id: int) -> bool:
    """Whether a socket of this workspace is open in any process. A yes is remembered for a second; a
    no is asked again each time (a page that just connected gets the next event)."""
    check = getattr(layer, "listening", None)
    if check is None:
        return True
    now = time.monotonic()
    if _listening_until.get(tenant_id, 0.0) > now:
        return True
    try:
        yes = bool(check(members_group(tenant_id)))
    except Exception:
        logger.warning("Live updates: could not ask Redis who listens; publishing anyway", exc_info=True)
        return True
    if yes:
        if len(_listening_until) > 10_000:
            _listening_until.clear()
        _listening_until[tenant_id] = now + LISTENING_TTL
    return yes


def send_to_groups(layer: Any, messages: list[tuple[str, dict[str, Any]]]) -> None:
    async def send_all() -> None:
        for group, message in messages:
            await layer.group_send(group, message)

    async def send_in_turn() -> None:
        # One transaction's sends after the previous one's: the publisher keeps the commit order.
        async with _publish_lock():
            await send_all()

    if _uses_own_loop(layer):
        # Queued on the publisher loop (FIFO, so events keep their order); the commit does not wait.
        _track(asyncio.run_coroutine_threadsafe(send_in_turn(), _background_loop()), len(messages))
    else:
        async_to_sync(send_all)()


_pending_lock = threading.Lock()
_pending = 0


def _track(future: Future[None], n: int) -> None:
    global _pending
    with _pending_lock:
        _pending += n
        backlog = _pending
    if backlog > BACKLOG_WARNING:
        count("backlog_warnings")
        logger.warning("Live updates: %s publishes waiting to be handed to Redis", backlog)

    def done(f: Future[None]) -> None:
        global _pending
        with _pending_lock:
            _pending -= n
        if not f.cancelled() and (exc := f.exception()) is not None:
            count("send_failures", n)
            logger.warning("Live updates not handed over after commit (%s group sends)", n, exc_info=exc)

    future.add_done_callback(done)


def _uses_own_loop(layer: Any) -> bool:
    # Redis layers keep connections per event loop: one long-lived loop reuses them. The in-memory
    # layer must stay on the caller's loop (async_to_sync), where its consumers live.
    return type(layer).__module__.startswith(("channels_redis", "helpdesk.live_layer")) and hasattr(layer, "_layers")


_loop_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_locks: dict[asyncio.AbstractEventLoop, asyncio.Lock] = {}


def _publish_lock() -> asyncio.Lock:
    # Created on the publisher loop, where it is used (asyncio wakes its waiters first come, first served).
    loop = asyncio.get_running_loop()
    if loop not in _locks:
        _locks[loop] = asyncio.Lock()
    return _locks[loop]


def _background_loop() -> asyncio.AbstractEventLoop:
    global _loop
    with _loop_lock:
        if _loop is None or _loop.is_closed():
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="realtime-publisher", daemon=True).start()
            _loop = loop
        return _loop


def publish_on_commit(*, tenant_id: int, groups: Iterable[str] = (), event: dict[str, Any] | EventBuilder) -> None:
    """Send ``event`` to every socket in these groups once the data is committed.

    ``event`` is a dict, or a builder called after the commit with the transaction's ``LiveBatch``
    that answers ``(groups, event, skip)`` (``skip``: groups whose sockets ignore it) or ``None``; a fourth
    item ``(key, fuller event)`` goes instead to the sockets watching ``key`` (``conversations.consumers``).
    """
    targets = sorted(set(groups))
    if not targets and not callable(event):
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


def control_on_commit(*, tenant_id: int, user_ids: Iterable[int] | None = None, kind: str = "access") -> None:
    """Tell sockets that their member's access changed (role, inbox membership, deactivation): each
    re-reads it and joins or leaves groups (``user_ids`` None: every member of the workspace)."""
    groups = [members_group(tenant_id)] if user_ids is None else [member_group(tenant_id, uid) for uid in set(user_ids)]

    def send() -> None:
        layer = get_channel_layer()
        if layer is not None:
            send_to_groups(layer, [(g, {"type": f"realtime.{kind}"}) for g in groups])

    transaction.on_commit(lambda: call_guarded(send, what="access change"))
