"""Webhook ingest: signed webhooks into the real endpoint, processed by a real Celery worker.

Processes: uvicorn (the product, ASGI), one Celery worker, PostgreSQL and Redis. The load
generator posts signed inbound-message webhooks (20% exact replays, as Meta retries) at rising
open-loop rates, then at full speed; the same run measures a bare Django view doing one INSERT
as the baseline. Latency is measured from each request's scheduled start (no coordinated omission).

    python bench/ingest.py [--quick]

The last line printed is one JSON object: webhook_p50_ms, webhook_p99_ms, accepted_per_s,
processed_per_s, baseline_per_s, ratio_to_baseline, lost, duplicated (and per-stage details).
"""

from __future__ import annotations

import argparse
import asyncio
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
    wait_until,
)

APP_SECRET = "bench-app-secret"
PHONE_NUMBER_ID = "900000000000001"


def make_bodies(count: int, replay_share: float, seed: int = 7) -> tuple[list[bytes], int]:
    """Signed-ready webhook bodies: ``count`` posts of which ``replay_share`` repeat an earlier body."""
    from whatsapp.signature import encode_like_meta

    rng = random.Random(seed)
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
        unique += 1
        customer = rng.choice(customers)
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
                                "metadata": {
                                    "display_phone_number": "5511900009999",
                                    "phone_number_id": PHONE_NUMBER_ID,
                                },
                                "contacts": [{"profile": {"name": names[customer]}, "wa_id": customer}],
                                "messages": [
                                    {
                                        "from": customer,
                                        "id": f"wamid.bench-{i:07d}",
                                        "timestamp": str(now),
                                        "type": "text",
                                        "text": {"body": f"Olá, quero recarregar meu cartão nº {i} ✅"},
                                    }
                                ],
                            },
                        }
                    ],
                }
            ],
        }
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer webhooks (about 5,000), under 60 s")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--concurrency", type=int, default=2, help="Celery worker processes")
    args = parser.parse_args()
    stop_children_on_sigterm()

    stages = [(100, 8), (200, 8), (300, 12)] if args.quick else [(100, 20), (200, 20), (300, 30), (400, 15)]
    saturation_posts = 1500 if args.quick else 4000
    database = fresh_database("helpdesk_bench_ingest")
    redis_url = f"{REDIS_BASE}/11"
    flush_redis(redis_url)
    env = process_env(database, redis_url)
    migrate(env)
    django_setup(env)

    from django.db import connection

    from conversations.models import Message
    from tenants.models import User
    from tenants.services import tenant_create
    from tests.factories import owner_of
    from whatsapp.models import WebhookEvent
    from whatsapp.services import channel_create
    from whatsapp.signature import sign

    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE bench_baseline (id bigserial PRIMARY KEY, body bytea, created_at timestamptz)")
    owner = User.objects.create_user(email="owner@bench.example", password="x" * 12)
    tenant = tenant_create(name="Bench", owner=owner)
    channel = channel_create(
        actor=owner_of(tenant),
        name="Bench",
        display_phone_number="5511900009999",
        phone_number_id=PHONE_NUMBER_ID,
        waba_id="900000000000002",
        access_token="bench-token",
        app_secret=APP_SECRET,
        verify=False,
    )
    total_posts = sum(rate * seconds for rate, seconds in stages) + saturation_posts
    bodies, unique = make_bodies(total_posts, replay_share=0.2)
    signatures = {body: sign(body, APP_SECRET) for body in set(bodies)}

    def headers_for(body: bytes) -> dict[str, str]:
        return {"Content-Type": "application/json", "X-Hub-Signature-256": signatures[body]}

    def baseline_headers(body: bytes) -> dict[str, str]:
        return {"Content-Type": "application/octet-stream"}

    log_dir = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    figures: dict[str, object] = {"mode": "quick" if args.quick else "full", "posts": total_posts, "unique": unique}
    with ExitStack() as stack:
        base = start_web(stack, env, log_dir, workers=args.workers)
        webhook_url = f"{base}/webhooks/whatsapp/{channel.webhook_key}/"
        # Baseline first, with the same concurrency as the saturation phase.
        baseline_bodies = [b"x" * 600] * saturation_posts
        baseline_per_s, _ok = asyncio.run(closed_loop(f"{base}/bench/baseline/", baseline_bodies, 32, baseline_headers))
        print(f"baseline: {baseline_per_s:.0f}/s", flush=True)
        start_worker(stack, env, log_dir, concurrency=args.concurrency)
        t_start = time.perf_counter()
        offset = 0
        stage_figures = []
        at_target: list[float] = []
        accepted = 0
        for rate, seconds in stages:
            chunk = bodies[offset : offset + rate * seconds]
            offset += len(chunk)
            latencies, ok = asyncio.run(open_loop(webhook_url, chunk, rate, headers_for))
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
            print(
                f"rate {rate}/s: p50 {stage_figures[-1]['p50_ms']} ms, p99 {stage_figures[-1]['p99_ms']} ms", flush=True
            )
        saturation = bodies[offset:]
        accepted_per_s, ok = asyncio.run(closed_loop(webhook_url, saturation, 32, headers_for))
        accepted += ok

        expected = unique

        def processed() -> int:
            return Message.objects.filter(inbox=channel.inbox).count()

        wait_until(lambda: processed() >= expected, timeout=600, interval=0.5)
        t_done = time.perf_counter()
        stored = processed()
        distinct = Message.objects.filter(inbox=channel.inbox).values("external_id").distinct().count()
        events = WebhookEvent.objects.filter(channel=channel).count()
        failed = WebhookEvent.objects.filter(channel=channel, status="failed").count()
    figures.update(
        {
            "stages": stage_figures,
            "webhook_p50_ms": round(percentile(at_target, 50), 1),
            "webhook_p99_ms": round(percentile(at_target, 99), 1),
            "accepted_per_s": round(accepted_per_s, 1),
            "processed_per_s": round(stored / (t_done - t_start), 1),
            "baseline_per_s": round(baseline_per_s, 1),
            "ratio_to_baseline": round(accepted_per_s / baseline_per_s, 3),
            "accepted": accepted,
            "events_stored": events,
            "events_failed": failed,
            "lost": expected - distinct,
            "duplicated": stored - distinct,
        }
    )
    for stage in stage_figures:
        print(f"rate {stage['rate']}/s: {stage['posts']} posts, p50 {stage['p50_ms']} ms, p99 {stage['p99_ms']} ms")
    print(f"webhooks at full speed: {figures['accepted_per_s']}/s; bare INSERT view: {figures['baseline_per_s']}/s")
    print(f"processed {stored} messages at {figures['processed_per_s']}/s; logs in {log_dir}")
    report(figures)


if __name__ == "__main__":
    main()
