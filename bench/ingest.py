"""Webhook ingest: signed webhooks into the real endpoint, processed by a real Celery worker.

Processes: uvicorn (the product, ASGI), one Celery worker, PostgreSQL and Redis. The load
generator posts signed inbound-message webhooks (20% exact replays, as Meta retries) at rising
open-loop rates, then at full speed; the same run measures a bare Django view doing one INSERT
as the baseline. Latency is measured from each request's scheduled start (no coordinated omission).

    python bench/ingest.py [--quick] [--subscribers]

The last line printed is one JSON object: webhook_p50_ms, webhook_p99_ms, accepted_per_s,
processed_per_s, baseline_per_s, ratio_to_baseline, lost, duplicated (and per-stage details).

With ``--subscribers`` the ingest runs twice in one run, each time into a workspace of its own with
status webhooks (delivered, read) for earlier outbound messages mixed in: first without
subscribers, then with a worker on which one no-op subscriber listens to ``MessageReceived`` and one
to ``MessageStatusChanged`` (``bench/subscribers.py``; each writes one row per effect). The JSON adds
processed_per_s_subscribers (messages stored over the run until every delivery was done),
subscriber_ratio (with / without), webhook_p99_ms_subscribers, events_recorded, events_lost (events
recorded whose subscriber's effect never happened) and events_duplicated_effects (effects applied
more than once for the same event and subscriber).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    REDIS_BASE,
    RawHttpPool,
    ServerProcess,
    cpu_seconds,
    database_cpu_seconds,
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

APP_SECRET = "bench-app-secret"
PHONE_NUMBER_ID = "900000000000001"


def status_body(wamid: str, status: str, recipient: str, phone_number_id: str) -> bytes:
    """A status webhook of one outbound message, as Meta sends it."""
    from whatsapp.signature import encode_like_meta

    payload = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "900000000000002",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {"display_phone_number": "5511900009999", "phone_number_id": phone_number_id},
                            "statuses": [
                                {
                                    "id": wamid,
                                    "status": status,
                                    "timestamp": str(int(time.time())),
                                    "recipient_id": recipient,
                                }
                            ],
                        },
                    }
                ],
            }
        ],
    }
    return encode_like_meta(payload)


def make_bodies(
    count: int,
    replay_share: float,
    seed: int = 7,
    *,
    phone_number_id: str = PHONE_NUMBER_ID,
    prefix: str = "bench",
    statuses: list[bytes] | None = None,
) -> tuple[list[bytes], int]:
    """Signed-ready webhook bodies: ``count`` posts of which ``replay_share`` repeat an earlier body;
    a post at every fifth place that is not a replay is the next of ``statuses`` while any is left."""
    from whatsapp.signature import encode_like_meta

    rng = random.Random(seed)
    pending_statuses = list(statuses or [])
    bodies: list[bytes] = []
    unique = 0
    # Customers write several messages each, as in a real inbox (about four per customer here).
    customers = [f"55119{rng.randrange(10_000_000, 99_999_999)}" for _ in range(max(1, count // 4))]
    names = {customer: f"Cliente {n}" for n, customer in enumerate(customers)}
    now = int(time.time())
    for i in range(count):
        if bodies and rng.random() < replay_share:
            bodies.append(rng.choice(bodies))
            continue
        if pending_statuses and i % 5 == 4:
            bodies.append(pending_statuses.pop(0))
            continue
        unique += 1
        customer = rng.choice(customers)
        payload = text_message_payload(
            waba_id="900000000000002",
            phone_number_id=phone_number_id,
            display_phone_number="5511900009999",
            customer=customer,
            name=names[customer],
            wamid=f"wamid.{prefix}-{i:07d}",
            text=f"Olá, quero recarregar meu cartão nº {i} ✅",
            timestamp=now,
        )
        bodies.append(encode_like_meta(payload))
    return bodies, unique


async def open_loop(url: str, bodies: list[bytes], rate: float, headers_for) -> tuple[list[float], int]:
    """Post ``bodies`` at ``rate`` per second; returns latencies (ms, from scheduled start) and 200 count."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    latencies: list[float] = []
    ok = 0
    async with RawHttpPool(f"{parts.scheme}://{parts.netloc}", 128) as pool:
        start = time.perf_counter()

        async def one(i: int, body: bytes) -> None:
            nonlocal ok
            scheduled = start + i / rate
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            status = await pool.post(parts.path, body, headers_for(body))
            latencies.append((time.perf_counter() - scheduled) * 1000)
            ok += status == 200

        await asyncio.gather(*(one(i, b) for i, b in enumerate(bodies)))
    return latencies, ok


async def closed_loop(url: str, bodies: list[bytes], concurrency: int, headers_for) -> tuple[float, int]:
    """Post as fast as ``concurrency`` connections allow; returns requests per second and 200 count."""
    from collections import Counter
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    queue = list(reversed(bodies))
    statuses: Counter[int] = Counter()
    async with RawHttpPool(f"{parts.scheme}://{parts.netloc}", concurrency) as pool:

        async def worker() -> None:
            while queue:
                body = queue.pop()
                statuses[await pool.post(parts.path, body, headers_for(body))] += 1

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
    if set(statuses) != {200}:
        print(f"statuses at full speed: {dict(statuses)}", flush=True)
    return len(bodies) / elapsed, statuses[200]


class Phase:
    """One ingest into its own workspace and number: stages at rising rates, then full speed."""

    def __init__(self, *, name: str, index: int, owner, total_posts: int, with_statuses: bool) -> None:
        from conversations.models import Message
        from tenants.services import tenant_create
        from tests.conversations.factories import make_conversation
        from tests.factories import owner_of
        from whatsapp.services import channel_create
        from whatsapp.signature import sign

        self.name = name
        phone_number_id = f"90000000000{index:04d}"
        self.tenant = tenant_create(name=f"Bench {name}", owner=owner)
        self.channel = channel_create(
            actor=owner_of(self.tenant),
            name="Bench",
            display_phone_number="5511900009999",
            phone_number_id=phone_number_id,
            waba_id="900000000000002",
            access_token="bench-token",
            app_secret=APP_SECRET,
            verify=False,
        )
        statuses: list[bytes] = []
        if with_statuses:
            # Outbound messages that Meta accepted earlier; their delivered and read webhooks come in the load.
            count = total_posts // 10
            conversations = [make_conversation(self.channel.inbox) for _ in range(max(1, count // 10))]
            outbound = Message.objects.bulk_create(
                Message(
                    tenant_id=self.tenant.pk,
                    conversation=conversations[n % len(conversations)],
                    inbox_id=self.channel.inbox.pk,
                    direction=Message.Direction.OUTBOUND,
                    sender_type=Message.SenderType.AGENT,
                    text=f"Seu pedido nº {n} saiu para entrega",
                    status=Message.Status.SENT,
                    external_id=f"wamid.{name}-out-{n:07d}",
                )
                for n in range(count)
            )
            recipients = {c.pk: c.contact.phone_e164.lstrip("+") for c in conversations}
            for status in ("delivered", "read"):
                statuses += [
                    status_body(m.external_id or "", status, recipients[m.conversation_id], phone_number_id)
                    for m in outbound
                ]
        self.bodies, self.unique = make_bodies(
            total_posts, replay_share=0.2, phone_number_id=phone_number_id, prefix=name, statuses=statuses
        )
        self.status_posts = len(statuses)
        self.processed_per_s = self.accepted_per_s = self.cpu_ms_per_message = 0.0
        self.signatures = {body: sign(body, APP_SECRET) for body in set(self.bodies)}

    def headers_for(self, body: bytes) -> dict[str, str]:
        return {"Content-Type": "application/json", "X-Hub-Signature-256": self.signatures[body]}

    def stored(self) -> int:
        from conversations.models import Message

        return Message.objects.filter(inbox=self.channel.inbox, direction=Message.Direction.INBOUND).count()

    def settled(self) -> bool:
        """Every inbound message stored, every webhook processed, every event delivered."""
        from conversations.models import EventDelivery
        from whatsapp.models import WebhookEvent

        return (
            self.stored() >= self.unique
            and not WebhookEvent.objects.filter(channel=self.channel, status="pending").exists()
            and not EventDelivery.objects.filter(tenant=self.tenant, state="pending").exists()
        )

    def run(self, base: str, stages: list[tuple[int, int]], worker: ServerProcess) -> dict[str, object]:
        from django.db import connection

        from conversations.models import Message
        from whatsapp.models import WebhookEvent

        webhook_url = f"{base}/webhooks/whatsapp/{self.channel.webhook_key}/"
        assert worker.pid is not None
        database = connection.settings_dict["NAME"]
        cpu_start, db_cpu_start = cpu_seconds(worker.pid), database_cpu_seconds(database)
        t_start = time.perf_counter()
        offset = 0
        stage_figures = []
        at_target: list[float] = []
        accepted = 0
        for rate, seconds in stages:
            chunk = self.bodies[offset : offset + rate * seconds]
            offset += len(chunk)
            latencies, ok = asyncio.run(open_loop(webhook_url, chunk, rate, self.headers_for))
            accepted += ok
            stage_figures.append(
                {
                    "rate": rate,
                    "posts": len(chunk),
                    "p50_ms": round(percentile(latencies, 50), 1),
                    "p99_ms": round(percentile(latencies, 99), 1),
                    "non_200": len(chunk) - ok,
                }
            )
            if rate >= 300:
                at_target.extend(latencies)
            last = stage_figures[-1]
            print(f"{self.name}: rate {rate}/s: p50 {last['p50_ms']} ms, p99 {last['p99_ms']} ms", flush=True)
        accepted_per_s, ok = asyncio.run(closed_loop(webhook_url, self.bodies[offset:], 32, self.headers_for))
        accepted += ok
        wait_until(self.settled, timeout=600, interval=0.5)
        t_done = time.perf_counter()
        # The worker's CPU per stored message: less at the mercy of other load on the machine than the rates.
        worker_cpu = cpu_seconds(worker.pid) - cpu_start
        db_cpu = database_cpu_seconds(database) - db_cpu_start
        stored = self.stored()
        inbound = Message.objects.filter(inbox=self.channel.inbox, direction=Message.Direction.INBOUND)
        distinct = inbound.values("external_id").distinct().count()
        for stage in stage_figures:
            print(
                f"{self.name}: rate {stage['rate']}/s: {stage['posts']} posts, "
                f"p50 {stage['p50_ms']} ms, p99 {stage['p99_ms']} ms"
            )
        processed_per_s = self.processed_per_s = round(stored / (t_done - t_start), 1)
        self.accepted_per_s = accepted_per_s
        self.cpu_ms_per_message = (worker_cpu + db_cpu) * 1000 / max(stored, 1)
        print(f"{self.name}: webhooks at full speed {accepted_per_s:.1f}/s; {stored} messages at {processed_per_s}/s")
        return {
            "posts": len(self.bodies),
            "unique": self.unique,
            "status_posts": self.status_posts,
            "stages": stage_figures,
            "webhook_p50_ms": round(percentile(at_target, 50), 1),
            "webhook_p99_ms": round(percentile(at_target, 99), 1),
            "accepted_per_s": round(accepted_per_s, 1),
            "processed_per_s": processed_per_s,
            "worker_cpu_ms_per_message": round(worker_cpu * 1000 / max(stored, 1), 2),
            "database_cpu_ms_per_message": round(db_cpu * 1000 / max(stored, 1), 2),
            "accepted": accepted,
            "events_stored": WebhookEvent.objects.filter(channel=self.channel).count(),
            "events_failed": WebhookEvent.objects.filter(channel=self.channel, status="failed").count(),
            "lost": self.unique - distinct,
            "duplicated": stored - distinct,
        }

    def event_figures(self) -> dict[str, int]:
        """Domain events recorded for this workspace, and what the subscribers did with them."""
        from django.db import connection

        from bench.subscribers import SUBSCRIBERS
        from conversations.models import EventDelivery, OutboxEvent

        subscribed = [event_type.name for event_type in SUBSCRIBERS]
        recorded = OutboxEvent.objects.filter(tenant=self.tenant, event_type__in=subscribed)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) - count(DISTINCT (event_id, subscriber)) FROM bench_effects e "
                "JOIN conversations_outboxevent o ON o.id = e.event_id WHERE o.tenant_id = %s",
                [self.tenant.pk],
            )
            duplicated = int(cursor.fetchone()[0])
            cursor.execute(
                "SELECT count(*) FROM conversations_outboxevent o WHERE o.tenant_id = %s AND o.event_type = ANY(%s) "
                "AND NOT EXISTS (SELECT 1 FROM bench_effects e WHERE e.event_id = o.id)",
                [self.tenant.pk, subscribed],
            )
            lost = int(cursor.fetchone()[0])
        return {
            "events_recorded": recorded.count(),
            "events_received": recorded.filter(event_type="message.received").count(),
            "events_status_changed": recorded.filter(event_type="message.status_changed").count(),
            "deliveries_done": EventDelivery.objects.filter(tenant=self.tenant, state="done").count(),
            "deliveries_not_done": EventDelivery.objects.filter(tenant=self.tenant).exclude(state="done").count(),
            "events_lost": lost,
            "events_duplicated_effects": duplicated,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer webhooks (about 5,000), under 60 s")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--concurrency", type=int, default=2, help="Celery worker processes")
    parser.add_argument(
        "--subscribers", action="store_true", help="run twice: without, then with two no-op event subscribers"
    )
    args = parser.parse_args()
    stop_children_on_sigterm()

    stages = [(100, 8), (200, 8), (300, 12)] if args.quick else [(100, 20), (200, 20), (300, 30), (400, 15)]
    saturation_posts = 1500 if args.quick else 4000
    # Overridable so that two runs on one machine do not share a database or a Redis db.
    database = fresh_database(os.environ.get("BENCH_INGEST_DATABASE", "helpdesk_bench_ingest"))
    redis_url = f"{REDIS_BASE}/{os.environ.get('BENCH_INGEST_REDIS_DB', '11')}"
    flush_redis(redis_url)
    env = process_env(database, redis_url)
    migrate(env)
    django_setup(env)

    from django.db import connection

    from bench.subscribers import EFFECTS_TABLE_SQL
    from tenants.models import User

    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE bench_baseline (id bigserial PRIMARY KEY, body bytea, created_at timestamptz)")
        cursor.execute(EFFECTS_TABLE_SQL)
    owner = User.objects.create_user(email="owner@bench.example", password="x" * 12)
    total_posts = sum(rate * seconds for rate, seconds in stages) + saturation_posts
    without = Phase(name="bench", index=1, owner=owner, total_posts=total_posts, with_statuses=args.subscribers)
    with_subscribers = (
        Phase(name="subscribed", index=2, owner=owner, total_posts=total_posts, with_statuses=True)
        if args.subscribers
        else None
    )

    def baseline_headers(body: bytes) -> dict[str, str]:
        return {"Content-Type": "application/octet-stream"}

    log_dir = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    figures: dict[str, object] = {"mode": "quick" if args.quick else "full"}
    with ExitStack() as stack:
        base = start_web(stack, env, log_dir, workers=args.workers)
        # Baseline first, with the same concurrency as the saturation phase.
        baseline_bodies = [b"x" * 600] * saturation_posts
        baseline_per_s, _ok = asyncio.run(closed_loop(f"{base}/bench/baseline/", baseline_bodies, 32, baseline_headers))
        print(f"baseline: {baseline_per_s:.0f}/s", flush=True)
        with ExitStack() as worker:
            process = start_worker(worker, env, log_dir, concurrency=args.concurrency)
            figures.update(without.run(base, stages, process))
        if with_subscribers is not None:
            # The worker that records the events has the subscribers: its registry decides the deliveries.
            with ExitStack() as worker:
                process = start_worker(
                    worker,
                    env,
                    log_dir,
                    concurrency=args.concurrency,
                    name="worker-subscribed",
                    app="bench.subscribers_app",
                )
                subscribed = with_subscribers.run(base, stages, process)
            events = with_subscribers.event_figures()
            figures.update(
                {
                    "subscribed": subscribed,
                    "processed_per_s_subscribers": subscribed["processed_per_s"],
                    "subscriber_ratio": round(with_subscribers.processed_per_s / without.processed_per_s, 3),
                    "webhook_p99_ms_subscribers": subscribed["webhook_p99_ms"],
                    "worker_cpu_ms_per_message_subscribers": subscribed["worker_cpu_ms_per_message"],
                    "database_cpu_ms_per_message_subscribers": subscribed["database_cpu_ms_per_message"],
                    # Without / with: the throughput ratio of a machine where processing is the bottleneck.
                    "subscriber_cpu_ratio": round(without.cpu_ms_per_message / with_subscribers.cpu_ms_per_message, 3),
                    **events,
                }
            )
    figures.update(
        {
            "baseline_per_s": round(baseline_per_s, 1),
            "ratio_to_baseline": round(without.accepted_per_s / baseline_per_s, 3),
        }
    )
    print(f"webhooks at full speed: {figures['accepted_per_s']}/s; bare INSERT view: {figures['baseline_per_s']}/s")
    if with_subscribers is not None:
        print(
            f"with subscribers: {figures['processed_per_s_subscribers']}/s against {figures['processed_per_s']}/s "
            f"(ratio {figures['subscriber_ratio']}); events lost {figures['events_lost']}, "
            f"duplicated effects {figures['events_duplicated_effects']}"
        )
    print(f"logs in {log_dir}")
    report(figures)


if __name__ == "__main__":
    main()
