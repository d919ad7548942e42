"""The channel layer of live updates: Redis pub/sub, one message per process and audience, no silent loss.

Channels' core Redis layer stores one Redis message per consumer channel: an event for a group of
250 sockets is 250 messages to write and 250 to read through one locked receive loop, and a
process's sockets share one queue whose overflow is dropped with a line at INFO. Here:

- ``group_send`` is one ``PUBLISH`` (in a Lua script with the group's sequence number, so the two
  are atomic and each process receives a group's messages in sequence order);
- each process subscribes once per group its sockets belong to and copies a message into the
  queue of each local member: 250 sockets in one process cost one Redis message;
- a gap in a group's sequence (a message this process missed, e.g. while its subscription
  reconnected), a lost subscription, or a socket whose queue is full (a stalled browser) does not
  go unnoticed: it is counted, logged at WARNING, and the sockets concerned get a
  ``realtime.resync`` message, on which the page re-reads its state at once;
- the Redis connections wait for a free connection instead of raising when a pool is busy.

Pub/sub keeps nothing for a process that is not subscribed: what a page needs after a gap it
reads from the database, which is the source of truth; events are the fast path.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import Counter
from dataclasses import dataclass
from typing import Any

import redis
from channels.exceptions import ChannelFull
from channels.layers import InMemoryChannelLayer
from channels_redis.pubsub import RedisPubSubChannelLayer, RedisPubSubLoopLayer, RedisSingleShardConnection
from channels_redis.utils import _wrap_close, decode_hosts
from redis import asyncio as aioredis

logger = logging.getLogger("helpdesk.live")

RESYNC = {"type": "realtime.resync"}

# One publish: the group's next sequence number and the message, atomically.
_PUBLISH_SEQ = """
local seq = redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[2])
redis.call('PUBLISH', KEYS[2], seq .. '|' .. ARGV[1])
return seq
"""

# Counters of this process (exposed by ``stats()``; logged at WARNING as they happen).
_stats: Counter[str] = Counter()
_stats_lock = threading.Lock()


def count(name: str, n: int = 1) -> None:
    with _stats_lock:
        _stats[name] += n


def stats() -> dict[str, int]:
    """Live-update counters of this process: ``dropped``, ``gaps``, ``resyncs``, ``send_failures``..."""
    with _stats_lock:
        return dict(_stats)


def stats_reset() -> None:
    with _stats_lock:
        _stats.clear()


def _database_of(hosts: Any) -> int:
    from urllib.parse import urlsplit

    host = decode_hosts(hosts)[0]
    if "db" in host:
        return int(host["db"])
    path = urlsplit(str(host.get("address", ""))).path.strip("/")
    return int(path) if path.isdigit() else 0


def _blocking_pool(pool_class: Any, host: dict[str, Any], **options: Any) -> Any:
    """A pool of ``pool_class`` (redis-py's sync or asyncio ``BlockingConnectionPool``: callers wait for
    a free connection instead of raising) for one host as Channels' ``hosts`` entries spell it."""
    host = dict(host)
    address = host.pop("address", None)
    options = {**host, **options}
    return pool_class.from_url(address, **options) if address else pool_class(**options)


@dataclass(frozen=True)
class LiveOptions:
    local_capacity: int = 1000
    seq_ttl: int = 86400
    max_connections: int = 50
    pool_timeout: float = 20.0


class LiveChannelLayer(RedisPubSubChannelLayer):
    """Channels' pub/sub layer with sequence numbers, bounded local queues and waiting pools.

    Settings (``CONFIG``): ``hosts`` and ``prefix`` as Channels' layers; ``local_capacity``, the
    messages a socket may have waiting before it is told to re-sync instead (default 1,000);
    ``seq_ttl``, how long a group's sequence counter lives in Redis after its last message (seconds);
    ``max_connections`` of each Redis pool (callers wait for a free one, up to ``pool_timeout`` s).
    """

    def __init__(
        self,
        *args: Any,
        local_capacity: int = 1000,
        seq_ttl: int = 86400,
        max_connections: int = 50,
        pool_timeout: float = 20.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self._live_options = LiveOptions(local_capacity, seq_ttl, max_connections, pool_timeout)
        # Pub/sub channels belong to the whole Redis server, not to a database: installations sharing a
        # server on different database numbers must not hear each other, so the number joins the prefix.
        self._kwargs["prefix"] = f"{self._kwargs.get('prefix', 'asgi')}:db{_database_of(self._kwargs.get('hosts'))}:"
        self._sync_redis: Any = None

    def listening(self, group: str) -> bool:
        """Whether any process has a socket in ``group`` now (one ``PUBSUB NUMSUB``; publishers that
        build costly events skip them for a workspace nobody watches)."""
        if self._sync_redis is None:
            host = decode_hosts(self._kwargs.get("hosts"))[0]
            self._sync_redis = _blocking_pool(
                redis.BlockingConnectionPool, host, max_connections=10, timeout=5, socket_timeout=5
            )
        channel = f"{self._kwargs.get('prefix', 'asgi')}__group__{group}"
        [(_name, subscribers)] = redis.Redis(connection_pool=self._sync_redis).pubsub_numsub(channel)
        return bool(subscribers)

    def _get_layer(self) -> LiveLoopLayer:
        loop = asyncio.get_running_loop()
        try:
            return self._layers[loop]  # type: ignore[no-any-return]
        except KeyError:
            layer = LiveLoopLayer(*self._args, **self._kwargs, options=self._live_options, channel_layer=self)
            self._layers[loop] = layer
            _wrap_close(self, loop)
            return layer


class LiveLoopLayer(RedisPubSubLoopLayer):
    """The layer of one event loop (Channels keeps one per loop)."""

    def __init__(self, *args: Any, options: LiveOptions, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.local_capacity = options.local_capacity
        self.seq_ttl = options.seq_ttl
        self._shards: list[Any] = [
            LiveShardConnection(
                shard.host, self, max_connections=options.max_connections, pool_timeout=options.pool_timeout
            )
            for shard in self._shards
        ]

    def group_name_of(self, group_channel: str) -> str:
        return group_channel[len(self._get_group_channel_name("")) :]

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        group_channel = self._get_group_channel_name(group)
        shard = self._get_shard(group_channel)
        await shard.publish_numbered(
            f"{self.prefix}seq:{group}", group_channel, self.channel_layer.serialize(message), self.seq_ttl
        )

    def local_members(self) -> dict[str, int]:
        """Group → number of this loop's channels in it (for tests and diagnostics)."""
        return {self.group_name_of(g): len(channels) for g, channels in self.groups.items()}

    # Delivery to the local queues (called by the shard's receive loop).

    def deliver(self, channel: str, data: bytes) -> None:
        queue = self.channels.get(channel)
        if queue is None:
            return
        if queue.qsize() >= self.local_capacity:
            # A socket that does not read (a stalled browser): its backlog goes, and it is told to re-sync.
            dropped = queue.qsize()
            while not queue.empty():
                queue.get_nowait()
            count("dropped", dropped + 1)  # the backlog, and this message
            count("resyncs")
            logger.warning(
                "Live updates dropped for a socket that is not reading: %s waiting (capacity %s); it re-syncs",
                dropped,
                self.local_capacity,
            )
            queue.put_nowait(self.channel_layer.serialize({**RESYNC, "reason": "overflow"}))
            return  # the page re-reads its state: this message is in it
        queue.put_nowait(data)

    def resync_group(self, group_channel: str, reason: str) -> None:
        members = list(self.groups.get(group_channel, ()))
        count("resyncs", len(members))
        data = self.channel_layer.serialize({**RESYNC, "reason": reason})
        for channel in members:
            self.deliver(channel, data)

    def resync_all(self, reason: str) -> None:
        data = self.channel_layer.serialize({**RESYNC, "reason": reason})
        count("resyncs", len(self.channels))
        for channel in list(self.channels):
            self.deliver(channel, data)


class LiveShardConnection(RedisSingleShardConnection):
    """One Redis server: a connection for publishing, one subscription for all of the loop's groups."""

    def __init__(self, host: dict[str, Any], layer: LiveLoopLayer, *, max_connections: int, pool_timeout: float):
        super().__init__(host, layer)
        self.max_connections = max_connections
        self.pool_timeout = pool_timeout
        self._last_seq: dict[str, int] = {}
        self._broken = False
        self._script: Any = None

    def _ensure_redis(self) -> None:
        if self._redis is None:
            pool = _blocking_pool(
                aioredis.BlockingConnectionPool,
                self.host,
                max_connections=self.max_connections,
                timeout=self.pool_timeout,
            )
            client = aioredis.Redis(connection_pool=pool)
            self._redis: Any = client
            self._pubsub = client.pubsub()
            self._script = client.register_script(_PUBLISH_SEQ)

    async def publish_numbered(self, seq_key: str, channel: str, message: bytes, ttl: int) -> None:
        # No lock: the pool hands each publish its own connection (waiting when all are busy).
        self._ensure_redis()
        await self._script(keys=[seq_key, channel], args=[message, ttl])

    async def unsubscribe(self, channel: str) -> None:
        await super().unsubscribe(channel)
        self._last_seq.pop(channel, None)

    async def _do_receiving(self) -> None:
        while True:
            try:
                if self._pubsub and self._pubsub.subscribed:
                    message = await self._pubsub.get_message(ignore_subscribe_messages=True, timeout=0.1)
                    if self._broken:
                        # The subscription is back (redis-py re-subscribed): what was published
                        # meanwhile never reached this process.
                        self._broken = False
                        self._last_seq.clear()
                        logger.warning("Live updates: the Redis subscription was lost and is back; sockets re-sync")
                        count("gaps")
                        self.channel_layer.resync_all("reconnect")
                    self._receive_message(message)
                else:
                    await asyncio.sleep(0.1)
            except (TimeoutError, asyncio.CancelledError, GeneratorExit):
                raise
            except Exception:
                if not self._broken:
                    logger.warning("Live updates: the Redis subscription failed; retrying", exc_info=True)
                self._broken = True
                await asyncio.sleep(0.5)

    def _receive_message(self, message: dict[str, Any] | None) -> None:
        if message is None:
            return
        name = message["channel"]
        data = message["data"]
        if isinstance(name, bytes):
            name = name.decode()
        layer = self.channel_layer
        if name in layer.channels:
            layer.deliver(name, data)
            return
        members = layer.groups.get(name)
        if members is None:
            return
        head, _, payload = data.partition(b"|")
        try:
            seq = int(head)
        except ValueError:
            logger.warning("Live updates: a message without a sequence number on %s was ignored", name)
            return
        last = self._last_seq.get(name)
        self._last_seq[name] = seq
        if last is not None and seq != last + 1:
            count("gaps")
            logger.warning(
                "Live updates: %s message(s) of group %s missed (sequence %s after %s); its sockets re-sync",
                max(seq - last - 1, 1),
                layer.group_name_of(name),
                seq,
                last,
            )
            layer.resync_group(name, "gap")
        for channel in list(members):
            layer.deliver(channel, payload)


class LiveInMemoryChannelLayer(InMemoryChannelLayer):
    """The embedded default (one process, no Redis): Channels' in-memory layer, larger, never silent."""

    def __init__(self, expiry: int = 60, group_expiry: int = 86400, capacity: int = 1000, **kwargs: Any) -> None:
        super().__init__(expiry=expiry, group_expiry=group_expiry, capacity=capacity, **kwargs)

    def listening(self, group: str) -> bool:
        return bool(self.groups.get(group))

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        self._clean_expired()
        for channel in list(self.groups.get(group, {})):
            try:
                await self.send(channel, message)
            except ChannelFull:
                # A socket that does not read: its backlog goes, and it is told to re-sync.
                queue = self.channels.get(channel)
                dropped = queue.qsize() if queue is not None else 0
                while queue is not None and not queue.empty():
                    queue.get_nowait()
                count("dropped", dropped + 1)
                count("resyncs")
                logger.warning(
                    "Live updates dropped for a socket that is not reading: %s (capacity %s); it re-syncs",
                    dropped + 1,
                    self.capacity,
                )
                await self.send(channel, {**RESYNC, "reason": "overflow"})
