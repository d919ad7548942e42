"""Broadcasts: a marketing template to thousands of customers at the number's throughput cap, through a worker
killed and a Redis restarted mid-run, while an agent answers customers.

Processes: the fake Cloud API (enforcing the cap with 130429, as Meta does), uvicorn (the status webhooks),
a Celery worker (4 processes, ``nice 10``), a worker of one process for the ``replies`` queue (as
docs/operations.md deploys it) and beat, PostgreSQL, and a redis-server of the benchmark's own
(broker and coordination keys; no persistence, so its restart loses every queued job).

    python bench/broadcast.py [--quick] [--cap 80] [--no-disrupt]

1. **Setup** (not measured): a workspace, its number at the fake (tier TIER_100K read from the fake's
   phone-number API), an approved MARKETING template, ``--recipients`` contacts with a marketing opt-in
   (10,000; quick 2,000) plus 5 % who opted out, and a few customers who wrote (their window is open). Then
   ``plan_100k_s``: 100,000 more contacts planned as one broadcast's recipients (the INSERT … SELECT, timed
   alone; that broadcast is then canceled).
2. **Run**: the broadcast is started (planned and fed by the worker). At 30 % of it sent (its messages recorded
   as sent by the send queue) the worker is killed
   (SIGKILL to its process group) and a new one started; at 60 % Redis is stopped and started again empty,
   under the running workers (they reconnect by themselves).
   Meanwhile an agent answers the customers who wrote, one reply spread over the run at a time.
3. **Figures** from what the fake received (its ``/_fake/messages``: each send with its wamid, our callback
   data and when it arrived): ``achieved_per_s`` (sends over the span from the first to the last),
   ``steady_per_s`` (the median second), ``max_1s_window`` (the busiest sliding second; ≤ the cap),
   ``rejected_130429``, ``duplicates`` (sends beyond one per recipient), ``lost`` (consenting recipients
   with no send), ``sent_without_consent`` (sends to those who opted out), ``agent_reply_p50_ms`` /
   ``agent_reply_max_ms`` (an agent's reply from its commit to its arrival at the fake), ``plan_100k_s``,
   ``worker_rss_mb`` (the largest resident set of any of the worker's processes, sampled every 0.2 s),
   ``completed`` (the broadcast reached "completed"), ``run_s``.

The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import sys
import tempfile
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    VENV_BIN,
    django_setup,
    migrated_database,
    process_env,
    report,
    start,
    start_web,
    start_worker,
    stop_children_on_sigterm,
    wait_until,
)
from bench.outbound import max_window
from tests.e2e.harness import RedisServer, free_port, url_returns_ok

PNID = "910000000000101"
WABA = "910000000000102"
TOKEN = "bench-broadcast-token"
SECRET = "bench-broadcast-secret"
TEMPLATE = "oferta_bench"


def _rss_mb(process_group: int) -> float:
    """The largest resident set (MB) among the living processes of a process group."""
    largest = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) != process_group:
                continue
            status = (stat.parent / "status").read_text()
        except (OSError, IndexError, ValueError):
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                largest = max(largest, int(line.split()[1]))
    return round(largest / 1024, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="2,000 recipients instead of 10,000")
    parser.add_argument("--recipients", type=int, default=0)
    parser.add_argument("--cap", type=int, default=80, help="messages per second the number may send")
    parser.add_argument("--concurrency", type=int, default=4, help="Celery worker processes")
    parser.add_argument("--replies", type=int, default=6, help="agent replies during the run")
    parser.add_argument("--no-disrupt", action="store_true", help="neither kill the worker nor restart Redis")
    parser.add_argument("--plan-rows", type=int, default=100_000)
    parser.add_argument("--timeout", type=float, default=0.0, help="seconds to wait for the run (default: from size)")
    args = parser.parse_args()
    stop_children_on_sigterm()
    total = args.recipients or (2000 if args.quick else 10_000)
    refusing = total // 20
    log_dir = Path(tempfile.mkdtemp(prefix="bench-broadcast-"))

    with ExitStack() as stack:
        redis_server = RedisServer(log_dir)
        redis_server.start()
        stack.callback(redis_server.stop)
        redis_url = redis_server.url
        fake_port = free_port()
        fake_url = f"http://127.0.0.1:{fake_port}"
        database = migrated_database(os.environ.get("BENCH_BROADCAST_DB", "helpdesk_h4bench"), redis_url)
        env = process_env(
            database,
            redis_url,
            WHATSAPP_API_BASE_URL=fake_url,
            CELERY_BROKER_URL=redis_url,
            # A dead worker's jobs come back 10 s after they were taken (the broker looks every second);
            # the sweepers look every second or two.
            CELERY_VISIBILITY_TIMEOUT="10",
            BENCH_CELERY_RESTORE_SECONDS="1",
            DELIVERY_SEND_LEASE_SECONDS="10",
            DELIVERY_SWEEP_INTERVAL_SECONDS="1",
            DELIVERY_QUEUED_SWEEP_AFTER_SECONDS="3",
            EVENTS_SWEEP_AFTER_SECONDS="5",
            CAMPAIGNS_STALL_SECONDS="5",
            # A killed worker's jobs let go of their queues 3 s after it died (10 s in the product).
            HELPDESK_HOLD_TTL="3",
            HELPDESK_DRAIN_KEY_TTL="10",
            CAMPAIGNS_SWEEP_INTERVAL_SECONDS="2",
            CAMPAIGNS_FEED_BACKLOG=str(max(200, args.cap * 2)),
            CAMPAIGNS_FEED_BATCH=str(max(50, args.cap // 4)),
        )
        django_setup(env)

        import httpx
        from django.db import connection, transaction
        from django.utils import timezone

        from campaigns import sending
        from campaigns.models import Broadcast, BroadcastRecipient, Segment
        from conversations.models import Contact, Message
        from conversations.services.outbound import OutboundSpec, message_send
        from tenants.models import User
        from tenants.services import tenant_create
        from tests.factories import owner_of
        from whatsapp.messaging_limits import channel_limits_refresh
        from whatsapp.processing import callback_data_for, webhook_events_process_batch
        from whatsapp.services import channel_create, templates_sync

        owner = User.objects.create_user(email="owner@bench.example", password="x" * 12)
        tenant = tenant_create(name="Bench", owner=owner)
        agent = owner_of(tenant)
        channel = channel_create(
            actor=agent,
            name="Bench",
            display_phone_number="5511900007777",
            phone_number_id=PNID,
            waba_id=WABA,
            access_token=TOKEN,
            app_secret=SECRET,
            verify=False,
            throughput_per_second=args.cap,
        )
        start(
            stack,
            "fake",
            [str(VENV_BIN / "python"), "-m", "whatsapp.fake", "--host", "127.0.0.1", "--port", str(fake_port),
             "--log-level", "warning"],
            env,
            log_dir,
            url_returns_ok(f"{fake_url}/_fake/health"),
        )  # fmt: skip
        base = start_web(stack, env, log_dir)
        admin = httpx.Client(base_url=fake_url, timeout=120)
        admin.post("/_fake/settings", json={"sent_delay_s": 0.05, "delivered_delay_s": 0.2}).raise_for_status()
        admin.post(
            "/_fake/phone_numbers",
            json={
                "phone_number_id": PNID,
                "display_phone_number": "5511900007777",
                "waba_id": WABA,
                "access_token": TOKEN,
                "app_secret": SECRET,
                "webhook_url": f"{base}/webhooks/whatsapp/{channel.webhook_key}/",
                "verified_name": "Bench",
                "throughput_per_s": args.cap,
            },
        ).raise_for_status()
        admin.post(
            "/_fake/settings", json={"phone_numbers": {PNID: {"messaging_limit_tier": "TIER_100K"}}}
        ).raise_for_status()
        admin.post(
            "/_fake/templates",
            json={
                "waba_id": WABA,
                "name": TEMPLATE,
                "language": "pt_BR",
                "category": "MARKETING",
                "status": "APPROVED",
                "components": [{"type": "BODY", "text": "Oi {{1}}, hoje tem {{2}} de desconto pra você."}],
            },
        ).raise_for_status()
        templates_sync(channel=channel)
        assert channel_limits_refresh(channel=channel)

        # The audience: consenting customers and some who opted out, all marked for the segment.
        phones = [f"55219{i:08d}" for i in range(total + refusing)]
        for start_at in range(0, len(phones), 5000):
            Contact.objects.bulk_create(
                [
                    Contact(
                        tenant=tenant,
                        name=f"Cliente {i}",
                        phone_e164=f"+{phones[i]}",
                        custom_attributes={"bench": "1"},
                        marketing_consent="opted_in" if i < total else "opted_out",
                    )
                    for i in range(start_at, min(start_at + 5000, len(phones)))
                ]
            )
        consenting, refused = set(phones[:total]), set(phones[total:])
        segment = Segment.objects.create(
            tenant=tenant, name="Bench", filters={"attributes": [{"key": "bench", "op": "eq", "value": "1"}]}
        )
        variables = {"body.1": {"attribute": "name", "fallback": "cliente"}, "body.2": {"value": "10 %"}}

        # plan_100k_s: 100,000 contacts of another segment planned in one statement (timed alone).
        for start_at in range(0, args.plan_rows, 10_000):
            Contact.objects.bulk_create(
                [
                    Contact(
                        tenant=tenant,
                        name=f"Plano {i}",
                        phone_e164=f"+55319{i:08d}",
                        custom_attributes={"plan": "1", "cupom": f"C{i}"},
                        marketing_consent="opted_in" if i % 10 else "unknown",
                    )
                    for i in range(start_at, min(start_at + 10_000, args.plan_rows))
                ]
            )
        planned = Broadcast.objects.create(
            tenant=tenant,
            name="Plano",
            inbox=channel.inbox,
            template_name=TEMPLATE,
            template_language="pt_BR",
            template_category="MARKETING",
            variables={"body.1": {"attribute": "name", "fallback": "cliente"}, "body.2": {"attribute": "attr:cupom"}},
            segment=Segment.objects.create(
                tenant=tenant, name="Plano", filters={"attributes": [{"key": "plan", "op": "eq", "value": "1"}]}
            ),
            status=Broadcast.Status.CANCELED,
        )
        began = time.perf_counter()
        with transaction.atomic():
            sending._segment_plan(planned, timezone.now())
        plan_s = time.perf_counter() - began
        plan_rows = BroadcastRecipient.objects.filter(broadcast=planned).count()
        # The tables were filled in bulk a moment ago: their statistics, as autovacuum keeps them on a live
        # database (without them the planner takes these tables for empty).
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")

        # Customers who wrote: an agent answers them during the broadcast.
        answered = [f"55119{i:08d}" for i in range(args.replies)]
        for address in answered:
            admin.post(
                "/_fake/inbound",
                json={"phone_number_id": PNID, "from": address, "name": "C", "type": "text", "text": "oi"},
            ).raise_for_status()
        inbound = Message.objects.filter(inbox=channel.inbox, direction="in")
        while inbound.count() < len(answered):
            if not webhook_events_process_batch(channel_id=channel.pk, limit=200):
                time.sleep(0.05)
        to_answer = [
            m.conversation for m in inbound.select_related("conversation__inbox", "conversation__contact_inbox")
        ]

        start(
            stack,
            "beat",
            [str(VENV_BIN / "celery"), "-A", "helpdesk", "beat", "--loglevel=INFO", "-s", str(log_dir / "beat")],
            env,
            log_dir,
            lambda: (log_dir / "beat.log").exists() and "beat: Starting" in (log_dir / "beat.log").read_text(),
        )
        worker = start_worker(stack, env, log_dir, concurrency=args.concurrency)
        # As deployed (docs/operations.md): a worker of its own for replies customers wait for.
        start_worker(stack, env, log_dir, concurrency=1, name="replies", queues="replies")

        broadcast = Broadcast.objects.create(
            tenant=tenant,
            name="Black Friday",
            inbox=channel.inbox,
            template_name=TEMPLATE,
            template_language="pt_BR",
            variables=variables,
            segment=segment,
        )
        # Sent as the send queue recorded it (its recipients follow later, through the status events): the
        # disruptions come at 30 % and 60 % of the sends, whatever the outcomes' lag.
        reached = Message.objects.filter(
            idempotency_key__startswith=f"broadcast:{broadcast.pk}:", status__in=["sent", "delivered", "read"]
        )
        started = time.time()
        sending.broadcast_start(actor=agent, broadcast=broadcast)
        rss = 0.0
        killed_at = redis_restarted_at = None
        replies: list[tuple[int, float]] = []
        reply_every = total / args.cap / (args.replies + 1)
        next_reply = started + reply_every
        deadline = started + (args.timeout or total / args.cap * 2.5 + 120)
        workers_started = 1
        while time.time() < deadline:
            rss = max(rss, _rss_mb(worker.pid or 0))
            done = reached.count()
            if not args.no_disrupt and killed_at is None and done >= total * 0.3:
                os.killpg(worker.pid or 0, signal.SIGKILL)
                killed_at = time.time() - started
                workers_started += 1
                worker = start_worker(
                    stack, env, log_dir, concurrency=args.concurrency, name=f"worker-{workers_started}"
                )
            if not args.no_disrupt and killed_at is not None and redis_restarted_at is None and done >= total * 0.6:
                redis_server.stop()
                redis_server.start()
                redis_restarted_at = time.time() - started
                # The workers keep running: their broker consumers reconnect by themselves.
            if replies.__len__() < len(to_answer) and time.time() >= next_reply:
                conversation = to_answer[len(replies)]
                at = time.time()
                reply, _created = message_send(
                    actor=agent, conversation=conversation, spec=OutboundSpec(type="text", text="Já verifiquei.")
                )
                replies.append((reply.pk, at))
                next_reply += reply_every
            broadcast.refresh_from_db()
            if broadcast.status == Broadcast.Status.COMPLETED and len(replies) == len(to_answer):
                break
            time.sleep(0.2)
        run_s = time.time() - started
        wait_until(
            lambda: (
                not Message.objects.filter(pk__in=[pk for pk, _ in replies], status__in=["queued", "sending"]).exists()
            ),
            timeout=30,
        )
        sends = admin.get("/_fake/messages", params={"direction": "out", "phone_number_id": PNID}).json()["data"]
        rejected = admin.get("/_fake/requests", params={"method": "POST", "path_contains": "/messages"}).json()["data"]
        admin.close()
        broadcast.refresh_from_db()

    reply_callbacks = {callback_data_for(pk): at for pk, at in replies}
    template_sends = [s for s in sends if s["type"] == "template"]
    times = sorted(s["created_at"] for s in template_sends)
    per_recipient = Counter(s["wa_id"] for s in template_sends)
    latencies = [
        (s["created_at"] - reply_callbacks[s["biz_opaque_callback_data"]]) * 1000
        for s in sends
        if s.get("biz_opaque_callback_data") in reply_callbacks
    ]
    span = times[-1] - times[0] if len(times) > 1 else 1.0
    per_second = Counter(int(t - times[0]) for t in times) if times else Counter()
    seconds = [per_second.get(i, 0) for i in range(int(span) + 1)]
    figures = {
        "mode": "quick" if args.quick else ("custom" if args.recipients or args.no_disrupt else "full"),
        "load_avg_end": round(os.getloadavg()[0], 1),
        "recipients": total,
        "opted_out": refusing,
        "cap_per_s": args.cap,
        "achieved_per_s": round((len(times) - 1) / span, 1) if span else 0.0,
        "steady_per_s": statistics.median(seconds) if seconds else 0,
        "max_1s_window": max_window(times),
        "rejected_130429": sum(1 for r in rejected if r.get("error_code") == 130429),
        "duplicates": sum(n - 1 for n in per_recipient.values() if n > 1),
        "lost": len(consenting - set(per_recipient)),
        "sent_without_consent": len(refused & set(per_recipient)),
        "agent_reply_p50_ms": round(statistics.median(latencies), 1) if latencies else None,
        "agent_reply_max_ms": round(max(latencies), 1) if latencies else None,
        "replies_lost": len(replies) - len(latencies),
        "plan_100k_s": round(plan_s, 2),
        "plan_rows": plan_rows,
        "worker_rss_mb": rss,
        "worker_killed_at_s": round(killed_at, 1) if killed_at is not None else None,
        "redis_restarted_at_s": round(redis_restarted_at, 1) if redis_restarted_at is not None else None,
        "completed": broadcast.status == Broadcast.Status.COMPLETED,
        "run_s": round(run_s, 1),
    }
    print("sends per second:", " ".join(str(n) for n in seconds))
    print(f"logs in {log_dir}")
    report(figures)


if __name__ == "__main__":
    main()
