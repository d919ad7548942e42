"""Scale-out: two web processes share the sockets of one workspace and each socket gets its events once.

Two uvicorn processes on two ports (as two hosts behind a load balancer), PostgreSQL and Redis, with
the channel layer under a prefix of this test's own. Members' sockets are opened on either process;
events are published from this process the product's way (``helpdesk.realtime``) on the servers'
layer. Redis is inspected: each process subscribes once per audience group its own sockets are in.
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest
import redis
from django.conf import settings
from django.db import transaction
from django.test import Client
from websockets.sync.client import ClientConnection, connect

from conversations.selectors import live_group_all, live_group_unassigned
from conversations.services.events import publish_conversation_updated
from helpdesk import realtime
from helpdesk.live_layer import LiveChannelLayer
from helpdesk.realtime import _Flush, members_group
from tenants.permissions import BuiltinRole
from tests.conversations.factories import make_conversation, make_inbox
from tests.e2e.conftest import skip_or_fail
from tests.e2e.harness import VENV_BIN, ServerProcess, free_port
from tests.factories import add_member, make_tenant, make_user, owner_of
from whatsapp.fake import wait_for

pytestmark = pytest.mark.e2e

SETTINGS = "tests.e2e.live_prefix_settings"
TIMEOUT_S = 20.0


@pytest.fixture
def layer_prefix() -> str:
    return f"helpdesk-scale-{uuid.uuid4().hex[:12]}:ws"


@pytest.fixture
def two_servers(
    server_env: dict[str, str], start_process: Callable[..., ServerProcess], layer_prefix: str
) -> Iterator[tuple[str, str]]:
    from django.db import connection

    url = os.environ.get("REDIS_URL")
    if connection.vendor != "postgresql" or not url:
        skip_or_fail("Scale-out needs PostgreSQL (DATABASE_URL) and Redis (REDIS_URL).")
    env = {**server_env, "DJANGO_SETTINGS_MODULE": SETTINGS, "LIVE_LAYER_PREFIX": layer_prefix, "REDIS_URL": url}
    urls = []
    for name in ("web-1", "web-2"):
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        start_process(
            name=name,
            command=[
                VENV_BIN / "uvicorn",
                "helpdesk.asgi:application",
                *("--host", "127.0.0.1", "--port", str(port), "--lifespan", "off"),
            ],
            env=env,
            ready=f"{base}/healthz/",
        )
        urls.append(base)
    yield urls[0], urls[1]


@pytest.fixture
def layer(layer_prefix: str) -> Iterator[LiveChannelLayer]:
    """The servers' channel layer as this process reaches it (publishes go through the publisher loop)."""
    layer = LiveChannelLayer(hosts=[{"address": os.environ["REDIS_URL"]}], prefix=layer_prefix)
    yield layer
    asyncio.run_coroutine_threadsafe(layer.flush(), realtime._background_loop()).result(timeout=TIMEOUT_S)


def open_socket(sockets: ExitStack, base: str, user: Any, slug: str) -> ClientConnection:
    client = Client()
    client.force_login(user)
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
    ws = sockets.enter_context(
        connect(
            base.replace("http://", "ws://") + f"/ws/t/{slug}/",
            additional_headers={"Cookie": cookie, "Origin": base},
            proxy=None,
            open_timeout=TIMEOUT_S,
        )
    )
    hello = json.loads(ws.recv(timeout=TIMEOUT_S))
    assert hello["type"] == "hello", hello
    return ws


def events_until_sentinel(ws: ClientConnection, n: int) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []
    while True:
        frame = json.loads(ws.recv(timeout=TIMEOUT_S))
        for event in frame["events"] if frame["type"] == "batch" else [frame]:
            if event == {"type": "sentinel", "n": n}:
                return got
            got.append(event)


def publish(layer: LiveChannelLayer, build: Callable[[], None]) -> None:
    """Run ``build`` (which publishes on commit) and hand its events to the servers' layer."""
    flush = _Flush()
    with transaction.atomic():
        build()
        for _sids, func, _robust in transaction.get_connection().run_on_commit:
            if isinstance(func, _Flush):
                flush.items.extend(func.items)
        transaction.get_connection().run_on_commit.clear()
    realtime.send_to_groups(layer, flush.messages())


def sentinel(layer: LiveChannelLayer, tenant_id: int, n: int) -> None:
    text = json.dumps({"type": "sentinel", "n": n})
    realtime.send_to_groups(layer, [(members_group(tenant_id), {"type": "realtime.event", "text": text})])


def test_two_processes_share_the_sockets_and_each_gets_its_events_once(two_servers, layer):
    web_1, web_2 = two_servers
    tenant = make_tenant("Acme", slug="acme", owner=make_user("owner@acme.example", password="acme-password-42"))
    supervisor_1 = add_member(tenant, BuiltinRole.SUPERVISOR)
    supervisor_2 = add_member(tenant, BuiltinRole.SUPERVISOR)
    agent = add_member(tenant, BuiltinRole.AGENT)
    outsider = add_member(tenant, BuiltinRole.AGENT)  # in no inbox: sees nothing
    inbox = make_inbox(tenant, name="Vendas", members=[agent, owner_of(tenant)])
    held = ExitStack()
    sockets = {
        "supervisor_1": open_socket(held, web_1, supervisor_1.user, "acme"),
        "supervisor_2": open_socket(held, web_2, supervisor_2.user, "acme"),
        "agent": open_socket(held, web_2, agent.user, "acme"),
        "outsider": open_socket(held, web_1, outsider.user, "acme"),
    }
    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    prefix = layer._kwargs["prefix"]

    def subscribers(group: str) -> int:
        [(_name, count)] = client.pubsub_numsub(f"{prefix}__group__{group}")
        return int(count)

    # Each process subscribed once per group its own sockets are in: "all" on both (a supervisor on
    # each), the inbox's unassigned queue only on web 2 (the agent's), the workspace's group on both.
    wait_for(
        lambda: (
            (
                subscribers(live_group_all(tenant.pk)),
                subscribers(live_group_unassigned(tenant.pk, inbox.pk)),
                subscribers(members_group(tenant.pk)),
            )
            == (2, 1, 2)
        ),
        timeout=TIMEOUT_S,
        message="each process's subscriptions",
    )
    assert len(client.pubsub_channels(f"{prefix}specific.*")) == 4  # one per socket, none stale

    conversation = make_conversation(inbox, name="Rita")
    publish(layer, lambda: publish_conversation_updated(conversation, new=True))
    sentinel(layer, tenant.pk, 1)
    got = {who: events_until_sentinel(ws, 1) for who, ws in sockets.items()}

    kinds = {who: [(e["type"], e["conversation"]["id"]) for e in events] for who, events in got.items()}
    assert kinds == {
        "supervisor_1": [("conversation.updated", conversation.pk)],
        "supervisor_2": [("conversation.updated", conversation.pk)],
        "agent": [("conversation.updated", conversation.pk)],
        "outsider": [],
    }
    assert got["supervisor_1"][0]["row"] == got["agent"][0]["row"]  # rendered once, the same everywhere

    held.close()
    # The processes let go of the closed sockets' channels and of groups nobody is in any more.
    wait_for(lambda: not client.pubsub_channels(f"{prefix}*"), timeout=TIMEOUT_S, message="no subscription left")
    client.close()
