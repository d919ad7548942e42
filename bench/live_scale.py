"""Live updates at team scale: how many inbox events reach N agents, and how fast.

Processes as the product runs: uvicorn (ASGI, WebSockets over the Redis channel layer; 1 or 2 worker
processes), one Celery worker, PostgreSQL and Redis (``bench.settings``). One workspace (no MFA
required) has two WhatsApp inboxes, A and B (two numbers of one WABA). Each round has N agents who
may view all conversations (the owner and supervisors) plus 10 % (at least 1) restricted agents
(the built-in agent role, members of inbox B only: they may see inbox B's unassigned conversations
and nothing of inbox A). Every agent holds one WebSocket ``/ws/t/<slug>/``, authenticated by a
session cookie made here with Django's SessionStore as ``django.contrib.auth.login`` stores it.

Customers write at 20 messages/s for 20 s: signed inbound-message webhooks posted to the real
endpoint at a steady rate (open loop), 90 % to inbox A and 10 % to inbox B, each from a new customer
(a new conversation) except every 4th, which repeats an earlier customer of the same inbox. Each
text carries a marker, ``LSA-<i>`` (inbox A) or ``LSB-<i>`` (inbox B). One asyncio process holds
all the sockets and stamps, per socket, the first moment (``time.time()``) each marker arrives in a
frame; latency is that moment minus the moment the POST was sent (this machine's wall clock).
Each socket also makes the follow-up requests its inbox page would make (``PageReplay``: rows
re-read by id after an event without a rendered row, the list after a resync or a reconnect),
with its session cookie, and counts them (the page's once-a-minute resync is left out: a round
is shorter).

    python bench/live_scale.py [--quick] [--web-processes 1|2] [--agents 1,25,100,250] [--rate 20] [--seconds 20]

``--quick``: N = 1, 25 and 100, 6 s of webhooks each (under 120 s in all). Rounds run one after the
other on the same servers, with fresh sockets and their own markers. A table per round is printed,
and last one JSON object: missed_total, p50_ms_n<N>, p95_ms_n<N>, max_ms_n<N> (the N that ran),
fetches_per_msg_per_agent (requests / (messages x sockets), the worst N), dropped_over_capacity
(lines of the web and worker logs saying "over capacity" or "dropped" during the rounds),
hidden_leaks (inbox A markers that reached a restricted agent, in a frame or a fetched answer),
web_processes, and the details of each round in ``rounds``. A marker counts as received when it
arrives within 10 s of its POST; missed = expected - received, where a socket expects every
marker it may see (all of them, or inbox B's for a restricted agent).

Targets: missed_total 0, p95_ms_n25 <= 500, p95_ms_n100 <= 1000, p95_ms_n250 <= 3000,
fetches_per_msg_per_agent <= 0.05, dropped_over_capacity 0, hidden_leaks 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import resource
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    REDIS_BASE,
    RawHttpPool,
    django_setup,
    flush_redis,
    fresh_database,
    migrate,
    percentile,
    process_env,
    report,
    start_web,
    start_worker,
    stop_children_on_sigterm,
    text_message_payload,
    wait_until,
)

SLUG = "bench-livescale"
WABA_ID = "930000000000001"
# Inbox name -> (phone number id, display number, app secret).
NUMBERS = {
    "A": ("930000000000011", "5511955501111", "bench-livescale-secret-a"),
    "B": ("930000000000022", "5511955502222", "bench-livescale-secret-b"),
}
SHARE_B = 10  # one message in ten goes to inbox B
REPEAT_EVERY = 4  # every 4th message comes from an earlier customer of the same inbox
SHOW_TIMEOUT_S = 10.0
# Switching the team's memberships between rounds makes open sockets re-read their access after the
# commit; the round starts once that has settled.
AUDIENCE_SETTLE_S = 2.5
MARKER = re.compile(rb"LS([AB])-(\d+)")
LOG_PROBLEM = re.compile(r"over capacity|dropped", re.IGNORECASE)


# --- the workspace and its agents ------------------------------------------------------------------


@dataclass(frozen=True)
class Agent:
    label: str
    user_id: int
    restricted: bool
    cookie: str  # "sessionid=..."


@dataclass
class Team:
    slug: str
    tenant_id: int
    webhook_paths: dict[str, str]  # inbox name -> path of its webhook
    view_all: list[Agent]
    restricted: list[Agent]


def restricted_count(n: int) -> int:
    return max(1, n // 10)


def session_cookie(user: Any) -> str:
    """A logged-in session as ``django.contrib.auth.login`` stores it, without the login request.

    The workspace requires no MFA and the agents have no authenticator, so allauth's MFA adds
    nothing to the session; its record of the login methods is read only by reauthentication.
    """
    from importlib import import_module

    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY

    store = import_module(settings.SESSION_ENGINE).SessionStore()
    store[SESSION_KEY] = user._meta.pk.value_to_string(user)
    store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.save()
    return f"{settings.SESSION_COOKIE_NAME}={store.session_key}"


def team_create(*, view_all: int, restricted: int) -> Team:
    """The workspace, its two inboxes and every agent any round needs (memberships inactive)."""
    from django.contrib.auth.hashers import make_password

    from conversations.models import Inbox
    from tenants.models import Membership, Tenant, User
    from tenants.permissions import BuiltinRole
    from tenants.services import role_builtin, tenant_create
    from tests.factories import owner_of
    from whatsapp.services import channel_create

    password = make_password("bench-livescale-password-42")  # hashed once: the agents share it
    owner = User.objects.create_user(email="agent0@bench-livescale.example", name="Agent 0")
    owner.password = password
    owner.save(update_fields=["password"])
    tenant = tenant_create(name="Bench Live Scale", slug=SLUG, owner=owner)
    assert tenant.mfa_policy == Tenant.MfaPolicy.OFF
    paths = {}
    inboxes = {}
    for name, (phone_number_id, display, secret) in NUMBERS.items():
        channel = channel_create(
            actor=owner_of(tenant),
            name=f"Inbox {name}",
            display_phone_number=display,
            phone_number_id=phone_number_id,
            waba_id=WABA_ID,
            access_token=f"bench-livescale-token-{name}",
            app_secret=secret,
            verify=False,
        )
        paths[name] = f"/webhooks/whatsapp/{channel.webhook_key}/"
        inboxes[name] = channel.inbox
    users = User.objects.bulk_create(
        [
            User(email=f"agent{k}@bench-livescale.example", name=f"Agent {k}", password=password)
            for k in range(1, view_all)
        ]
        + [
            User(email=f"restricted{k}@bench-livescale.example", name=f"Restricted {k}", password=password)
            for k in range(restricted)
        ]
    )
    supervisors, agents = users[: view_all - 1], users[view_all - 1 :]
    supervisor_role = role_builtin(tenant=tenant, key=BuiltinRole.SUPERVISOR)
    agent_role = role_builtin(tenant=tenant, key=BuiltinRole.AGENT)
    Membership.objects.bulk_create(
        [Membership(tenant=tenant, user=u, role=supervisor_role, active=False) for u in supervisors]
        + [Membership(tenant=tenant, user=u, role=agent_role, active=False) for u in agents]
    )
    inbox_b: Inbox = inboxes["B"]
    inbox_b.members.add(*agents)
    return Team(
        slug=tenant.slug,
        tenant_id=tenant.pk,
        webhook_paths=paths,
        view_all=[Agent(f"view-all {k}", u.pk, False, session_cookie(u)) for k, u in enumerate([owner, *supervisors])],
        restricted=[Agent(f"restricted {k}", u.pk, True, session_cookie(u)) for k, u in enumerate(agents)],
    )


def team_activate(team: Team, *, n: int) -> list[Agent]:
    """Only this round's agents are members: events go to the team that is online, no one else."""
    from tenants.models import Membership

    chosen = team.view_all[:n] + team.restricted[: restricted_count(n)]
    ids = [a.user_id for a in chosen]
    Membership.objects.filter(tenant_id=team.tenant_id).exclude(user_id__in=ids).update(active=False)
    Membership.objects.filter(tenant_id=team.tenant_id, user_id__in=ids).update(active=True)
    return chosen


# --- the customers ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Planned:
    index: int  # unique across rounds: the number in the marker
    inbox: str  # "A" or "B"
    customer: str
    name: str

    @property
    def marker(self) -> str:
        return f"LS{self.inbox}-{self.index}"


def plan_messages(first: int, count: int) -> list[Planned]:
    """90 % to inbox A, 10 % to B; each from a new customer except every 4th (an earlier one of that inbox)."""
    known: dict[str, list[tuple[str, str]]] = {"A": [], "B": []}
    plan = []
    for k in range(count):
        i = first + k
        inbox = "B" if k % SHARE_B == SHARE_B - 1 else "A"
        earlier = known[inbox]
        if k % REPEAT_EVERY == REPEAT_EVERY - 1 and earlier:
            customer, name = earlier[(k // REPEAT_EVERY) % len(earlier)]
        else:
            customer, name = f"55{11 if inbox == 'A' else 21}9{i:08d}", f"Cliente {i}"
            earlier.append((customer, name))
        plan.append(Planned(i, inbox, customer, name))
    return plan


def external_id(message: Planned) -> str:
    return f"wamid.livescale-{message.index:09d}"


def webhook_body(message: Planned, text: str) -> bytes:
    from whatsapp.signature import encode_like_meta

    phone_number_id, display, _secret = NUMBERS[message.inbox]
    return encode_like_meta(
        text_message_payload(
            waba_id=WABA_ID,
            phone_number_id=phone_number_id,
            display_phone_number=display,
            customer=message.customer,
            name=message.name,
            wamid=external_id(message),
            text=text,
        )
    )


def text_of(message: Planned) -> str:
    return f"{message.marker} Olá, o pedido nº {message.index} não chegou ✅"


async def post_at_rate(
    base: str, items: list[tuple[int, str, str, bytes]], rate: float, sent: dict[int, float], stop: threading.Event
) -> dict[int, int]:
    """Post each (index, path, app secret, body) at its scheduled time (open loop); records each send time (s)."""
    from whatsapp.signature import sign

    statuses: dict[int, int] = {}
    async with RawHttpPool(base, 16) as pool:
        start = time.perf_counter()

        async def one(k: int, i: int, path: str, secret: str, body: bytes) -> None:
            delay = start + k / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            if stop.is_set():
                return
            headers = {"Content-Type": "application/json", "X-Hub-Signature-256": sign(body, secret)}
            sent[i] = time.time()
            statuses[i] = await pool.post(path, body, headers)

        await asyncio.gather(*(one(k, *item) for k, item in enumerate(items)))
    return statuses


def webhook_items(team: Team, plan: list[Planned], text: Callable[[Planned], str]) -> list[tuple[int, str, str, bytes]]:
    return [(m.index, team.webhook_paths[m.inbox], NUMBERS[m.inbox][2], webhook_body(m, text(m))) for m in plan]


async def post_in_thread(
    base: str, items: list[tuple[int, str, str, bytes]], rate: float
) -> tuple[dict[int, float], dict[int, int]]:
    """The customers post from their own thread and event loop, so the sockets' work never delays them."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[dict[int, int]] = loop.create_future()
    sent: dict[int, float] = {}
    stop = threading.Event()

    def settle(outcome: Callable[[], Any]) -> None:
        with contextlib.suppress(RuntimeError):  # this loop closed meanwhile (interrupted)
            loop.call_soon_threadsafe(lambda: done.done() or outcome())

    def run() -> None:
        try:
            statuses = asyncio.run(post_at_rate(base, items, rate, sent, stop))
        except BaseException as exc:
            error = exc
            settle(lambda: done.set_exception(error))
        else:
            settle(lambda: done.set_result(statuses))

    # A daemon: an interrupted run stops its servers without waiting for the remaining posts.
    threading.Thread(target=run, name="customers", daemon=True).start()
    try:
        return sent, await done
    finally:
        stop.set()


# --- one agent's browser ---------------------------------------------------------------------------


class PageHttp:
    """The HTTP/1.1 keep-alive client of one agent's browser: at most 6 connections to the host
    (as browsers), the session cookie on each request. Like ``bench.common.RawHttpPool``, it only
    writes the request and reads the answer, so the figures measure the server."""

    MAX_CONNECTIONS = 6

    def __init__(self, base: str, cookie: str) -> None:
        parts = urlsplit(base)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.cookie = cookie
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self._slots = asyncio.Semaphore(self.MAX_CONNECTIONS)

    async def get(self, path: str) -> tuple[int, bytes]:
        """GET ``path``; returns the status and body (status 0 when the server could not be reached)."""
        async with self._slots:
            # A kept-alive connection the server closed meanwhile is retried once on a new one, as browsers do.
            for reused in (True, False):
                if reused and not self._idle:
                    continue
                try:
                    conn = self._idle.pop() if reused else await asyncio.open_connection(self.host, self.port)
                except OSError:
                    return 0, b""
                try:
                    status, body, keep = await self._exchange(*conn, path)
                except (OSError, ValueError, IndexError, asyncio.IncompleteReadError):
                    conn[1].close()
                    continue
                if keep:
                    self._idle.append(conn)
                else:
                    conn[1].close()
                return status, body
            return 0, b""

    async def _exchange(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, path: str
    ) -> tuple[int, bytes, bool]:
        head = (
            f"GET {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nCookie: {self.cookie}\r\n"
            "Accept: application/json\r\n\r\n"
        )
        writer.write(head.encode("latin-1"))
        status_line = await reader.readline()
        if not status_line:
            raise ConnectionResetError("closed by the server")
        status = int(status_line.split(b" ", 2)[1])
        length, chunked, keep = 0, False, True
        while True:
            line = await reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.partition(b":")
            name, value = name.strip().lower(), value.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value:
                chunked = True
            elif name == b"connection" and value == b"close":
                keep = False
        if not chunked:
            return status, (await reader.readexactly(length)) if length else b"", keep
        parts = []
        while size := int((await reader.readline()).split(b";")[0], 16):
            parts.append(await reader.readexactly(size))
            await reader.readline()
        await reader.readline()
        return status, b"".join(parts), keep

    def close(self) -> None:
        for _reader, writer in self._idle:
            writer.close()
        self._idle.clear()


class PageReplay:
    """The requests one agent's inbox page makes after its live events (static/js/inbox/realtime.js
    and list.js). The page shows the list (tab "all", default filters) with no conversation open.

    * An event about a conversation's row (message.created, message.updated, conversation.updated)
      without a rendered ``"row"``: the row is re-read by id (``refreshRows``),
      debounced 60 ms, the ids of the burst in one request (at most 100).
    * With a ``"row"`` key: the page places (or removes) the row it was given, and asks nothing.
    * ``resync``, and a socket opened again after a close: the list is read again (``reloadList``).
    * ``{"type": "batch", "events": [...]}``: each event in turn.

    list.js starts the next debounce when the previous one fires, not when it is answered, so a
    page under a steady stream of events may have several rows requests in flight;
    ``ROWS_ONE_AT_A_TIME`` waits for the answer instead.
    """

    # "conversation.hidden" removes the row and moves the counts from the event itself.
    ROW_EVENTS = frozenset({"message.created", "message.updated", "conversation.updated"})
    DEBOUNCE_S = 0.060
    ROWS_PER_REQUEST = 100
    ROWS_ONE_AT_A_TIME = False
    # currentFilters(): the tab, then the filter form's non-empty fields in their order (q, status, sort, ...).
    FILTERS = {"tab": "all", "status": "open", "sort": "activity"}

    def __init__(self, http: PageHttp, inbox_path: str, on_answer: Callable[[str, int, bytes], None]) -> None:
        self.http = http
        self.inbox_path = inbox_path  # /t/<slug>/inbox/
        self.on_answer = on_answer
        self.requests: dict[str, int] = {"rows": 0, "list": 0}
        self._pending: dict[int, None] = {}  # insertion-ordered, as the page's Set
        self._timer: asyncio.TimerHandle | None = None
        self._rows_in_flight = False
        self._tasks: set[asyncio.Task[None]] = set()

    def handle(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "batch":
            for each in event.get("events") or []:
                self.handle(each)
        elif kind == "resync":
            self.reload_list()
        elif kind in self.ROW_EVENTS and "row" not in event and not event.get("row_sent"):
            conversation_id = (event.get("conversation") or {}).get("id")
            if conversation_id is not None:
                self.refresh_rows([conversation_id])

    def reconnected(self) -> None:
        self.reload_list()

    def reload_list(self) -> None:
        self._spawn(self._get("list", self.FILTERS))

    def refresh_rows(self, ids: list[int]) -> None:
        for conversation_id in ids:
            self._pending[conversation_id] = None
        if self._timer is not None or (self.ROWS_ONE_AT_A_TIME and self._rows_in_flight):
            return
        self._timer = asyncio.get_running_loop().call_later(self.DEBOUNCE_S, self._rows_due)

    def _rows_due(self) -> None:
        self._timer = None
        batch = list(self._pending)[: self.ROWS_PER_REQUEST]
        for conversation_id in batch:
            del self._pending[conversation_id]
        self._rows_in_flight = True
        self._spawn(self._rows(batch))

    async def _rows(self, batch: list[int]) -> None:
        ok = await self._get("rows", {**self.FILTERS, "ids": ",".join(map(str, batch))})
        self._rows_in_flight = False
        if ok and self._pending:
            self.refresh_rows([])

    async def _get(self, what: str, params: dict[str, str]) -> bool:
        self.requests[what] += 1
        status, body = await self.http.get(f"{self.inbox_path}{what}/?{urlencode(params)}")
        self.on_answer(what, status, body)
        return status == 200

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        for task in list(self._tasks):
            task.cancel()


class AgentPage:
    """One agent's open inbox: its WebSocket (reconnecting as realtime.js does) and its follow-up requests."""

    def __init__(self, agent: Agent, base: str, slug: str) -> None:
        self.agent = agent
        self.ws_url = base.replace("http://", "ws://", 1) + f"/ws/t/{slug}/"
        self.origin = base  # the page's own origin, as the browser sends it
        self.http = PageHttp(base, agent.cookie)
        self.replay = PageReplay(self.http, f"/t/{slug}/inbox/", self.on_answer)
        self.seen: dict[int, float] = {}  # marker number -> first arrival (s)
        self.leaked: set[int] = set()  # inbox A markers that reached a restricted agent
        self.frames = self.frame_bytes = self.events = self.reconnects = self.fetch_errors = 0
        self.live = asyncio.Event()  # set at the first frame (hello), or when the first connection failed
        self.ws: Any = None
        self.failure = ""

    def on_answer(self, what: str, status: int, body: bytes) -> None:
        if status != 200:
            self.fetch_errors += 1
        if self.agent.restricted:
            self.leaked.update(int(m[2]) for m in MARKER.finditer(body) if m[1] == b"A")

    def on_frame(self, data: bytes) -> None:
        now = time.time()
        self.frames += 1
        self.frame_bytes += len(data)
        for m in MARKER.finditer(data):
            number = int(m[2])
            if m[1] == b"A" and self.agent.restricted:
                self.leaked.add(number)
            self.seen.setdefault(number, now)
        try:
            event = json.loads(data)
        except ValueError:
            return
        self.events += len(event.get("events") or []) if event.get("type") == "batch" else 1
        self.replay.handle(event)

    async def run(self) -> None:
        from websockets.asyncio.client import connect
        from websockets.exceptions import ConnectionClosed, InvalidHandshake

        retry_delay, opened_once = 0.5, False
        while True:
            try:
                async with connect(
                    self.ws_url,
                    additional_headers={"Cookie": self.agent.cookie, "Origin": self.origin},
                    proxy=None,
                    ping_interval=None,
                    max_size=None,
                    max_queue=4096,
                    open_timeout=30,
                ) as ws:
                    self.ws = ws
                    retry_delay = 0.5
                    if opened_once:
                        self.reconnects += 1
                        self.replay.reconnected()
                    opened_once = True
                    while True:
                        data = await ws.recv(decode=False)
                        if not self.live.is_set():
                            if b'"hello"' not in data:
                                self.failure = f"first frame is not hello: {data[:80]!r}"
                            self.live.set()
                        self.on_frame(data)
            except (ConnectionClosed, InvalidHandshake, OSError, TimeoutError) as exc:
                if not self.live.is_set():
                    self.failure = f"{type(exc).__name__}: {exc}"
                    self.live.set()
                    return
            await asyncio.sleep(retry_delay)
            retry_delay = min(retry_delay * 2, 10.0)


# --- a round ---------------------------------------------------------------------------------------


def log_sizes(paths: list[Path]) -> dict[Path, int]:
    return {p: p.stat().st_size if p.exists() else 0 for p in paths}


def log_problems_since(offsets: dict[Path, int]) -> list[str]:
    lines = []
    for path, offset in offsets.items():
        with path.open("rb") as f:
            f.seek(offset)
            text = f.read().decode(errors="replace")
        lines += [f"{path.stem}: {line}" for line in text.splitlines() if LOG_PROBLEM.search(line)]
    return lines


async def reconnect_storm(
    pages: list[AgentPage], base: str, team: Team, plan: list[Planned], web: int
) -> dict[str, Any]:
    """A deploy's reconnects: every socket is dropped at once and opens again (0.5 s later, as realtime.js
    retries); then all must be subscribed (Redis inspected) and receive what customers write next."""
    import redis
    from channels.layers import get_channel_layer
    from django.conf import settings

    before = {id(p): p.reconnects for p in pages}
    lists_before = sum(p.replay.requests["list"] for p in pages)
    started = time.monotonic()
    await asyncio.gather(*(p.ws.close() for p in pages if p.ws is not None))
    while any(p.reconnects == before[id(p)] for p in pages) and time.monotonic() - started < 30:
        await asyncio.sleep(0.05)
    reconnected_s = time.monotonic() - started
    await asyncio.sleep(AUDIENCE_SETTLE_S)  # every hello's groups joined
    prefix = get_channel_layer()._kwargs["prefix"]  # type: ignore[union-attr]
    client = redis.Redis.from_url(settings.REDIS_URL)
    sockets_subscribed = len(client.pubsub_channels(f"{prefix}specific.*"))
    [(_name, all_group)] = client.pubsub_numsub(f"{prefix}__group__t{team.tenant_id}.all")
    client.close()
    items = webhook_items(team, plan, text_of)
    sent, _statuses = await post_in_thread(base, items, 20)
    last_post = max(sent.values(), default=time.time())
    expected = {id(p): {m.index for m in plan if not p.agent.restricted or m.inbox == "B"} for p in pages}
    while time.time() < last_post + SHOW_TIMEOUT_S and not all(expected[id(p)] <= p.seen.keys() for p in pages):
        await asyncio.sleep(0.1)
    missed = sum(len(expected[id(p)] - p.seen.keys()) for p in pages)
    return {
        "list_fetches": sum(p.replay.requests["list"] for p in pages) - lists_before,  # one per reconnect
        "sockets": len(pages),
        "reconnected": sum(1 for p in pages if p.reconnects > before[id(p)]),
        "reconnected_within_s": round(reconnected_s, 2),
        "sockets_subscribed_in_redis": sockets_subscribed,
        "stale_subscriptions": sockets_subscribed - len(pages),
        "processes_subscribed_to_all": int(all_group),
        "web_processes": web,
        "missed_after": missed,
    }


async def run_round(
    *,
    base: str,
    team: Team,
    agents: list[Agent],
    plan: list[Planned],
    rate: float,
    logs: list[Path],
    storm: list[Planned] | None = None,
    web: int = 1,
) -> dict[str, Any]:
    pages = [AgentPage(agent, base, team.slug) for agent in agents]
    tasks: list[asyncio.Task[None]] = []
    try:
        connect_started = time.monotonic()
        gate = asyncio.Semaphore(25)  # the handshakes in small waves: the page loads of a team arriving

        async def open_page(page: AgentPage) -> None:
            async with gate:
                tasks.append(asyncio.create_task(page.run()))
                await asyncio.wait_for(page.live.wait(), 60)

        await asyncio.gather(*(open_page(p) for p in pages))
        failures = [f"{p.agent.label}: {p.failure}" for p in pages if p.failure]
        if failures:
            raise RuntimeError(f"{len(failures)} sockets did not open: {failures[:3]}")
        connect_s = time.monotonic() - connect_started
        await asyncio.sleep(max(0.0, AUDIENCE_SETTLE_S - connect_s))

        items = webhook_items(team, plan, text_of)
        offsets = log_sizes(logs)
        cpu_before = resource.getrusage(resource.RUSAGE_SELF)
        sent, statuses = await post_in_thread(base, items, rate)
        last_post = max(sent.values(), default=time.time())

        expected = {id(p): {m.index for m in plan if not p.agent.restricted or m.inbox == "B"} for p in pages}

        def all_seen() -> bool:
            return all(expected[id(p)] <= p.seen.keys() for p in pages)

        while not all_seen() and time.time() < last_post + SHOW_TIMEOUT_S:
            await asyncio.sleep(0.1)
        cpu_after = resource.getrusage(resource.RUSAGE_SELF)
        # Whatever the servers still log about this round's events.
        await asyncio.sleep(0.5)
        problems = log_problems_since(offsets)
        # The round's requests; the storm's own (a list per reconnect) are reported with the storm.
        round_requests = {id(p): dict(p.replay.requests) for p in pages}
        storm_figures = await reconnect_storm(pages, base, team, storm, web) if storm else None
    finally:
        for page in pages:
            page.replay.stop()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for page in pages:
            page.http.close()

    latencies: list[float] = []
    missed = 0
    for page in pages:
        for number in expected[id(page)]:
            at = page.seen.get(number)
            delay = None if at is None or number not in sent else at - sent[number]
            if delay is None or delay > SHOW_TIMEOUT_S:
                missed += 1
            else:
                latencies.append(delay * 1000)
    fetches = sum(sum(round_requests[id(p)].values()) for p in pages)
    sockets = len(pages)
    restricted_pages = [p for p in pages if p.agent.restricted]
    n = sockets - len(restricted_pages)
    expected_total = sum(len(e) for e in expected.values())

    def per_kind(kind: str) -> int:
        return sum(round_requests[id(p)][kind] for p in pages)

    return {
        "n": n,
        "restricted": len(restricted_pages),
        "sockets": sockets,
        "messages": len(plan),
        "messages_b": sum(1 for m in plan if m.inbox == "B"),
        "accepted": sum(1 for s in statuses.values() if s == 200),
        "expected": expected_total,
        "received": len(latencies),
        "missed": missed,
        "p50_ms": round(percentile(latencies, 50), 1),
        "p95_ms": round(percentile(latencies, 95), 1),
        "max_ms": round(max(latencies, default=0.0), 1),
        "fetches": fetches,
        "fetches_rows": per_kind("rows"),
        "fetches_list": per_kind("list"),
        "fetch_errors": sum(p.fetch_errors for p in pages),
        "fetches_per_msg_per_agent": round(fetches / (len(plan) * sockets), 4) if plan else 0.0,
        "hidden_leaks": sum(len(p.leaked) for p in restricted_pages),
        "dropped_over_capacity": len(problems),
        "log_samples": problems[:5],
        "reconnects": sum(p.reconnects for p in pages),
        "frames": sum(p.frames for p in pages),
        "events": sum(p.events for p in pages),
        "frame_mb": round(sum(p.frame_bytes for p in pages) / 1e6, 2),
        "client_cpu_s": round(cpu_after.ru_utime + cpu_after.ru_stime - cpu_before.ru_utime - cpu_before.ru_stime, 2),
        **({"reconnect_storm": storm_figures} if storm_figures else {}),
    }


TABLE = [
    ("N", "n", 5),
    ("+restr", "restricted", 6),
    ("msgs", "messages", 5),
    ("expected", "expected", 9),
    ("received", "received", 9),
    ("missed", "missed", 7),
    ("p50 ms", "p50_ms", 8),
    ("p95 ms", "p95_ms", 8),
    ("max ms", "max_ms", 8),
    ("fetches", "fetches", 8),
    ("f/msg/agent", "fetches_per_msg_per_agent", 11),
    ("leaks", "hidden_leaks", 5),
    ("dropped", "dropped_over_capacity", 7),
    ("reconn", "reconnects", 6),
    ("client cpu", "client_cpu_s", 10),
]


def print_round(figures: dict[str, Any]) -> None:
    print(" ".join(f"{title:>{width}}" for title, _key, width in TABLE))
    print(" ".join(f"{figures[key]!s:>{width}}" for _title, key, width in TABLE))
    print(
        f"  accepted {figures['accepted']}/{figures['messages']} webhooks ({figures['messages_b']} to inbox B); "
        f"fetches: {figures['fetches_rows']} rows, {figures['fetches_list']} list, {figures['fetch_errors']} not 200; "
        f"{figures['events']} events in {figures['frames']} frames ({figures['frame_mb']} MB)"
    )
    for line in figures["log_samples"][:3]:
        print(f"  log: {line[:160]}")
    if "reconnect_storm" in figures:
        print(f"  reconnect storm: {figures['reconnect_storm']}")
    print(flush=True)


def raise_open_files_limit(wanted: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="N = 1, 25, 100 for 6 s each (under 120 s in all)")
    parser.add_argument("--web-processes", type=int, choices=(1, 2), default=1, help="uvicorn worker processes")
    parser.add_argument("--agents", default=None, help="the N of each round (default 1,25,100,250; quick 1,25,100)")
    parser.add_argument("--rate", type=float, default=20.0, help="customer messages per second")
    parser.add_argument("--seconds", type=float, default=None, help="how long customers write (default 20, quick 6)")
    args = parser.parse_args()
    stop_children_on_sigterm()
    sizes = [int(x) for x in (args.agents or ("1,25,100" if args.quick else "1,25,100,250")).split(",") if x.strip()]
    if not sizes or min(sizes) < 1:
        parser.error("--agents takes positive numbers, e.g. 1,25,100")
    seconds = args.seconds or (6.0 if args.quick else 20.0)
    count = int(args.rate * seconds)
    # Each socket, plus up to 6 page connections per agent; the servers started below inherit it.
    raise_open_files_limit(max(8192, 16 * (max(sizes) + restricted_count(max(sizes))) + 1024))

    database = fresh_database("bench_livescale")
    redis_url = f"{REDIS_BASE}/9"
    flush_redis(redis_url)
    env = process_env(database, redis_url)
    migrate(env)
    django_setup(env)

    from conversations.models import Message

    team = team_create(view_all=max(sizes), restricted=restricted_count(max(sizes)))
    log_dir = Path(tempfile.mkdtemp(prefix="bench-livescale-"))
    logs = [log_dir / "web.log", log_dir / "worker.log"]
    rounds: list[dict[str, Any]] = []
    with ExitStack() as stack:
        base = start_web(stack, env, log_dir, workers=args.web_processes)
        # The worker is on the measured path (webhook -> stored -> event): not deprioritised.
        start_worker(stack, env, log_dir, concurrency=2, nice=0)

        # Warm-up (not measured): every code path of both inboxes has run once.
        team_activate(team, n=1)
        warm = plan_messages(0, 20)
        items = webhook_items(team, warm, lambda m: f"Aquecimento {m.index}")
        _sent, statuses = asyncio.run(post_in_thread(base, items, 20))
        assert set(statuses.values()) == {200}, statuses
        wait_until(lambda: Message.objects.filter(tenant_id=team.tenant_id).count() >= len(warm), timeout=60)
        print(
            f"servers at {base} ({args.web_processes} web process(es), 1 worker); "
            f"{count} messages at {args.rate:g}/s for {seconds:g} s per round; logs in {log_dir}",
            flush=True,
        )

        for k, n in enumerate(sizes):
            agents = team_activate(team, n=n)
            plan = plan_messages((k + 1) * 1_000_000, count)
            print(f"round {k + 1}: {n} agents who see all + {restricted_count(n)} restricted", flush=True)
            # After the largest round, a deploy's reconnect storm, then 100 more messages.
            storm = plan_messages((k + 1) * 1_000_000 + 500_000, 100) if n == max(sizes) else None
            figures = asyncio.run(
                run_round(
                    base=base,
                    team=team,
                    agents=agents,
                    plan=plan,
                    rate=args.rate,
                    logs=logs,
                    storm=storm,
                    web=args.web_processes,
                )
            )
            figures["stored"] = Message.objects.filter(
                tenant_id=team.tenant_id, external_id__in=[external_id(m) for m in plan]
            ).count()
            rounds.append(figures)
            print_round(figures)

    summary: dict[str, Any] = {
        "mode": "quick" if args.quick else "full",
        "web_processes": args.web_processes,
        "rate_per_s": args.rate,
        "seconds": seconds,
        "missed_total": sum(r["missed"] for r in rounds),
        "fetches_per_msg_per_agent": max(r["fetches_per_msg_per_agent"] for r in rounds),
        "dropped_over_capacity": sum(r["dropped_over_capacity"] for r in rounds),
        "hidden_leaks": sum(r["hidden_leaks"] for r in rounds),
        "reconnect_storm": next((r["reconnect_storm"] for r in rounds if "reconnect_storm" in r), None),
        "rounds": rounds,
    }
    for r in rounds:
        for q in ("p50", "p95", "max"):
            summary[f"{q}_ms_n{r['n']}"] = r[f"{q}_ms"]
    report(summary)


if __name__ == "__main__":
    main()
