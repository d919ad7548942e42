"""The live updates' channel layer on Redis pub/sub, used directly as the WebSocket consumers use it.

Each test builds its own ``LiveChannelLayer`` on ``REDIS_URL`` with a prefix of its own, so its Redis
channels and sequence keys are its alone; sockets are the layer's local channels (``new_channel``,
``group_add``, ``receive``). A test proves that nothing more arrived by sending a last message and
finding it next in line: Redis hands one subscription its messages in the order they were published.
Waits are on conditions with a timeout, never a pause.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis
from django.conf import settings
from redis import asyncio as aioredis

from helpdesk.live_layer import LiveChannelLayer, LiveInMemoryChannelLayer, stats, stats_reset
from tests.prerequisites import require_redis

TIMEOUT = 10.0  # seconds: an upper bound on an answer, never a pause
RESYNC_OVERFLOW = {"type": "realtime.resync", "reason": "overflow"}
RESYNC_GAP = {"type": "realtime.resync", "reason": "gap"}
DROP_WARNING = (
    "Live updates dropped for a socket that is not reading: {waiting} waiting (capacity {capacity}); it re-syncs"
)


def message(n: int) -> dict[str, Any]:
    return {"type": "test.event", "n": n}


@pytest.fixture
def live_stats() -> Iterator[None]:
    """The layer's counters are per process: each test starts and ends with none."""
    stats_reset()
    yield
    stats_reset()


@pytest.fixture
def prefix(live_stats: None) -> Iterator[str]:
    """A channel prefix of this test only; its sequence keys are deleted afterwards."""
    require_redis("the layer under test is Redis pub/sub")
    name = f"test-live-{uuid.uuid4().hex[:12]}:"
    yield name
    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        keys = list(client.scan_iter(match=f"{name}*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


def run(scenario: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    return asyncio.run(scenario())


def effective(prefix: str) -> str:
    """The prefix the layer uses in Redis: the given one and the database number."""
    return f"{prefix}:db{int(urlsplit(settings.REDIS_URL).path.strip('/') or 0)}:"


def layer_on(prefix: str, **options: Any) -> LiveChannelLayer:
    return LiveChannelLayer(hosts=[{"address": settings.REDIS_URL}], prefix=prefix, **options)


async def receive(layer: Any, channel: str) -> Any:
    return await asyncio.wait_for(layer.receive(channel), TIMEOUT)


async def until(check: Callable[[], Awaitable[bool]], what: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"Timed out waiting for {what}.")
        await asyncio.sleep(0.01)


async def subscribers(client: Any, channel: str) -> int:
    [(_name, count)] = await client.pubsub_numsub(channel)
    return int(count)


async def subscribed(client: Any, prefix: str, groups: list[str], *, raw: bool = False) -> None:
    """Wait until Redis has this process's subscription to each group (a subscribe is only sent, not
    confirmed, when ``group_add`` returns)."""

    async def all_there() -> bool:
        full = prefix if raw else effective(prefix)
        counts = [await subscribers(client, f"{full}__group__{g}") for g in groups]
        return counts == [1] * len(groups)

    await until(all_there, f"the subscriptions to {len(groups)} group(s)")


# --- a burst --------------------------------------------------------------------------------------------


def test_a_burst_reaches_every_local_member_in_order_with_nothing_dropped(prefix):
    """500 events to one group in a tight loop, 20 sockets that read only afterwards: every socket has
    all 500, in order (Channels' layers held 100 per channel and dropped the rest)."""

    async def scenario() -> tuple[dict[str, int], list[list[Any]]]:
        layer = layer_on(prefix)
        client = aioredis.Redis.from_url(settings.REDIS_URL)
        try:
            channels = [await layer.new_channel() for _ in range(20)]
            for channel in channels:
                await layer.group_add("burst", channel)
            await subscribed(client, prefix, ["burst"])
            for n in range(500):
                await layer.group_send("burst", message(n))
            await layer.group_send("burst", {"type": "test.end"})

            async def read_all(channel: str) -> list[Any]:
                received = []
                while (item := await receive(layer, channel)) != {"type": "test.end"}:
                    received.append(item)
                return received

            members = layer.local_members()
            return members, list(await asyncio.gather(*(read_all(c) for c in channels)))
        finally:
            await layer.flush()
            await client.aclose()

    members, received = run(scenario)

    assert members == {"burst": 20}
    assert [len(r) for r in received] == [500] * 20
    assert received == [[message(n) for n in range(500)]] * 20
    assert stats() == {}  # nothing dropped, no gap, no resync


# --- a socket that does not read -------------------------------------------------------------------------


def test_a_socket_that_does_not_read_has_its_backlog_replaced_by_one_resync(prefix, caplog):
    """Capacity 10: the 11th event finds 10 waiting; they go, a resync takes their place and a WARNING
    says so. A socket of the same group that reads gets every event."""

    async def scenario() -> tuple[list[Any], list[Any], int]:
        layer = layer_on(prefix, local_capacity=10)
        client = aioredis.Redis.from_url(settings.REDIS_URL)
        try:
            stalled, reader = await layer.new_channel(), await layer.new_channel()
            for channel in (stalled, reader):
                await layer.group_add("team", channel)
            await subscribed(client, prefix, ["team"])
            read = []
            # Each event is read by the reading socket before the next is sent: its queue never fills.
            for n in range(12):
                await layer.group_send("team", message(n))
                read.append(await receive(layer, reader))
            # The reader had event 11, so the stalled socket's queue has had it too.
            waiting = layer.channels[stalled].qsize()
            backlog = [await receive(layer, stalled) for _ in range(waiting)]
            return read, backlog, layer.channels[stalled].qsize()
        finally:
            await layer.flush()
            await client.aclose()

    with caplog.at_level(logging.WARNING, logger="helpdesk.live"):
        read, backlog, left = run(scenario)

    assert read == [message(n) for n in range(12)]
    # Events 0-9 were waiting when event 10 came: all went, one resync instead; event 11 came after it.
    assert backlog == [RESYNC_OVERFLOW, message(11)]
    assert left == 0
    drops = [(r.name, r.levelno, r.getMessage()) for r in caplog.records if r.name == "helpdesk.live"]
    assert drops == [("helpdesk.live", logging.WARNING, DROP_WARNING.format(waiting=10, capacity=10))]
    assert stats()["resyncs"] == 1
    assert sorted(stats()) == ["dropped", "resyncs"]


def test_the_dropped_count_is_every_event_the_socket_did_not_get(prefix):
    async def scenario() -> list[Any]:
        layer = layer_on(prefix, local_capacity=10)
        client = aioredis.Redis.from_url(settings.REDIS_URL)
        try:
            stalled, reader = await layer.new_channel(), await layer.new_channel()
            for channel in (stalled, reader):
                await layer.group_add("team", channel)
            await subscribed(client, prefix, ["team"])
            for n in range(11):
                await layer.group_send("team", message(n))
                assert await receive(layer, reader) == message(n)
            return [await receive(layer, stalled) for _ in range(layer.channels[stalled].qsize())]
        finally:
            await layer.flush()
            await client.aclose()

    assert run(scenario) == [RESYNC_OVERFLOW]  # none of the 11 events reached the stalled socket
    assert stats() == {"dropped": 11, "resyncs": 1}


def test_the_embedded_layer_replaces_a_full_backlog_by_one_resync(live_stats, caplog):
    """The in-memory layer (no Redis) in the same situation: 11 events lost and counted, one resync, a
    WARNING, and the socket that reads gets everything."""

    async def scenario() -> tuple[list[Any], list[Any]]:
        layer = LiveInMemoryChannelLayer(capacity=10)
        stalled, reader = await layer.new_channel(), await layer.new_channel()
        for channel in (stalled, reader):
            await layer.group_add("team", channel)
        read = []
        for n in range(12):
            await layer.group_send("team", message(n))
            read.append(await receive(layer, reader))
        backlog = [await receive(layer, stalled) for _ in range(layer.channels[stalled].qsize())]
        await layer.flush()
        return read, backlog

    with caplog.at_level(logging.WARNING, logger="helpdesk.live"):
        read, backlog = run(scenario)

    assert read == [message(n) for n in range(12)]
    assert backlog == [RESYNC_OVERFLOW, message(11)]
    assert [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "helpdesk.live"] == [
        (logging.WARNING, "Live updates dropped for a socket that is not reading: 11 (capacity 10); it re-syncs")
    ]
    assert stats() == {"dropped": 11, "resyncs": 1}


# --- a gap in a group's sequence ----------------------------------------------------------------------


def test_a_gap_in_a_groups_sequence_resyncs_that_groups_sockets_before_the_next_event(prefix, caplog):
    """A number of the group's sequence is taken without its message reaching this process (as when
    another process's publish is lost to this one): the group's sockets re-sync, then get the event."""

    async def scenario() -> dict[str, list[Any]]:
        layer = layer_on(prefix)
        client = aioredis.Redis.from_url(settings.REDIS_URL)
        try:
            a1, a2, b1 = [await layer.new_channel() for _ in range(3)]
            for group, channel in (("alpha", a1), ("alpha", a2), ("beta", b1)):
                await layer.group_add(group, channel)
            await subscribed(client, prefix, ["alpha", "beta"])
            await layer.group_send("alpha", message(0))  # sequence 1: the process now follows alpha
            await layer.group_send("beta", message(0))
            received: dict[str, list[Any]] = {"a1": [], "a2": [], "b1": []}
            for name, channel in (("a1", a1), ("a2", a2), ("b1", b1)):
                received[name].append(await receive(layer, channel))

            assert await client.incr(f"{effective(prefix)}seq:alpha") == 2  # number 2 is never published
            await layer.group_send("alpha", message(1))  # sequence 3
            await layer.group_send("beta", {"type": "test.end"})
            await layer.group_send("alpha", message(2))  # sequence 4: in order again
            for name, channel in (("a1", a1), ("a2", a2)):
                received[name] += [await receive(layer, channel) for _ in range(3)]
            received["b1"].append(await receive(layer, b1))
            return received
        finally:
            await layer.flush()
            await client.aclose()

    with caplog.at_level(logging.WARNING, logger="helpdesk.live"):
        received = run(scenario)

    assert received == {
        "a1": [message(0), RESYNC_GAP, message(1), message(2)],
        "a2": [message(0), RESYNC_GAP, message(1), message(2)],
        "b1": [message(0), {"type": "test.end"}],  # beta's socket: nothing extra
    }
    assert [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "helpdesk.live"] == [
        (logging.WARNING, "Live updates: 1 message(s) of group alpha missed (sequence 3 after 1); its sockets re-sync")
    ]
    assert stats() == {"gaps": 1, "resyncs": 2}


# --- 250 sockets changing their groups at once ------------------------------------------------------------

SOCKETS = 250


@dataclass
class LocalSocket:
    """A consumer's use of the layer: its channel, its groups and a task reading what arrives."""

    user: int
    groups: list[str]
    channel: str = ""
    received: list[Any] = field(default_factory=list)
    reader: asyncio.Task[None] | None = None


def groups_of(user: int, inbox: int) -> list[str]:
    return ["members", f"u{user}", f"i{inbox}"]


async def connect(layer: Any, socket: LocalSocket) -> LocalSocket:
    socket.channel = await layer.new_channel()
    for group in socket.groups:
        await layer.group_add(group, socket.channel)

    async def read() -> None:
        while True:
            socket.received.append(await layer.receive(socket.channel))

    socket.reader = asyncio.ensure_future(read())
    return socket


async def disconnect(layer: Any, socket: LocalSocket) -> None:
    """As a consumer goes: it leaves its groups, then Channels cancels its receive."""
    for group in socket.groups:
        await layer.group_discard(group, socket.channel)
    assert socket.reader is not None
    socket.reader.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await socket.reader


async def redis_channels(client: Any, prefix: str) -> set[str]:
    return {c.decode() for c in await client.pubsub_channels(f"{prefix}*")}


async def check_subscriptions(layer: Any, client: Any, prefix: str, sockets: list[LocalSocket]) -> dict[str, Any]:
    """Wait until Redis has exactly the live sockets' channels and groups; answer what it and the layer hold."""
    groups = sorted({g for s in sockets for g in s.groups})
    expected = {s.channel for s in sockets} | {f"{effective(prefix)}__group__{g}" for g in groups}
    with contextlib.suppress(AssertionError):  # the comparison afterwards shows the difference
        await until(lambda: _equal(redis_channels(client, prefix), expected), "Redis to hold the live channels")
    return {
        "redis": await redis_channels(client, prefix),
        "expected": expected,
        "numsub": {g: await subscribers(client, f"{effective(prefix)}__group__{g}") for g in groups},
        "local_channels": set(layer.channels),
        "local_members": {g: sorted(layer.groups[f"{effective(prefix)}__group__{g}"]) for g in groups},
        "expected_members": {g: sorted(s.channel for s in sockets if g in s.groups) for g in groups},
    }


async def _equal(value: Awaitable[set[str]], expected: set[str]) -> bool:
    return await value == expected


async def everyone_hears(layer: Any, sockets: list[LocalSocket]) -> None:
    """One event to the workspace group, then one to each socket's own group: each socket gets both."""
    await layer.group_send("members", {"type": "test.members"})
    for socket in sockets:
        await layer.group_send(f"u{socket.user}", {"type": "test.own", "user": socket.user})
    await until(lambda: _true(all(len(s.received) >= 2 for s in sockets)), "every socket to get the two events")


async def _true(value: bool) -> bool:
    return value


def heard(sockets: list[LocalSocket]) -> list[list[Any]]:
    return [s.received for s in sockets]


def expected_heard(sockets: list[LocalSocket]) -> list[list[Any]]:
    return [[{"type": "test.members"}, {"type": "test.own", "user": s.user}] for s in sockets]


def assert_exactly_live(seen: dict[str, Any], sockets: list[LocalSocket]) -> None:
    assert seen["redis"] - seen["expected"] == set(), "stale channels still subscribed in Redis"
    assert seen["expected"] - seen["redis"] == set(), "live channels not subscribed in Redis"
    assert seen["numsub"] == dict.fromkeys(seen["numsub"], 1)  # one subscription per group and process
    assert seen["local_channels"] == {s.channel for s in sockets}
    assert seen["local_members"] == seen["expected_members"]


def test_sockets_replaced_all_at_once_as_after_a_deploy_leave_exactly_the_new_ones_subscribed(prefix):
    """250 sockets go and 250 come back for the same people at the same moment (a deploy, a network
    blip): their groups' subscriptions end with exactly the new sockets, nothing stale in Redis."""

    async def scenario() -> tuple[dict[str, Any], list[LocalSocket]]:
        layer = layer_on(prefix)
        client = aioredis.Redis.from_url(settings.REDIS_URL)
        try:
            old = list(
                await asyncio.gather(*(connect(layer, LocalSocket(u, groups_of(u, u % 5))) for u in range(SOCKETS)))
            )
            await subscribed(client, prefix, sorted({g for s in old for g in s.groups}))
            new = [LocalSocket(u, groups_of(u, u % 5)) for u in range(SOCKETS)]
            # Each person's old socket leaves while the new one joins, all at once.
            steps = [
                step
                for pair in zip(old, new, strict=True)
                for step in (disconnect(layer, pair[0]), connect(layer, pair[1]))
            ]
            await asyncio.gather(*steps)
            seen = await check_subscriptions(layer, client, prefix, new)
            await everyone_hears(layer, new)
            assert [s.received for s in old] == [[]] * SOCKETS
            for socket in new:
                await disconnect(layer, socket)
            return seen, new
        finally:
            await layer.flush()
            await client.aclose()

    seen, new = run(scenario)

    assert_exactly_live(seen, new)
    assert len(seen["redis"]) == SOCKETS + (1 + SOCKETS + 5)  # the sockets; members, u0-u249, i0-i4
    assert heard(new) == expected_heard(new)
    assert stats() == {}


def test_sockets_leaving_and_rejoining_their_groups_at_once_stay_subscribed(prefix):
    """Everyone's access changes at once (e.g. a role edited): each of 250 sockets leaves its groups and
    joins its new ones at the same moment; all end subscribed to exactly their groups."""

    async def scenario() -> tuple[dict[str, Any], list[LocalSocket]]:
        layer = layer_on(prefix)
        client = aioredis.Redis.from_url(settings.REDIS_URL)
        try:
            sockets = list(
                await asyncio.gather(*(connect(layer, LocalSocket(u, groups_of(u, u % 5))) for u in range(SOCKETS)))
            )
            await subscribed(client, prefix, sorted({g for s in sockets for g in s.groups}))

            async def change(socket: LocalSocket) -> None:
                # Leave every group, then join the new ones: a socket alone in its own group leaves it empty
                # for a moment, and inbox i0 is left by all its sockets.
                for group in socket.groups:
                    await layer.group_discard(group, socket.channel)
                socket.groups = groups_of(socket.user, 1 + socket.user % 4)  # i1-i4: i0 is gone
                for group in socket.groups:
                    await layer.group_add(group, socket.channel)

            await asyncio.gather(*(change(s) for s in sockets))
            seen = await check_subscriptions(layer, client, prefix, sockets)
            await everyone_hears(layer, sockets)
            for socket in sockets:
                await disconnect(layer, socket)
            return seen, sockets
        finally:
            await layer.flush()
            await client.aclose()

    seen, sockets = run(scenario)

    assert_exactly_live(seen, sockets)
    assert {c for c in seen["redis"] if c.endswith("__group__i0")} == set()
    assert len(seen["redis"]) == SOCKETS + (1 + SOCKETS + 4)
    assert heard(sockets) == expected_heard(sockets)
    assert stats() == {}


# --- two installations on one Redis server ----------------------------------------------------------------


def _on_database(url: str, db: int) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{db}", parts.query, parts.fragment))


def test_installations_on_different_redis_databases_do_not_hear_each_other(live_stats):
    require_redis("the layer under test is Redis pub/sub")
    config = settings.CHANNEL_LAYERS["default"]["CONFIG"]
    database = int(urlsplit(settings.REDIS_URL).path.lstrip("/") or 0)
    group = f"test-{uuid.uuid4().hex[:12]}"  # the product's prefix, a group nobody else uses

    def installation(db: int) -> LiveChannelLayer:
        hosts = [{**config["hosts"][0], "address": _on_database(settings.REDIS_URL, db)}]
        return LiveChannelLayer(**{**config, "hosts": hosts})

    async def scenario() -> Any:
        ours, theirs = installation(database), installation((database + 1) % 16)
        client = aioredis.Redis.from_url(settings.REDIS_URL)
        try:
            channel = await theirs.new_channel()
            await theirs.group_add(group, channel)
            await subscribed(client, theirs._kwargs["prefix"], [group], raw=True)
            await ours.group_send(group, {"type": "test.ours"})
            await theirs.send(channel, {"type": "test.theirs"})  # a plain publish: it writes no key
            return await receive(theirs, channel)
        finally:
            await client.delete(f"{ours._kwargs['prefix']}seq:{group}")
            await ours.flush()
            await theirs.flush()
            await client.aclose()

    assert run(scenario) == {"type": "test.theirs"}
