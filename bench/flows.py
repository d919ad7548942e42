"""Bot flows: customers recharging their transit cards with the bot at once, a worker killed mid-run.

Processes: the fake Cloud API, the fake PSP (API Pix, its demo receiver), the fake transit operator, uvicorn
(two processes), one Celery worker (four processes, ``nice 10``) and beat, PostgreSQL and Redis. One workspace
with one WhatsApp number, an API Pix account at the fake PSP (whose webhook the product registers there,
``pix_webhook_ensure``), the ready-made "transit recharge" flow installed, turned on and given the workspace's
key at the operator; each customer has a phone number and a card of their own at the operator.

    python bench/flows.py [--quick]

Each customer writes "recarregar" (the flow's keyword), then their card's number, then chooses "R$ 20" (an
interactive button reply) and "Pix" (another). The bot asks for the card, looks it up at the operator and asks
for the amount, asks how to pay, and sends the Pix payment request; the customer pays that charge at the fake
PSP (``/_fake/pix/pay``) once the request reached the fake Cloud API, the PSP posts its webhook to the product,
and the bot credits the card at the operator and sends the receipt. A customer is done when the receipt
reached the fake Cloud API.

1. **Setup** (not measured): each customer's first message is written through the fake Cloud API
   (``/_fake/inbound``, while the number has no webhook address: their reply window opens there); the
   benchmark posts it itself, signed, when its turn comes. Then the number's webhook address is the product's
   (the fake's status webhooks come back into it).
2. **Run**: webhooks posted open loop at ``--rate`` (50) per second; each customer's next message is posted
   only after the bot's reply to their previous one reached the fake (the benchmark sees the reply's wamid
   stored, polling the database every 50 ms), in the order they became ready (all first messages are ready
   at the start: every customer is in the flow at once). A slot with nothing ready is skipped, not made up
   later. After ``--kill-at`` (40 %) of the posts the Celery worker is killed (SIGKILL to its process group,
   mid-work) and a new one started.
3. **Settle**: until every customer is done, or nothing moved for ``--stall-cap`` seconds (quick 45, full
   420), or the run's cap is over (quick: what is left of 85 s once set up; ``--run-cap``).

``--quick`` (40 customers) compresses how soon a dead worker's work comes back (``--recovery compressed``,
as the crash tests do): the jobs it held are handed out again 10 s after they were taken
(``CELERY_VISIBILITY_TIMEOUT=10``, the broker looking every second: ``BENCH_CELERY_RESTORE_SECONDS=1``, read
by ``bench/settings.py``) and a send it had claimed is looked at again after 20 s
(``DELIVERY_SEND_LEASE_SECONDS=20``). With the product's settings (the full run) a job it held comes back
after 600 s (and up to 100 s more), its subscriber's drain key lets a new job start after 60 s, but only when
another event for that subscriber is recorded, the events sweeper hands over deliveries pending for 300 s
(every 60 s), and a claimed send waits 180 s: each longer than a quick run. Jobs running longer than the
visibility timeout are handed out a second time too (the drains are made for that), so the quick run's
figures after the kill are not the product's.

Figures (the last line printed is one JSON object):

- ``step_p50_ms`` / ``step_p95_ms`` / ``step_p99_ms`` / ``step_max_ms``: per customer message, from its row's
  ``created_at`` (stored by ingest) to the arrival at the fake Cloud API of the bot's reply to it (the first
  message of the conversation sent after it; the fake stamps each request as it comes in; one machine, one
  clock); target p95 ≤ 500 ms. Per step too (``step_start``, ``step_card``, ``step_amount``, ``step_pix``:
  the reply to "Pix" is the payment request). A message not answered (or not even stored) when the run
  stopped waiting counts as having waited until then (from its post when not stored), and
  ``latency_lower_bound`` is true.
- ``part_ingest`` / ``part_flow`` / ``part_send`` (p50, p95): where a step's time went: the webhook's
  scheduled post → the message stored, stored → the bot's reply written (the event's delivery to the flow),
  written → at the fake (the send job).
- ``steady_*`` and ``kill_*``: the same latencies split by the kill. Its window runs from the kill until the
  last reply to a message that was on its way at the kill or posted while no worker ran reached the fake
  (``recovered_s`` after the kill); a message posted before the window's end and answered after its start is
  the kill's. ``worker_killed_at_s`` (into the run), ``worker_restarted_s`` (until the new one was ready).
- ``paid_p50_ms`` / ``paid_p95_ms``: from the payer's payment at the PSP to the receipt at the fake (the PSP's
  webhook, the payment recorded, the flow resumed, the card credited, the receipt sent).
- ``sessions`` (flow sessions started), ``completed``, ``customers``, ``done`` (receipts at the fake),
  ``settled`` (every customer done); ``lost_sessions``: customers whose session is not completed at the end
  (target 0); when the run stopped waiting they may only be late: ``unfinished_sessions``, and
  ``lost_sessions`` is null.
- ``double_credits``: credits at the operator beyond one per customer's card (target 0);
  ``uncredited_cards``, ``wrong_amount_credits``.
- ``double_replies``: bot messages sharing a (conversation, idempotency key), messages handed to the fake
  (answered 200) more than once, and a session's flow messages beyond the four it calls for or payment
  requests beyond one (target 0).
- ``watcher_missed``: sent messages the benchmark never saw (its own check; 0).
- ``webhooks_posted``, ``webhooks_per_s`` (achieved over the posting), ``webhook_non_200``, ``webhook_reposts``
  (posts made again after uvicorn closed an idle connection), ``load_avg_start`` / ``load_avg_end`` (the
  host's 1-minute load average), ``started_at``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict, deque
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    REDIS_BASE,
    VENV_BIN,
    RawHttpPool,
    django_setup,
    flush_redis,
    migrated_database,
    percentile,
    process_env,
    report,
    start,
    start_web,
    start_worker,
    stop_children_on_sigterm,
    text_message_payload,
    wait_until,
)
from tests.e2e.harness import ServerProcess, free_port, url_returns_ok

PNID = "940000000000001"
WABA = "940000000000002"
DISPLAY = "5511900008888"
TOKEN = "bench-flows-token"
APP_SECRET = "bench-flows-secret"
# The fake PSP's demo receiver (payments/fake/__main__.py).
PIX_CLIENT_ID, PIX_CLIENT_SECRET = "demo-pix-client", "demo-pix-secret"
PIX_KEY = "2a5c4f1e-9b3d-4c7a-8e6f-1d2b3c4d5e6f"
TRANSIT_KEY = "bench-flows-transit-key"
AMOUNT = 2000  # the "R$ 20" button
# What each customer writes, in order: (kind, text, button id).
SCRIPT = (
    ("start", "recarregar", ""),
    ("card", "", ""),  # their card's number
    ("amount", "R$ 20", "r20"),
    ("pix", "Pix", "pix"),
)
FLOW_MESSAGES = 4  # ask_card, ask_amount, ask_method, receipt
POLL_S = 0.05
# ``--recovery compressed`` (quick): a dead worker's jobs are handed out again 10 s after they were taken (the
# broker looks every second), and a send it had claimed is looked at again after 20 s.
COMPRESSED_RECOVERY = {
    "CELERY_VISIBILITY_TIMEOUT": "10",
    "BENCH_CELERY_RESTORE_SECONDS": "1",
    "DELIVERY_SEND_LEASE_SECONDS": "20",
}
LOG = ("--log-level", "warning")


@dataclass
class Customer:
    index: int
    phone: str
    card: str
    name: str
    first: dict[str, Any]  # the first message's webhook, as the fake wrote it
    posted: int = 0  # messages posted so far
    flow_replies: int = 0
    payment_requests: int = 0
    last_wamid: str = ""  # the bot's latest message (the buttons' context)
    paid_at: float | None = None
    done_at: float | None = None
    seen: set[int] = field(default_factory=set)


# --- setup -----------------------------------------------------------------------------------------------


def workspace_setup(owner_email: str, cap: int) -> tuple[Any, Any, Any, Any]:
    """The workspace, its number, its API Pix account and the recharge flow (on, with the operator's key)."""
    from flows.services import FlowSpec, flow_settings_save, flow_update, template_install
    from payments.accounts import payment_account_save
    from tenants.models import User
    from tenants.services import tenant_create
    from tests.factories import owner_of
    from whatsapp.services import channel_create

    user = User.objects.create_user(email=owner_email, password="x" * 12)
    tenant = tenant_create(name="Recarga Fácil", owner=user)
    owner = owner_of(tenant)
    channel = channel_create(
        actor=owner,
        name="Recargas",
        display_phone_number=DISPLAY,
        phone_number_id=PNID,
        waba_id=WABA,
        access_token=TOKEN,
        app_secret=APP_SECRET,
        verify=False,
        throughput_per_second=cap,
    )
    account = payment_account_save(
        actor=owner,
        tenant=tenant,
        kind="bcb_pix",
        values={
            "provider": "fake",
            "pix_key": PIX_KEY,
            "pix_key_type": "EVP",
            "client_id": PIX_CLIENT_ID,
            "merchant_name": "RECARGA FACIL",
        },
        secrets={"client_secret": PIX_CLIENT_SECRET},
    )
    flow_settings_save(membership=owner, transit_api_key=TRANSIT_KEY)
    flow = template_install(membership=owner, key="transit_recharge", inbox_id=channel.inbox_id)
    spec = FlowSpec(
        name=flow.name,
        inbox_id=flow.inbox_id,
        enabled=True,
        trigger_keywords=list(flow.trigger_keywords),
        timeout_minutes=flow.timeout_minutes,
    )
    flow = flow_update(membership=owner, flow=flow, spec=spec)
    return tenant, channel, account, flow


def transit_config(path: Path, customers: list[Customer]) -> None:
    """The operator's key and one card per customer (R$ 5,00 on it), for ``python -m flows.fake --config``."""
    cards = [{"number": c.card, "holder_name": c.name, "balance": 500} for c in customers]
    path.write_text(json.dumps({"api_keys": [{"key": TRANSIT_KEY, "name": "Bench"}], "cards": cards}))


async def open_windows(fake_url: str, customers: list[Customer]) -> list[dict[str, Any]]:
    """Each customer's first message written through the fake (no webhook address yet): their window opens
    there; returns the webhooks the fake would have sent, which the benchmark posts itself."""
    import httpx

    async with httpx.AsyncClient(base_url=fake_url, timeout=60) as client:
        semaphore = asyncio.Semaphore(16)

        async def one(customer: Customer) -> dict[str, Any]:
            async with semaphore:
                answer = await client.post(
                    "/_fake/inbound",
                    json={
                        "phone_number_id": PNID,
                        "from": customer.phone,
                        "name": customer.name,
                        "type": "text",
                        "text": SCRIPT[0][1],
                    },
                )
                answer.raise_for_status()
                return dict(answer.json()["webhook"])

        return await asyncio.gather(*(one(c) for c in customers))


def button_payload(customer: Customer, *, wamid: str, button: str, title: str, context: str) -> dict[str, Any]:
    """A tap on one of the bot's reply buttons, as Meta's webhook delivers it."""
    message: dict[str, Any] = {
        "from": customer.phone,
        "id": wamid,
        "timestamp": str(int(time.time())),
        "type": "interactive",
        "interactive": {"type": "button_reply", "button_reply": {"id": button, "title": title}},
    }
    if context:
        message["context"] = {"from": DISPLAY, "id": context}
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": DISPLAY, "phone_number_id": PNID},
        "contacts": [{"profile": {"name": customer.name}, "wa_id": customer.phone}],
        "messages": [message],
    }
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": WABA, "changes": [{"field": "messages", "value": value}]}],
    }


def body_of(customer: Customer, step: int) -> bytes:
    """The customer's ``step``-th message, signed later."""
    from whatsapp.signature import encode_like_meta

    kind, text, button = SCRIPT[step]
    wamid = f"wamid.bench-flows-{customer.index:06d}-{step}"
    if kind == "start":
        payload = customer.first
    elif button:
        payload = button_payload(customer, wamid=wamid, button=button, title=text, context=customer.last_wamid)
    else:
        spaced = f"{customer.card[:4]} {customer.card[4:8]} {customer.card[8:]}"
        payload = text_message_payload(
            waba_id=WABA,
            phone_number_id=PNID,
            display_phone_number=DISPLAY,
            customer=customer.phone,
            name=customer.name,
            wamid=wamid,
            text=spaced,
        )
    return encode_like_meta(payload)


# --- watching what the bot sent --------------------------------------------------------------------------


class SentWatcher(threading.Thread):
    """Polls the database for the inbox's outbound messages that reached the fake (their wamid stored) and
    hands each, once, to ``on_sent(customer phone, row)`` on the event loop. Payment requests carry their
    charge's txid.

    Ids are handed out in insert order but committed in any order (a delivery job's transaction takes up to
    a hundred steps, calling the PSP, while other jobs commit later messages), and a committed message is sent
    later, so each poll looks back over every id above the floor: the newest id it had seen, below any message
    then not sent yet, before the oldest transaction still open on the database began (a row not yet
    committed got its id after its transaction began)."""

    def __init__(self, inbox_id: int, loop: asyncio.AbstractEventLoop, on_sent: Any) -> None:
        super().__init__(daemon=True)
        self.inbox_id, self.loop, self.on_sent = inbox_id, loop, on_sent
        self.stopping = threading.Event()
        self.floor = 0
        self.seen: deque[tuple[float, int]] = deque()  # (when, the newest id seen then)
        self.handed: set[int] = set()
        self.ever_handed: set[int] = set()  # for the check at the end: none may have been missed
        self.phones: dict[int, str] = {}
        self.polls = 0

    def run(self) -> None:
        from django.db import connection

        try:
            while not self.stopping.is_set():
                self.poll()
                self.stopping.wait(POLL_S)
        finally:
            connection.close()

    def poll(self) -> None:
        from django.db import connection

        from conversations.models import Conversation, Message
        from payments.models import PaymentRequest

        self.polls += 1
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT extract(epoch FROM min(xact_start)), extract(epoch FROM clock_timestamp())"
                " FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid() AND xact_start IS NOT NULL"
            )
            oldest, now = cursor.fetchone()
        # Every transaction open at a moment before ``oldest`` has ended: its rows are in the read below.
        oldest = float(oldest if oldest is not None else now)
        found = list(
            Message.objects.filter(inbox_id=self.inbox_id, direction="out", private=False, pk__gt=self.floor)
            .exclude(type="system")
            .values_list("pk", "external_id", "status")
        )
        new = [pk for pk, external_id, _status in found if external_id and pk not in self.handed]
        if new:
            rows = list(
                Message.objects.filter(pk__in=new)
                .order_by("pk")
                .values("pk", "conversation_id", "type", "idempotency_key", "external_id")
            )
            unknown = {r["conversation_id"] for r in rows} - set(self.phones)
            if unknown:
                for pk, phone in Conversation.objects.filter(pk__in=unknown).values_list("pk", "contact__phone_e164"):
                    self.phones[pk] = (phone or "").lstrip("+")
            asked = [r["pk"] for r in rows if r["type"] == "payment_request"]
            txids = dict(PaymentRequest.objects.filter(message_id__in=asked).values_list("message_id", "charge_id"))
            for values in rows:
                row: dict[str, Any] = {**values, "txid": txids.get(values["pk"], "")}
                self.handed.add(row["pk"])
                self.ever_handed.add(row["pk"])
                self.loop.call_soon_threadsafe(self.on_sent, self.phones.get(row["conversation_id"], ""), row)
        with connection.cursor() as cursor:
            cursor.execute("SELECT extract(epoch FROM clock_timestamp())")
            (after,) = cursor.fetchone()  # later than the read: a transaction begun since gives greater ids
        self.seen.append((float(after), max((pk for pk, _e, _s in found), default=self.floor)))
        # Committed but not sent yet (queued, being sent): the floor stays below them.
        unsent = [pk for pk, external_id, status in found if not external_id and status != "failed"]
        cap = min(unsent) - 1 if unsent else None
        while self.seen and self.seen[0][0] < oldest:
            newest = self.seen.popleft()[1]
            self.floor = max(self.floor, newest if cap is None else min(newest, cap))
        self.handed = {pk for pk in self.handed if pk > self.floor}


# --- the run ---------------------------------------------------------------------------------------------


@dataclass
class Run:
    customers: list[Customer]
    by_phone: dict[str, Customer]
    web: str
    webhook_path: str
    psp_url: str
    rate: float
    kill_after: int | None
    kill: Any  # called in a thread once ``kill_after`` webhooks were posted
    stall_cap: float
    total_cap: float
    statuses: Counter[int] = field(default_factory=Counter)
    posted_at: dict[str, float] = field(default_factory=dict)  # wamid → when posted
    first_post: float = 0.0
    last_post: float = 0.0
    posts: int = 0
    unexpected: Counter[str] = field(default_factory=Counter)
    pay_errors: int = 0
    last_progress: float = 0.0


async def drive(run: Run, inbox_id: int) -> SentWatcher:
    """Post the customers' messages as their turns come, pay their charges, until all are done (or stalled)."""
    import httpx

    from whatsapp.signature import sign

    loop = asyncio.get_running_loop()
    ready: asyncio.Queue[Customer] = asyncio.Queue()
    for customer in run.customers:
        ready.put_nowait(customer)
    done = asyncio.Event()
    pending_posts: set[asyncio.Task[None]] = set()
    psp = httpx.AsyncClient(base_url=run.psp_url, timeout=30)
    run.last_progress = time.time()

    async def pay(customer: Customer, txid: str) -> None:
        customer.paid_at = time.time()
        body = {"txid": txid, "code": None, "amount": None, "times": 1, "force": False}
        answer = await psp.post("/_fake/pix/pay", json=body)
        if answer.status_code >= 400:
            run.pay_errors += 1
            print(f"pay {txid}: {answer.status_code} {answer.text[:200]}", flush=True)

    def on_sent(phone: str, row: dict[str, Any]) -> None:
        customer = run.by_phone.get(phone)
        if customer is None:
            run.unexpected["unknown_conversation"] += 1
            return
        run.last_progress = time.time()
        customer.last_wamid = row["external_id"]
        key = row["idempotency_key"] or ""
        if row["type"] == "payment_request":
            customer.payment_requests += 1
            if not row["txid"]:
                run.unexpected["payment_request_without_charge"] += 1
            elif customer.payment_requests == 1 and customer.posted == len(SCRIPT):
                task = loop.create_task(pay(customer, row["txid"]))
                pending_posts.add(task)
                task.add_done_callback(pending_posts.discard)
            elif customer.payment_requests > 1:
                run.unexpected["payment_request_again"] += 1
            return
        if not key.startswith("flow-"):
            return  # the order's status message (payments), not the bot's
        customer.flow_replies += 1
        if customer.flow_replies > FLOW_MESSAGES:
            run.unexpected["flow_message_extra"] += 1
            return
        if customer.flow_replies == FLOW_MESSAGES:
            customer.done_at = time.time()
            if all(c.done_at for c in run.customers):
                done.set()
            return
        if customer.flow_replies == customer.posted < len(SCRIPT):
            ready.put_nowait(customer)  # the reply to their last message: their next one
        else:
            run.unexpected["flow_message_out_of_turn"] += 1

    watcher = SentWatcher(inbox_id, loop, on_sent)
    watcher.start()

    async with RawHttpPool(run.web, 64) as pool:

        async def post(customer: Customer, body: bytes, wamid: str) -> None:
            headers = {"Content-Type": "application/json", "X-Hub-Signature-256": sign(body, APP_SECRET)}
            status = await pool.post(run.webhook_path, body, headers)
            for _retry in range(64):
                if status != 0:
                    break
                # The connection failed (uvicorn closes one idle for 5 s; the pool hands out the next one, as
                # old, and replaces the failed one): Meta would deliver it again.
                run.statuses[-1] += 1
                status = await pool.post(run.webhook_path, body, headers)
            run.statuses[status] += 1

        async def poster() -> None:
            next_at = time.perf_counter()
            killed = False
            while True:
                customer = await ready.get()
                now = time.perf_counter()
                next_at = max(next_at, now)
                if next_at > now:
                    await asyncio.sleep(next_at - now)
                step = customer.posted
                body = body_of(customer, step)
                wamid = json.loads(body)["entry"][0]["changes"][0]["value"]["messages"][0]["id"]
                customer.posted += 1
                run.posted_at[wamid] = time.time()
                if not run.posts:
                    run.first_post = time.time()
                run.posts += 1
                run.last_post = time.time()
                task = loop.create_task(post(customer, body, wamid))
                pending_posts.add(task)
                task.add_done_callback(pending_posts.discard)
                next_at += 1 / run.rate
                if not killed and run.kill_after is not None and run.posts >= run.kill_after:
                    killed = True
                    threading.Thread(target=run.kill, daemon=True).start()

        async def watchdog() -> None:
            began = time.time()
            while not done.is_set():
                await asyncio.sleep(0.5)
                now = time.time()
                if now - run.last_progress > run.stall_cap:
                    print(f"stopped waiting: nothing moved for {now - run.last_progress:.0f} s", flush=True)
                    done.set()
                elif now - began > run.total_cap:
                    print(f"stopped waiting: the run's {run.total_cap:.0f} s are over", flush=True)
                    done.set()

        tasks = [loop.create_task(poster()), loop.create_task(watchdog())]
        await done.wait()
        for task in tasks:
            task.cancel()
        if pending_posts:
            await asyncio.wait(list(pending_posts), timeout=30)
    await psp.aclose()
    watcher.stopping.set()
    watcher.join(timeout=10)
    return watcher


# --- the figures -----------------------------------------------------------------------------------------


def fake_sends(fake_url: str) -> list[dict[str, Any]]:
    """The message sends the fake received (read receipts aside), each with the moment it came in."""
    import httpx

    rows = httpx.get(f"{fake_url}/_fake/requests", params={"method": "POST", "path_contains": "/messages"}, timeout=300)
    data = rows.json()
    data = data.get("data", data) if isinstance(data, dict) else data
    return [r for r in data if (r.get("json") or {}).get("status") != "read"]


def stats(prefix: str, values: list[float]) -> dict[str, Any]:
    if not values:
        return {f"{prefix}_count": 0}
    return {
        f"{prefix}_p50_ms": round(percentile(values, 50), 1),
        f"{prefix}_p95_ms": round(percentile(values, 95), 1),
        f"{prefix}_p99_ms": round(percentile(values, 99), 1),
        f"{prefix}_max_ms": round(max(values), 1),
        f"{prefix}_count": len(values),
    }


def figures_of(
    run: Run,
    tenant: Any,
    inbox_id: int,
    fake_url: str,
    transit_url: str,
    kill_times: dict[str, float],
    *,
    stopped: float,
) -> dict[str, Any]:
    from django.db.models import Count

    from conversations.models import Message
    from flows.fake import FakeTransitAdminClient
    from flows.models import FlowSession
    from whatsapp.processing import callback_data_for

    sends = fake_sends(fake_url)
    arrived: dict[str, float] = {}
    handed: Counter[str] = Counter()
    for request in sends:
        callback = (request.get("json") or {}).get("biz_opaque_callback_data")
        if request.get("status_code") == 200 and callback:
            handed[callback] += 1
            arrived.setdefault(callback, request["at"])
    handed_twice = sum(n - 1 for n in handed.values() if n > 1)

    inbound = list(
        Message.objects.filter(inbox_id=inbox_id, direction="in")
        .order_by("pk")
        .values_list("pk", "conversation_id", "created_at", "external_id")
    )
    outbound = list(
        Message.objects.filter(inbox_id=inbox_id, direction="out", private=False)
        .exclude(type="system")
        .order_by("pk")
        .values_list("pk", "conversation_id", "type", "idempotency_key", "created_at")
    )
    out_by_conversation: dict[int, list[tuple[int, str, str, float]]] = defaultdict(list)
    for pk, conversation_id, kind, key, made_at in outbound:
        out_by_conversation[conversation_id].append((pk, kind, key or "", made_at.timestamp()))
    steps: dict[str, list[float]] = defaultdict(list)
    # (posted, stored, reply written, reply arrived at the fake), epoch seconds, per customer message, and where
    # its latency counts from: stored (posted, for a message the run stopped waiting for before it was stored).
    timed: list[tuple[float, float, float, float, float]] = []
    unanswered = 0
    step_of = {f"-{n}": kind for n, (kind, _t, _b) in enumerate(SCRIPT)}
    for pk, conversation_id, created_at, external_id in inbound:
        wamid = external_id or ""
        reply = next((o for o in out_by_conversation[conversation_id] if o[0] > pk), None)
        at = arrived.get(callback_data_for(reply[0])) if reply else None
        stored = created_at.timestamp()
        if at is None:
            # Not answered when the run stopped waiting: it waited at least until then (a lower bound).
            unanswered += 1
            at = max(stopped, stored)
        kind = step_of.get(wamid[-2:], "start")  # the fake's wamids are the first messages
        steps[kind].append((at - stored) * 1000)
        timed.append((run.posted_at.get(wamid, stored), stored, reply[3] if reply else at, at, stored))
    # Posted but not stored when the run stopped waiting (the webhook's job had not run): a lower bound too.
    stored_wamids = {wamid for _pk, _conversation, _created, wamid in inbound}
    for wamid, posted in run.posted_at.items():
        if wamid not in stored_wamids:
            unanswered += 1
            steps[step_of.get(wamid[-2:], "start")].append((stopped - posted) * 1000)
            timed.append((posted, stopped, stopped, stopped, posted))
    everything = [(at - origin) * 1000 for *_times, at, origin in timed]
    # Where a step's time went: the webhook posted → the message stored (the endpoint and the webhook's job),
    # stored → the reply written (the event's delivery to the flow: waiting for the drain, the step), written →
    # at the fake (the send job).
    parts = {
        "ingest": [(stored - posted) * 1000 for posted, stored, _made, _at, _origin in timed],
        "flow": [(made - stored) * 1000 for _posted, stored, made, _at, _origin in timed],
        "send": [(at - made) * 1000 for _posted, _stored, made, at, _origin in timed],
    }
    # The kill's window: from the kill until the last reply to a message that was on its way at the kill or
    # posted while no worker ran (killed → the new one ready) reached the fake; a message posted before the
    # window's end and answered after its start counts as the kill's, the others as steady.
    kill_figures: dict[str, Any] = {}
    steady: list[float] = everything
    during: list[float] = []
    if "killed" in kill_times:
        killed, restarted = kill_times["killed"], kill_times["restarted"]
        hit = [at for posted, _stored, _made, at, _origin in timed if posted <= restarted and at >= killed]
        recovered = max([*hit, restarted])
        steady = []
        for posted, _stored, _made, at, origin in timed:
            (steady if at < killed or posted > recovered else during).append((at - origin) * 1000)
        kill_figures = {
            "worker_killed_at_s": round(killed - run.first_post, 1),
            "worker_restarted_s": round(restarted - killed, 1),
            "recovered_s": round(recovered - killed, 1),
        }

    # The receipt: each conversation's last flow message.
    paid: list[float] = []
    conversation_of = {}
    for conversation_id, phone in (
        FlowSession.objects.filter(tenant=tenant).values_list("conversation_id", "contact__phone_e164").distinct()
    ):
        conversation_of[(phone or "").lstrip("+")] = conversation_id
    for customer in run.customers:
        flow_messages = [o for o in out_by_conversation.get(conversation_of.get(customer.phone, -1), []) if o[2]]
        flow_messages = [o for o in flow_messages if o[2].startswith("flow-")]
        if customer.paid_at and len(flow_messages) >= FLOW_MESSAGES:
            at = arrived.get(callback_data_for(flow_messages[FLOW_MESSAGES - 1][0]))
            if at is not None:
                paid.append((at - customer.paid_at) * 1000)

    # Replies twice: a shared (conversation, key), a message handed twice, a session's messages beyond its script.
    shared_keys = sum(
        row["n"] - 1
        for row in Message.objects.filter(inbox_id=inbox_id, direction="out", idempotency_key__isnull=False)
        .values("conversation_id", "idempotency_key")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
    )
    beyond = 0
    for messages in out_by_conversation.values():
        flow_count = sum(1 for o in messages if o[2].startswith("flow-"))
        requests = sum(1 for o in messages if o[1] == "payment_request")
        beyond += max(0, flow_count - FLOW_MESSAGES) + max(0, requests - 1)

    with FakeTransitAdminClient(transit_url, timeout=120) as transit:
        cards = {card["number"]: card for card in transit.cards()}
    credits = [len(cards.get(c.card, {}).get("credits", [])) for c in run.customers]
    wrong_amounts = sum(
        1 for c in run.customers for credit in cards.get(c.card, {}).get("credits", []) if credit["amount"] != AMOUNT
    )

    sessions = FlowSession.objects.filter(tenant=tenant)
    by_status = dict(sessions.values("status").annotate(n=Count("id")).values_list("status", "n"))
    completed_customers = {
        (phone or "").lstrip("+")
        for phone in sessions.filter(status="completed").values_list("contact__phone_e164", flat=True)
    }
    figures: dict[str, Any] = {
        **stats("step", everything),
        **{k: v for kind, values in steps.items() for k, v in stats(f"step_{kind}", values).items()},
        **stats("steady", steady),
        **stats("kill", during),
        **{
            k: v
            for name, values in parts.items()
            for k, v in stats(f"part_{name}", values).items()
            if k.endswith(("p50_ms", "p95_ms"))
        },
        **kill_figures,
        **stats("paid", paid),
        "steps_unanswered": unanswered,
        "latency_lower_bound": unanswered > 0,
        "customers": len(run.customers),
        "sessions": sum(by_status.values()),
        "completed": by_status.get("completed", 0),
        "sessions_by_status": by_status,
        "done": sum(1 for c in run.customers if c.done_at),
        "lost_sessions": sum(1 for c in run.customers if c.phone not in completed_customers),
        "double_credits": sum(max(0, n - 1) for n in credits),
        "uncredited_cards": sum(1 for n in credits if n == 0),
        "wrong_amount_credits": wrong_amounts,
        "double_replies": shared_keys + handed_twice + beyond,
        "double_replies_shared_key": shared_keys,
        "double_replies_handed_twice": handed_twice,
        "double_replies_beyond_script": beyond,
        "sends_rejected_by_fake": sum(1 for r in sends if r.get("status_code") != 200),
        "sends_rejected_codes": dict(
            Counter(f"{r.get('status_code')}:{r.get('error_code')}" for r in sends if r.get("status_code") != 200)
        ),
    }
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="40 customers instead of 1,000 (under 90 s)")
    parser.add_argument("--customers", type=int, help="customers (quick 40, full 1,000)")
    parser.add_argument("--rate", type=float, default=50.0, help="customer webhooks posted per second")
    parser.add_argument("--kill-at", type=float, default=0.4, help="fraction of the posts after which the worker dies")
    parser.add_argument("--no-kill", action="store_true", help="leave the worker alone")
    parser.add_argument("--cap", type=int, default=1000, help="the number's messages per second (fake and product)")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--concurrency", type=int, default=4, help="Celery worker processes")
    parser.add_argument("--stall-cap", type=float, help="stop when nothing moved this long (quick 45 s, full 420 s)")
    parser.add_argument("--run-cap", type=float, help="stop the run after this long (quick: 85 s in all, full 3,600 s)")
    parser.add_argument(
        "--recovery",
        choices=["product", "compressed"],
        help="how soon a dead worker's jobs come back: the product's settings (full) or compressed ones (quick)",
    )
    args = parser.parse_args()
    stop_children_on_sigterm()
    count = args.customers or (40 if args.quick else 1000)
    stall_cap = args.stall_cap or (45.0 if args.quick else 420.0)
    recovery = args.recovery or ("compressed" if args.quick else "product")
    t_begin = time.perf_counter()
    load_start = os.getloadavg()[0]

    redis_url = f"{REDIS_BASE}/{os.environ.get('BENCH_FLOWS_REDIS_DB', '3')}"
    database = migrated_database(os.environ.get("BENCH_FLOWS_DATABASE", "helpdesk_bench_flows"), redis_url)
    flush_redis(redis_url)
    log_dir = Path(tempfile.mkdtemp(prefix="bench-flows-"))
    fake_port, psp_port, transit_port, web_port = free_port(), free_port(), free_port(), free_port()
    fake_url, psp_url = f"http://127.0.0.1:{fake_port}", f"http://127.0.0.1:{psp_port}"
    transit_url, web = f"http://127.0.0.1:{transit_port}", f"http://127.0.0.1:{web_port}"
    providers = {
        "fake": {"name": "PSP de teste", "api_url": f"{psp_url}/pix/api/v2", "token_url": f"{psp_url}/pix/oauth/token"}
    }
    extra = {
        "WHATSAPP_API_BASE_URL": fake_url,
        "PAYMENTS_PIX_PROVIDERS": json.dumps(providers),
        "PAYMENTS_ALLOW_PLAIN_HTTP": "true",
        "TRANSIT_OPERATOR_BASE_URL": transit_url,
        "HELPDESK_SITE_URL": web,  # where the PSP posts its webhooks
    }
    if recovery == "compressed":
        extra.update(COMPRESSED_RECOVERY)
    env = process_env(database, redis_url, **extra)
    django_setup(env)
    print(f"database ready in {time.perf_counter() - t_begin:.1f} s", flush=True)

    import httpx

    from payments.accounts import pix_webhook_ensure

    tenant, channel, account, _flow = workspace_setup("owner@flows.bench.example", args.cap)
    first_names = ["Ana", "Bruno", "Carla", "Diego", "Elisa", "Fábio", "Gabriela", "Heitor"]
    customers = [
        Customer(
            index=n,
            phone=f"55119{n + 10_000_000:08d}",
            card=f"{700_000_000_000 + n * 7919:012d}",
            name=f"{first_names[n % len(first_names)]} Cliente{n}",
            first={},
        )
        for n in range(count)
    ]
    transit_config(log_dir / "transit.json", customers)
    mode = "custom" if args.customers else "quick" if args.quick else "full"
    figures: dict[str, Any] = {
        "mode": mode,
        "customers": count,
        "rate": args.rate,
        "cap_per_s": args.cap,
        "concurrency": args.concurrency,
        "recovery": recovery,
        "load_avg_start": round(load_start, 2),
        "started_at": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }

    with ExitStack() as stack:
        python = str(VENV_BIN / "python")
        start(
            stack,
            "psp",
            [python, "-m", "payments.fake", "--demo", *("--host", "127.0.0.1", "--port", str(psp_port)), *LOG],
            env,
            log_dir,
            url_returns_ok(f"{psp_url}/_fake/health"),
        )
        start(
            stack,
            "transit",
            [
                python,
                "-m",
                "flows.fake",
                *("--port", str(transit_port), "--config", str(log_dir / "transit.json")),
                *LOG,
            ],
            env,
            log_dir,
            url_returns_ok(f"{transit_url}/_fake/health"),
        )
        start(
            stack,
            "cloud",
            [python, "-m", "whatsapp.fake", "--host", "127.0.0.1", "--port", str(fake_port), "--log-level", "warning"],
            env,
            log_dir,
            url_returns_ok(f"{fake_url}/_fake/health"),
        )
        start_web(stack, env, log_dir, workers=args.workers, port=web_port)
        cloud = stack.enter_context(httpx.Client(base_url=fake_url, timeout=60))
        # The PSP retries a webhook fast (a worker being killed must not make the payer wait for minutes).
        httpx.post(f"{psp_url}/_fake/settings", json={"delivery_retry_delays_s": [0.5, 1, 2, 4, 8]}).raise_for_status()
        if not pix_webhook_ensure(account):
            raise SystemExit(f"The PSP did not take the webhook address: {account.webhook_problem}")

        def register(webhook_url: str | None) -> None:
            cloud.post(
                "/_fake/phone_numbers",
                json={
                    "phone_number_id": PNID,
                    "display_phone_number": DISPLAY,
                    "waba_id": WABA,
                    "access_token": TOKEN,
                    "app_secret": APP_SECRET,
                    "webhook_url": webhook_url,
                    "verified_name": "Recarga Fácil",
                    "throughput_per_s": args.cap,
                },
            ).raise_for_status()

        register(None)
        for customer, webhook in zip(customers, asyncio.run(open_windows(fake_url, customers)), strict=True):
            customer.first = webhook
        register(f"{web}/webhooks/whatsapp/{channel.webhook_key}/")
        cloud.delete("/_fake/webhooks")
        cloud.delete("/_fake/requests").raise_for_status()
        workers: list[ServerProcess] = [start_worker(stack, env, log_dir, concurrency=args.concurrency)]
        beat_log = log_dir / "beat.log"
        start(
            stack,
            "beat",
            [str(VENV_BIN / "celery"), "-A", "helpdesk", "beat", "--loglevel=INFO", "-s", str(log_dir / "beat")],
            env,
            log_dir,
            lambda: beat_log.exists() and "beat: Starting" in beat_log.read_text(errors="replace"),
        )
        print(f"{count} customers ready in {time.perf_counter() - t_begin:.1f} s; posting at {args.rate}/s", flush=True)

        kill_times: dict[str, float] = {}

        def kill() -> None:
            worker = workers[-1]
            kill_times["killed"] = time.time()
            os.killpg(worker.pid or 0, signal.SIGKILL)
            wait_until(lambda: not worker.running, timeout=30, interval=0.05)
            workers.append(start_worker(stack, env, log_dir, concurrency=args.concurrency, name="worker-2"))
            kill_times["restarted"] = time.time()
            print(
                f"worker killed {kill_times['killed'] - run.first_post:.1f} s into the run, "
                f"a new one ready {kill_times['restarted'] - kill_times['killed']:.1f} s later",
                flush=True,
            )

        total = count * len(SCRIPT)
        run = Run(
            customers=customers,
            by_phone={c.phone: c for c in customers},
            web=web,
            webhook_path=f"/webhooks/whatsapp/{channel.webhook_key}/",
            psp_url=psp_url,
            rate=args.rate,
            kill_after=None if args.no_kill else max(1, int(total * args.kill_at)),
            kill=kill,
            stall_cap=stall_cap,
            # Quick: what is left of 85 s once set up, less the counting at the end.
            total_cap=args.run_cap or (max(15.0, 75.0 - (time.perf_counter() - t_begin)) if args.quick else 3600.0),
        )
        watcher = asyncio.run(drive(run, channel.inbox_id))
        ended = time.time()
        from conversations.models import EventDelivery, Message

        # The benchmark's own check: a message sent below the watcher's floor that it never handed out would
        # have left its customer waiting for nothing.
        below = Message.objects.filter(
            inbox_id=channel.inbox_id, direction="out", private=False, pk__lte=watcher.floor, external_id__isnull=False
        ).exclude(type="system")
        figures["watcher_missed"] = len(set(below.values_list("pk", flat=True)) - watcher.ever_handed)
        print(
            f"{sum(1 for c in customers if c.done_at)} of {count} customers done "
            f"{ended - run.first_post:.1f} s after the first post ({watcher.polls} polls)",
            flush=True,
        )
        # The order status messages and status webhooks still on their way: let them land before counting.
        settled = all(c.done_at for c in customers)
        wait_until(
            lambda: (
                not Message.objects.filter(inbox_id=channel.inbox_id, status__in=["queued", "sending"]).exists()
                and not EventDelivery.objects.filter(tenant=tenant, state="pending").exists()
            ),
            timeout=20 if settled else 2,
            interval=0.5,
        )
        figures.update(figures_of(run, tenant, channel.inbox_id, fake_url, transit_url, kill_times, stopped=ended))
        figures["settled"] = settled
        if not settled:
            # The run stopped waiting: what is not done may only be late, so it is not counted as lost.
            figures["unfinished_sessions"] = figures.pop("lost_sessions")
            figures["lost_sessions"] = None
        cloud.close()

    posting = max(run.last_post - run.first_post, 1e-9)
    figures.update(
        {
            "webhooks_posted": run.posts,
            "webhooks_per_s": round(run.posts / posting, 1) if run.posts > 1 else 0.0,
            "webhook_non_200": run.posts - run.statuses[200],
            "webhook_reposts": run.statuses[-1],
            "unexpected": dict(run.unexpected),
            "pay_errors": run.pay_errors,
            "run_s": round(ended - run.first_post, 1),
            "seconds": round(time.perf_counter() - t_begin, 1),
            "load_avg_end": round(os.getloadavg()[0], 2),
        }
    )
    print(f"logs in {log_dir}")
    print(
        f"step p50 {figures.get('step_p50_ms')} / p95 {figures.get('step_p95_ms')} / p99 {figures.get('step_p99_ms')}"
        f" ms; sessions {figures['sessions']}, completed {figures['completed']}, lost {figures['lost_sessions']};"
        f" double credits {figures['double_credits']}, double replies {figures['double_replies']}"
    )
    report(figures)


if __name__ == "__main__":
    main()
