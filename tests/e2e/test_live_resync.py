"""A page told to re-sync re-reads its list at once: what changed behind its back shows, with no reload.

The live inbox's stack (test_inbox_live: PostgreSQL, the ASGI server and a Celery worker on Redis, the
fake Cloud API), with the channel layer under a prefix of this test's own. A conversation is written
straight to the database, so no event tells the page about it; then the page's socket is told to
re-sync, either by a ``realtime.resync`` message to its member's group (as the layer sends after a
gap in a group's sequence) or by the server itself, when a burst overflows the socket's queue
(``LIVE_SOCKET_CAPACITY=1``). Every wait is Playwright's ``expect`` or a poll with a timeout.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from playwright.sync_api import Page, WebSocket, expect

from conversations.models import Conversation
from helpdesk import realtime
from helpdesk.live_layer import _PUBLISH_SEQ, LiveChannelLayer
from helpdesk.realtime import member_group, send_to_groups
from tests.conversations.factories import make_conversation
from tests.e2e import test_inbox_live as live
from tests.e2e.conftest import BrowserErrors, skip_or_fail
from tests.e2e.test_inbox_live import TIMEOUT_MS, Stack, member, open_inbox, pump_until, row_of
from whatsapp.fake import wait_for

pytestmark = pytest.mark.e2e

# The live inbox's stack: its fake, server and worker, and pages opened on that server.
stack, live_server_url = live.stack, live.live_server_url
SETTINGS = "tests.e2e.live_prefix_settings"
DROP = (
    "WARNING helpdesk.live Live updates dropped for a socket that is not reading: "
    "{waiting} waiting (capacity {capacity}); it re-syncs"
)


@pytest.fixture
def layer_prefix() -> str:
    return f"helpdesk-e2e-{uuid.uuid4().hex[:12]}:ws"


@pytest.fixture
def socket_capacity() -> str:
    """``LIVE_SOCKET_CAPACITY`` of the server processes (a test parametrizes it to change it)."""
    return "1000"


@pytest.fixture
def live_env(server_env: dict[str, str], layer_prefix: str, socket_capacity: str) -> dict[str, str]:
    """As test_inbox_live's, on the Redis database of ``REDIS_URL``, with this test's layer prefix."""
    from django.db import connection

    url = os.environ.get("REDIS_URL")
    if connection.vendor != "postgresql" or not url:
        skip_or_fail("The live re-sync tests need PostgreSQL (DATABASE_URL) and Redis (REDIS_URL).")
    redis.Redis.from_url(url).flushdb()
    env = dict(server_env)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": SETTINGS,
            "LIVE_LAYER_PREFIX": layer_prefix,
            "LIVE_SOCKET_CAPACITY": socket_capacity,
            "REDIS_URL": url,
            "CELERY_BROKER_URL": url,
            "CELERY_TASK_ALWAYS_EAGER": "false",
            "LOG_LEVEL": "INFO",
        }
    )
    return env


@pytest.fixture
def layer(live_env: dict[str, str], layer_prefix: str) -> Iterator[LiveChannelLayer]:
    """The servers' channel layer, as this process reaches it (publishes go through the publisher loop)."""
    layer = LiveChannelLayer(hosts=[{"address": live_env["REDIS_URL"]}], prefix=layer_prefix)
    yield layer
    asyncio.run_coroutine_threadsafe(layer.flush(), realtime._background_loop()).result(timeout=TIMEOUT_MS / 1000)


def frames_of(page: Page) -> list[dict[str, Any]]:
    """Every frame the page's sockets receive, decoded (Playwright hands them over while it is called)."""
    received: list[dict[str, Any]] = []

    def on_websocket(ws: WebSocket) -> None:
        ws.on("framereceived", lambda payload: received.append(json.loads(payload)))

    page.on("websocket", on_websocket)
    return received


def events_in(frames: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The events of the frames, batches unpacked."""
    return [e for f in frames for e in (f["events"] if f["type"] == "batch" else [f])]


def own_group_channel(stack: Stack, user_id: int, prefix: str) -> str:
    return f"{prefix}__group__{member_group(stack.tenant.pk, user_id)}"


def wait_until_subscribed(channel: str) -> None:
    """The socket's groups are joined before it is accepted; wait until Redis has the subscription too."""
    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    try:
        wait_for(
            lambda: client.pubsub_numsub(channel) == [(channel.encode(), 1)],
            timeout=TIMEOUT_MS / 1000,
            message=f"the server's subscription to {channel}",
        )
    finally:
        client.close()


def written_behind_its_back(stack: Stack) -> Conversation:
    """A conversation written straight to the database: no event is published for it."""
    return make_conversation(stack.channel_a.inbox, name="Quiet Customer", phone="+5511987650100")


def server_log(tmp_path: Path) -> str:
    return (tmp_path / "logs" / "web.log").read_text(errors="replace")


def drop_lines(tmp_path: Path) -> list[str]:
    return [line.split(" ", 2)[2] for line in server_log(tmp_path).splitlines() if "Live updates dropped" in line]


def test_a_resync_message_makes_the_page_re_read_the_list_at_once(
    stack: Stack, page: Page, layer: LiveChannelLayer, browser_errors: BrowserErrors
) -> None:
    agent = member(stack, "ana@acme.example", "Ana Agent")
    sockets: list[WebSocket] = []
    page.on("websocket", lambda ws: sockets.append(ws))
    frames = frames_of(page)
    open_inbox(page, agent)
    wait_until_subscribed(own_group_channel(stack, agent.pk, layer._kwargs["prefix"]))
    page.evaluate("window.__sameDocument = true")
    conversation = written_behind_its_back(stack)
    expect(row_of(page, conversation)).to_have_count(0)

    send_to_groups(layer, [(member_group(stack.tenant.pk, agent.pk), {"type": "realtime.resync", "reason": "test"})])

    row = row_of(page, conversation)
    expect(row.locator(".row-name")).to_have_text("Quiet Customer", timeout=TIMEOUT_MS)
    pump_until(page, lambda: {"type": "resync", "reason": "test"} in events_in(frames), "the resync frame")
    # The row came from the re-read: no frame carried it, and the page neither reloaded nor reconnected.
    events = events_in(frames)
    assert [e for e in events if e["type"] == "resync"] == [{"type": "resync", "reason": "test"}]
    assert [e for e in events if (e.get("conversation") or {}).get("id") == conversation.pk] == []
    assert page.evaluate("window.__sameDocument") is True, "the page reloaded"
    assert len(sockets) == 1, [ws.url for ws in sockets]
    assert not sockets[0].is_closed()
    browser_errors.assert_none()


@pytest.mark.parametrize("socket_capacity", ["1"])
def test_a_burst_that_overflows_the_sockets_queue_is_logged_and_the_page_re_reads(
    stack: Stack,
    page: Page,
    layer: LiveChannelLayer,
    tmp_path: Path,
    browser_errors: BrowserErrors,
) -> None:
    """Capacity 1 and two events in one Redis transaction: the server reads both from one network read
    and queues them for the socket without yielding to it, so the second finds the first still
    waiting. The first is dropped, the second not queued, a resync takes their place, and the server
    logs one WARNING. (Measured: 200 overflows in 200 runs of this burst against a reading socket.)"""
    agent = member(stack, "ana@acme.example", "Ana Agent")
    sockets: list[WebSocket] = []
    page.on("websocket", lambda ws: sockets.append(ws))
    frames = frames_of(page)
    open_inbox(page, agent)
    channel = own_group_channel(stack, agent.pk, layer._kwargs["prefix"])
    wait_until_subscribed(channel)
    page.evaluate("window.__sameDocument = true")
    assert drop_lines(tmp_path) == []
    conversation = written_behind_its_back(stack)

    group = member_group(stack.tenant.pk, agent.pk)
    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    try:
        burst = client.pipeline(transaction=True)
        for n in range(2):
            event = {"type": "realtime.event", "text": json.dumps({"type": "test.burst", "n": n})}
            burst.eval(_PUBLISH_SEQ, 2, f"{layer._kwargs['prefix']}seq:{group}", channel, layer.serialize(event), 60)
        assert burst.execute() == [1, 2]  # the group's sequence numbers: this burst is all it had
    finally:
        client.close()

    wait_for(lambda: drop_lines(tmp_path), timeout=TIMEOUT_MS / 1000, message="the server's drop WARNING")
    row = row_of(page, conversation)
    expect(row.locator(".row-name")).to_have_text("Quiet Customer", timeout=TIMEOUT_MS)
    pump_until(page, lambda: {"type": "resync", "reason": "overflow"} in events_in(frames), "the resync frame")
    assert drop_lines(tmp_path) == [DROP.format(waiting=1, capacity=1)]
    events = events_in(frames)
    assert [e for e in events if e["type"] in ("resync", "test.burst")] == [{"type": "resync", "reason": "overflow"}]
    assert not re.search(r"ERROR|Traceback", server_log(tmp_path)), server_log(tmp_path)
    assert page.evaluate("window.__sameDocument") is True, "the page reloaded"
    assert len(sockets) == 1, [ws.url for ws in sockets]
    assert not sockets[0].is_closed()
    browser_errors.assert_none()
