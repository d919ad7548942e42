"""Outbound pacing: queued messages delivered to the fake Cloud API under its throughput cap.

Processes: the fake Cloud API (enforcing the cap with 130429, as Meta does), uvicorn (receiving
the status webhooks), one Celery worker, PostgreSQL and Redis. The benchmark queues messages to
many customers, enqueues their delivery jobs, and reads what the fake received.

    python bench/outbound.py [--quick]

While the broadcast goes out, customers who wrote are answered, one reply at a time spread over
the run: by an agent (sent ahead of the inbox's queue) and, as the baseline, by an integrator
through the API (which joins the queue behind the broadcast). Their latency is counted from the
reply's commit to its arrival at the fake.

The last line printed is one JSON object: cap_per_s, achieved_per_s, max_1s_window, rejected_130429,
duplicates, lost, and the replies' agent_reply_p50_ms, agent_reply_max_ms, api_reply_p50_ms.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    REDIS_BASE,
    VENV_BIN,
    django_setup,
    flush_redis,
    fresh_database,
    migrate,
    process_env,
    report,
    start,
    start_web,
    start_worker,
    stop_children_on_sigterm,
    wait_until,
)
from tests.e2e.harness import free_port, url_returns_ok

PNID = "910000000000001"
WABA = "910000000000002"
TOKEN = "bench-outbound-token"
SECRET = "bench-outbound-secret"


def max_window(times: list[float], span: float = 1.0) -> int:
    """The most requests in any window of ``span`` seconds."""
    times = sorted(times)
    best, lo = 0, 0
    for hi, t in enumerate(times):
        while times[lo] <= t - span:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1,500 messages instead of 5,000 (under 60 s)")
    parser.add_argument("--cap", type=int, default=80, help="messages per second the number may send")
    parser.add_argument("--concurrency", type=int, default=6, help="Celery worker processes")
    parser.add_argument("--replies", type=int, default=5, help="agent replies (and as many API ones) during the run")
    args = parser.parse_args()
    stop_children_on_sigterm()
    total = 1500 if args.quick else 5000
    customers = total // 5
    answered = 2 * args.replies  # customers who get one reply each while the broadcast goes out

    database = fresh_database("helpdesk_bench_outbound")
    redis_url = f"{REDIS_BASE}/12"
    flush_redis(redis_url)
    env = process_env(database, redis_url)
    migrate(env)
    django_setup(env)

    import httpx
    from django.utils import timezone

    from conversations.models import Contact, ContactIdentity, ContactInbox, Conversation, Message
    from conversations.services.delivery_jobs import delivery_enqueue
    from conversations.services.outbound import OutboundSpec, message_send
    from tenants.models import Role, User
    from tenants.permissions import BuiltinRole
    from tenants.services import api_token_create, tenant_create
    from tests.factories import owner_of
    from whatsapp.processing import callback_data_for, webhook_events_process_batch
    from whatsapp.services import channel_create

    log_dir = Path(tempfile.mkdtemp(prefix="bench-outbound-"))
    fake_port = free_port()
    fake_url = f"http://127.0.0.1:{fake_port}"
    env["WHATSAPP_API_BASE_URL"] = fake_url  # the servers reach the Cloud API at the fake
    owner = User.objects.create_user(email="owner@bench.example", password="x" * 12)
    tenant = tenant_create(name="Bench", owner=owner)
    channel = channel_create(
        actor=owner_of(tenant),
        name="Bench",
        display_phone_number="5511900008888",
        phone_number_id=PNID,
        waba_id=WABA,
        access_token=TOKEN,
        app_secret=SECRET,
        verify=False,
        throughput_per_second=args.cap,
    )
    now = timezone.now()
    addresses = [f"55119{i:08d}" for i in range(customers + answered)]
    contacts = Contact.objects.bulk_create(
        [Contact(tenant=tenant, profile_name=f"C{i}") for i in range(len(addresses))]
    )
    ContactIdentity.objects.bulk_create(
        [
            ContactIdentity(tenant=tenant, contact=c, channel_type="whatsapp", address=a)
            for c, a in zip(contacts, addresses, strict=True)
        ]
    )
    cis = ContactInbox.objects.bulk_create(
        [
            ContactInbox(tenant=tenant, contact=c, inbox=channel.inbox, source_id=a)
            for c, a in zip(contacts, addresses, strict=True)
        ]
    )
    conversations = Conversation.objects.bulk_create(
        [
            Conversation(
                tenant=tenant, display_id=i + 1, inbox=channel.inbox, contact=ci.contact, contact_inbox=ci,
                last_inbound_at=now, last_activity_at=now,
            )
            for i, ci in enumerate(cis)
        ]
    )  # fmt: skip
    to_answer = conversations[customers:]
    messages = Message.objects.bulk_create(
        [
            Message(
                tenant=tenant,
                conversation=conversations[i % customers],
                inbox=channel.inbox,
                direction="out",
                sender_type="api",
                type="text",
                text=f"Sua recarga nº {i} foi confirmada.",
                status="queued",
            )
            for i in range(total)
        ]
    )

    with ExitStack() as stack:
        start(
            stack,
            "fake",
            [str(VENV_BIN / "python"), "-m", "whatsapp.fake", "--host", "127.0.0.1", "--port", str(fake_port)],
            env,
            log_dir,
            url_returns_ok(f"{fake_url}/_fake/health"),
        )
        base = start_web(stack, env, log_dir)
        admin = httpx.Client(base_url=fake_url, timeout=30)
        admin.post("/_fake/settings", json={"sent_delay_s": 0.05, "delivered_delay_s": 0.2}).raise_for_status()
        admin.post(
            "/_fake/phone_numbers",
            json={
                "phone_number_id": PNID,
                "display_phone_number": "5511900008888",
                "waba_id": WABA,
                "access_token": TOKEN,
                "app_secret": SECRET,
                "webhook_url": f"{base}/webhooks/whatsapp/{channel.webhook_key}/",
                "verified_name": "Bench",
                "throughput_per_s": args.cap,
            },
        ).raise_for_status()
        # Meta's window is open for every customer: each wrote to the business.
        for address in addresses:
            admin.post(
                "/_fake/inbound",
                json={"phone_number_id": PNID, "from": address, "name": "C", "type": "text", "text": "oi"},
            ).raise_for_status()
        # The customers' messages reach the product before the business sends (processed here, so
        # the worker starts with the deliveries alone), and the deliveries are queued before it starts.
        inbound = Message.objects.filter(inbox=channel.inbox, direction="in")
        while inbound.count() < customers + answered:
            if not webhook_events_process_batch(channel_id=channel.pk, limit=200):
                time.sleep(0.05)  # the fake is still posting them
        admin.delete("/_fake/webhooks")
        admin.delete("/_fake/requests")
        for message in messages:
            delivery_enqueue(message)  # what a service does after its commit
        agent = owner_of(tenant)
        integration, _raw = api_token_create(
            actor=agent, name="Bench", role=Role.objects.get(tenant=tenant, key=BuiltinRole.ADMIN)
        )
        start_worker(stack, env, log_dir, concurrency=args.concurrency)

        def sends() -> list[dict]:
            rows = admin.get("/_fake/requests", params={"method": "POST", "path_contains": "/messages"}).json()
            rows = rows.get("data", rows) if isinstance(rows, dict) else rows
            # A reply to unread messages also sends a read receipt: not a message, not counted.
            return [r for r in rows if (r.get("json") or {}).get("status") != "read"]

        # Replies spread over the middle of the broadcast, agent and integrator in turn.
        replies: list[tuple[str, int, float]] = []
        pause = total / args.cap / (answered + 2)
        for i, conversation in enumerate(to_answer):
            time.sleep(pause)
            principal = agent if i % 2 == 0 else integration
            started = time.time()
            reply, _created = message_send(
                actor=principal, conversation=conversation, spec=OutboundSpec(type="text", text="Já verifiquei.")
            )
            replies.append(("agent" if i % 2 == 0 else "api", reply.pk, started))

        ids = [m.pk for m in messages] + [pk for _who, pk, _at in replies]
        settled = Message.objects.filter(pk__in=ids, status__in=["sent", "delivered", "read", "failed"])
        wait_until(
            lambda: settled.count() >= len(ids),
            timeout=total / args.cap * 3 + 60,
            interval=1.0,
        )
        recorded = sends()
        admin.close()
    arrived = {
        r["json"]["biz_opaque_callback_data"]: r["at"] for r in recorded if r["status_code"] == 200 and r.get("json")
    }
    latency: dict[str, list[float]] = {"agent": [], "api": []}
    for who, pk, started in replies:
        at = arrived.get(callback_data_for(pk))
        if at is not None:
            latency[who].append((at - started) * 1000)
    reply_callbacks = {callback_data_for(pk) for _who, pk, _at in replies}
    recorded = [r for r in recorded if (r.get("json") or {}).get("biz_opaque_callback_data") not in reply_callbacks]
    accepted = [r for r in recorded if r["status_code"] == 200]
    rejected = [r for r in recorded if r["status_code"] != 200]
    rejected_130429 = sum(1 for r in rejected if r.get("error_code") == 130429)
    times = [r["at"] for r in accepted]
    callbacks = [r["json"]["biz_opaque_callback_data"] for r in accepted]
    span = max(times) - min(times) if len(times) > 1 else 1.0
    figures = {
        "mode": "quick" if args.quick else "full",
        "messages": total,
        "cap_per_s": args.cap,
        "achieved_per_s": round((len(accepted) - 1) / span, 1) if span else 0.0,
        "max_1s_window": max_window(times),
        "rejected_130429": rejected_130429,
        "rejected_other": len(rejected) - rejected_130429,
        "duplicates": len(callbacks) - len(set(callbacks)),
        "lost": total - len(set(callbacks)),
        "failed": Message.objects.filter(pk__in=[m.pk for m in messages], status="failed").count(),
        "agent_reply_p50_ms": round(statistics.median(latency["agent"]), 1) if latency["agent"] else None,
        "agent_reply_max_ms": round(max(latency["agent"]), 1) if latency["agent"] else None,
        "api_reply_p50_ms": round(statistics.median(latency["api"]), 1) if latency["api"] else None,
        "replies_lost": len(replies) - sum(len(v) for v in latency.values()),
    }
    first = min(times) if times else 0.0
    per_second = [0] * (int(span) + 1)
    for t in times:
        per_second[int(t - first)] += 1
    print("sends accepted per second:", " ".join(str(n) for n in per_second))
    print(f"{len(accepted)} sends accepted in {span:.1f} s: {figures['achieved_per_s']}/s (cap {args.cap}/s)")
    print(f"busiest second: {figures['max_1s_window']}; 130429 rejections: {rejected_130429}; logs in {log_dir}")
    print(
        "replies during the broadcast (ms from commit to arrival): agent",
        " ".join(f"{v:.0f}" for v in latency["agent"]),
        "| API (queued behind it)",
        " ".join(f"{v:.0f}" for v in latency["api"]),
    )
    report(figures)


if __name__ == "__main__":
    main()
