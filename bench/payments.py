"""Payments: Pix orders confirmed from webhooks delivered three times each, shuffled, with forgeries.

Processes: the fake PSP (API Pix, its demo receiver), the fake Cloud API, uvicorn (two processes), one
Celery worker, PostgreSQL and Redis. One workspace with an API Pix account at the fake PSP and one
WhatsApp number; every order belongs to a customer of its own who wrote a moment ago (their reply
window open in the product and at the fake).

    python bench/payments.py [--quick]

1. **Setup** (not measured): ``--orders`` orders of R$ 25,00 (``order_create``), each asked for with
   ``payment_request_create`` (a ``PUT /cob`` at the fake PSP and the WhatsApp payment message, sent
   to the fake Cloud API before the run starts), plus ``--forged`` orders asked for the same way that
   nobody pays. The payer then pays every charge of the first set at the fake PSP
   (``/_fake/pix/pay``), whose own callback is off (no webhook is registered at the PSP).
2. **Webhooks**: for each paid charge the PSP's callback ``{"pix": [<the Pix as the fake returned
   it>]}`` and, for each unpaid charge, a forged one (a made-up endToEndId, the charge's txid and
   amount), each delivered ``--deliveries`` (3) times; the whole list shuffled and posted to
   ``/webhooks/payments/<key>/pix`` open loop at ``--rate`` (200) per second.
3. **Settle**: the run waits until nothing the webhooks named waits in Redis any more and no job holds a
   slot of the account (``payments.notifications``), and every confirmed order's status message has
   reached the fake, then
   runs the payments sweeper once (``payments.requests.payment_requests_sweep()``, the beat's pass: the
   200 open requests that expire first) and waits for what it confirmed.

Figures (the last line printed is one JSON object):

- ``confirm_p50_ms`` / ``confirm_p95_ms`` / ``confirm_max_ms``: per paid order, from the first post of
  a webhook naming its charge (its time in the open loop's schedule: a post that waits for one of the
  64 connections, all busy with slow answers, counts that wait) to the arrival at the fake Cloud API
  of its ``order_status`` message (the fake stamps each request as it comes in; both clocks are this
  machine's). Target p95 ≤ 1,000 ms.
- ``throughput_per_s``: confirmed orders over the time from the first webhook posted to the last
  status message arrived.
- ``double_paid``: orders with more than one unflagged ``Payment``, or more than one
  ``order.status_changed`` audit entry to ``paid`` (target 0).
- ``double_order_status``: orders with more than one outbound ``order_status`` message in the
  product, or whose ``reference_id`` reached the fake (answered 200) more than once (target 0).
- ``lost``: charges paid at the PSP whose order is not paid after the sweeper (target 0);
  ``lost_before_sweep`` the same before it.
- ``forged_accepted``: forged orders paid, or with any payment recorded (target 0).
- ``webhooks_sent``, ``webhooks_per_s`` (achieved), ``webhook_non_200``, ``webhook_p99_ms`` (answer
  time from the scheduled post), ``webhook_reposts`` (posts made again on a new connection after the
  connection failed: uvicorn closes one idle for 5 s, which happens at low rates), ``jobs_failed`` /
  ``job_retries`` (notification jobs, from the worker's log), ``flagged_payments``,
  ``status_sends_rejected`` (non-200 answers of the fake to order_status sends), ``confirmed`` (paid
  orders whose status message reached the fake), ``settled`` (false when the jobs were not all done
  within ``--settle-cap``).
- ``web_cpu_ms_per_webhook``, ``worker_cpu_ms_per_webhook``, ``psp_cpu_ms_per_webhook``: CPU (Linux
  ``/proc``) of uvicorn's processes, the worker's and the fake PSP's from the first post until the
  jobs were done, over the webhooks posted; the web's includes the fake's status webhooks of the
  status messages, the worker's the sends and those statuses.

The number's throughput at the fake and in the product is ``--cap`` (1,000 messages/s, Meta's
upper tier, by default): in a shuffled list of triple deliveries nearly every early post names a
charge for the first time (first notifications come at the posting rate, 200/s, at the start, and
fall off as the run goes on), so at Meta's default of 80/s the send cap, not the confirmation path,
would set the latency.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import string
import sys
import tempfile
import threading
import time
from collections import Counter
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    REDIS_BASE,
    VENV_BIN,
    RawHttpPool,
    cpu_seconds,
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
    wait_until,
)
from tests.e2e.harness import free_port, url_returns_ok

PNID = "930000000000001"
WABA = "930000000000002"
DISPLAY = "5511900009999"
TOKEN = "bench-payments-token"
APP_SECRET = "bench-payments-secret"
# The fake PSP's demo receiver (payments/fake/__main__.py).
PIX_CLIENT_ID, PIX_CLIENT_SECRET = "demo-pix-client", "demo-pix-secret"
PIX_KEY = "2a5c4f1e-9b3d-4c7a-8e6f-1d2b3c4d5e6f"
AMOUNT = 2500
TASKS = ("payments.tasks.payment_notifications_drain", "payments.tasks.payment_notification_process")


def pix_time(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def forged_e2eid(rng: random.Random) -> str:
    """An endToEndId of the right shape that no PSP issued: E, an ISPB, the minute, 11 letters and digits."""
    alphabet = string.ascii_letters + string.digits
    return f"E99999999{datetime.now(UTC):%Y%m%d%H%M}" + "".join(rng.choice(alphabet) for _ in range(11))


# --- setup -----------------------------------------------------------------------------------------------


async def open_windows(fake_url: str, customers: list[str]) -> list[str]:
    """Each customer writes through the fake (which has no webhook address yet): their window opens
    there; returns the wamids, which the product stores as the same messages."""
    import httpx

    async with httpx.AsyncClient(base_url=fake_url, timeout=30) as client:
        semaphore = asyncio.Semaphore(16)

        async def one(customer: str) -> str:
            async with semaphore:
                answer = await client.post(
                    "/_fake/inbound",
                    json={"phone_number_id": PNID, "from": customer, "name": "Cliente", "type": "text", "text": "Oi"},
                )
                answer.raise_for_status()
                return str(answer.json()["wamid"])

        return await asyncio.gather(*(one(c) for c in customers))


def conversations_make(inbox: Any, customers: list[str], wamids: list[str]) -> list[Any]:
    """The customers' messages stored as ingest stores them (``messages_receive``, 200 at a time)."""
    from django.utils import timezone

    from conversations.services.inbound import InboundSpec, messages_receive

    conversations = []
    now = timezone.now()
    for i in range(0, len(customers), 200):
        specs = [
            InboundSpec(
                source_id=customer, external_id=wamid, occurred_at=now, type="text", text="Oi", profile_name="Cliente"
            )
            for customer, wamid in zip(customers[i : i + 200], wamids[i : i + 200], strict=True)
        ]
        conversations += [message.conversation for message, _created in messages_receive(inbox=inbox, specs=specs)]
    return conversations


def requests_make(owner: Any, conversations: list[Any], threads: int) -> list[Any]:
    """An order and its Pix payment request for each conversation, ``threads`` at a time (each its own
    database connection): the charge is a call to the fake PSP, the message is queued for delivery."""
    from django.db import connections

    from payments.orders import order_create
    from payments.requests import payment_request_create

    made: list[Any] = [None] * len(conversations)
    errors: list[BaseException] = []

    def work(indexes: range) -> None:
        try:
            for i in indexes:
                order = order_create(actor=owner, conversation=conversations[i], amount=AMOUNT, description="Recarga")
                made[i] = payment_request_create(actor=owner, order=order, kind="bcb_pix")
        except BaseException as exc:  # reported below, in the main thread
            errors.append(exc)
        finally:
            connections.close_all()

    workers = [threading.Thread(target=work, args=(range(t, len(conversations), threads),)) for t in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    if errors:
        raise errors[0]
    return made


def pay(psp_url: str, txids: list[str]) -> dict[str, dict[str, Any]]:
    """The payer pays each charge once at the fake PSP; returns the Pix received, by txid."""
    from concurrent.futures import ThreadPoolExecutor

    from payments.fake.client import FakePspAdminClient

    with FakePspAdminClient(psp_url, timeout=30) as psp, ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda txid: psp.pix_pay(txid)["pix"][0], txids))
    return dict(zip(txids, answers, strict=True))


# --- the webhooks ----------------------------------------------------------------------------------------


async def post_all(
    url: str, items: list[tuple[str, bytes]], rate: float, connections: int
) -> tuple[dict[str, float], Counter[int], list[float], float]:
    """Post each (txid, body) open loop at ``rate`` per second. Returns the first post time of each txid
    (epoch seconds, when the schedule called for it), the statuses (-1 counts posts made again after a
    failed connection, 0 the ones that still failed), the answer times (ms from the scheduled start) and
    the posting's duration."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    first: dict[str, float] = {}
    statuses: Counter[int] = Counter()
    answers: list[float] = []
    headers = {"Content-Type": "application/json"}
    async with RawHttpPool(f"{parts.scheme}://{parts.netloc}", connections) as pool:
        start = time.perf_counter()

        async def one(i: int, txid: str, body: bytes) -> None:
            scheduled = start + i / rate
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            sent = time.time()
            if sent < first.get(txid, float("inf")):
                first[txid] = sent
            status = await pool.post(parts.path, body, headers)
            for _retry in range(connections):
                if status != 0:
                    break
                # The connection failed (uvicorn closes one idle for 5 s; the pool hands out the next one,
                # as old, and replaces the failed one): the PSP would deliver it again.
                statuses[-1] += 1
                status = await pool.post(parts.path, body, headers)
            statuses[status] += 1
            answers.append((time.perf_counter() - scheduled) * 1000)

        await asyncio.gather(*(one(i, txid, body) for i, (txid, body) in enumerate(items)))
        elapsed = time.perf_counter() - start
    return first, statuses, answers, elapsed


def job_counts(log: Path) -> Counter[str]:
    """Notification jobs the worker ended (succeeded, raised) or retried, from its log."""
    text = log.read_text(errors="replace") if log.exists() else ""
    counts: Counter[str] = Counter()
    names = "|".join(re.escape(task) for task in TASKS)
    for outcome in re.findall(r"(?:" + names + r")\[[^\]]+\] (succeeded|raised|retry)", text):
        counts[outcome] += 1
    return counts


def web_group(web: str) -> int:
    """The process group of the uvicorn serving ``web`` (its worker processes are in it too)."""
    port = web.rsplit(":", 1)[1]
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        if any(a.endswith(b"uvicorn") for a in args[:2]) and port.encode() in args:
            return os.getpgid(int(cmdline.parent.name))
    return 0


def status_sends(fake_url: str) -> list[dict[str, Any]]:
    """The order_status sends the fake received, each with the moment it came in."""
    import httpx

    rows = httpx.get(f"{fake_url}/_fake/requests", params={"method": "POST", "path_contains": "/messages"}, timeout=120)
    data = rows.json()
    data = data.get("data", data) if isinstance(data, dict) else data
    return [r for r in data if ((r.get("json") or {}).get("interactive") or {}).get("type") == "order_status"]


def reference_of(send: dict[str, Any]) -> str:
    return str(send["json"]["interactive"]["action"]["parameters"]["reference_id"])


# --- the figures -----------------------------------------------------------------------------------------


def integrity(paid: list[Any], forged: list[Any]) -> dict[str, Any]:
    """From the database: orders paid twice, status messages twice, paid charges not confirmed, forgeries."""
    from django.db.models import Count, Q

    from conversations.models import Message
    from payments.models import Order, Payment
    from tenants.models import AuditLogEntry

    order_ids = [r.order_id for r in paid + forged]
    unflagged = Counter(
        Payment.objects.filter(request__order_id__in=order_ids, flagged="").values_list("request__order_id", flat=True)
    )
    to_paid = Counter(
        int(target)
        for target in AuditLogEntry.objects.filter(
            action=AuditLogEntry.Action.ORDER_STATUS_CHANGED, extra__status__to="paid"
        ).values_list("target_id", flat=True)
    )
    doubles = {o for o in order_ids if unflagged[o] > 1 or to_paid[o] > 1}
    conversation_of = dict(Order.objects.filter(pk__in=order_ids).values_list("conversation_id", "pk"))
    status_messages = (
        Message.objects.filter(conversation_id__in=conversation_of, type="order_status", direction="out")
        .values("conversation_id")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
    )
    paid_orders = set(
        Order.objects.filter(pk__in=[r.order_id for r in paid], status="paid").values_list("pk", flat=True)
    )
    forged_ids = [r.order_id for r in forged]
    forged_paid = set(Order.objects.filter(pk__in=forged_ids, status="paid").values_list("pk", flat=True))
    forged_paid |= set(
        Payment.objects.filter(request__order_id__in=forged_ids).values_list("request__order_id", flat=True)
    )
    return {
        "double_paid_orders": sorted(doubles),
        "double_status_orders": sorted(conversation_of[row["conversation_id"]] for row in status_messages),
        "lost_orders": sorted({r.order_id for r in paid} - paid_orders),
        "forged_accepted": len(forged_paid),
        "flagged_payments": Payment.objects.filter(~Q(flagged=""), request__order_id__in=order_ids).count(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="300 orders instead of 5,000 (under 90 s)")
    parser.add_argument("--orders", type=int, help="paid orders (quick 300, full 5,000)")
    parser.add_argument("--forged", type=int, help="unpaid orders whose charges get forged webhooks (orders / 20)")
    parser.add_argument("--deliveries", type=int, default=3, help="times each webhook is delivered")
    parser.add_argument("--rate", type=float, default=200.0, help="webhooks posted per second")
    parser.add_argument("--cap", type=int, default=1000, help="the number's messages per second (fake and product)")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--concurrency", type=int, default=4, help="Celery worker processes")
    parser.add_argument("--setup-threads", type=int, default=4, help="threads making the orders and charges")
    parser.add_argument("--settle-cap", type=float, help="seconds to wait for the jobs (quick 20, full 900)")
    args = parser.parse_args()
    stop_children_on_sigterm()
    orders = args.orders or (300 if args.quick else 5000)
    forged_count = args.forged if args.forged is not None else max(1, orders // 20)
    settle_cap = args.settle_cap or (20.0 if args.quick else 900.0)
    t_begin = time.perf_counter()

    redis_url = f"{REDIS_BASE}/{os.environ.get('BENCH_PAYMENTS_REDIS_DB', '13')}"
    database = migrated_database(os.environ.get("BENCH_PAYMENTS_DATABASE", "helpdesk_bench_payments"), redis_url)
    flush_redis(redis_url)
    log_dir = Path(tempfile.mkdtemp(prefix="bench-payments-"))
    fake_port, psp_port = free_port(), free_port()
    fake_url, psp_url = f"http://127.0.0.1:{fake_port}", f"http://127.0.0.1:{psp_port}"
    providers = {
        "fake": {"name": "PSP de teste", "api_url": f"{psp_url}/pix/api/v2", "token_url": f"{psp_url}/pix/oauth/token"}
    }
    env = process_env(
        database,
        redis_url,
        WHATSAPP_API_BASE_URL=fake_url,  # the servers reach the Cloud API and the PSP at the fakes
        PAYMENTS_PIX_PROVIDERS=json.dumps(providers),
        PAYMENTS_ALLOW_PLAIN_HTTP="true",
    )
    django_setup(env)
    print(f"database ready in {time.perf_counter() - t_begin:.1f} s", flush=True)

    import httpx
    import redis

    from conversations.models import Message
    from payments.accounts import payment_account_save
    from payments.requests import payment_requests_sweep
    from tenants.models import User
    from tenants.services import tenant_create
    from tests.factories import owner_of
    from whatsapp.services import channel_create

    user = User.objects.create_user(email="owner@bench.example", password="x" * 12)
    tenant = tenant_create(name="Loja", owner=user)
    owner = owner_of(tenant)
    channel = channel_create(
        actor=owner,
        name="Vendas",
        display_phone_number=DISPLAY,
        phone_number_id=PNID,
        waba_id=WABA,
        access_token=TOKEN,
        app_secret=APP_SECRET,
        verify=False,
        throughput_per_second=args.cap,
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
            "merchant_name": "LOJA EXEMPLO",
        },
        secrets={"client_secret": PIX_CLIENT_SECRET},
    )
    customers = [f"55119{n:08d}" for n in range(orders + forged_count)]
    figures: dict[str, Any] = {
        "mode": "quick" if args.quick else "custom" if args.orders else "full",
        "orders": orders,
        "forged_orders": forged_count,
        "deliveries": args.deliveries,
        "rate": args.rate,
        "cap_per_s": args.cap,
    }

    with ExitStack() as stack:
        python = str(VENV_BIN / "python")
        psp = start(
            stack,
            "psp",
            [
                python,
                "-m",
                "payments.fake",
                "--host",
                "127.0.0.1",
                "--port",
                str(psp_port),
                "--demo",
                "--log-level",
                "warning",
            ],
            env,
            log_dir,
            url_returns_ok(f"{psp_url}/_fake/health"),
        )
        start(
            stack,
            "cloud",
            [python, "-m", "whatsapp.fake", "--host", "127.0.0.1", "--port", str(fake_port), "--log-level", "warning"],
            env,
            log_dir,
            url_returns_ok(f"{fake_url}/_fake/health"),
        )
        web = start_web(stack, env, log_dir, workers=args.workers)
        cloud = stack.enter_context(httpx.Client(base_url=fake_url, timeout=60))
        cloud.post("/_fake/settings", json={"sent_delay_s": 0.05, "delivered_delay_s": 0.2}).raise_for_status()

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
                    "verified_name": "Loja",
                    "throughput_per_s": args.cap,
                },
            ).raise_for_status()

        register(None)
        wamids = asyncio.run(open_windows(fake_url, customers))
        conversations = conversations_make(channel.inbox, customers, wamids)
        # From now on the fake's sent/delivered statuses come back into the product, as Meta's do.
        register(f"{web}/webhooks/whatsapp/{channel.webhook_key}/")
        worker = start_worker(stack, env, log_dir, concurrency=args.concurrency)
        print(f"{len(conversations)} conversations ready in {time.perf_counter() - t_begin:.1f} s", flush=True)

        made = requests_make(owner, conversations, args.setup_threads)
        paid, forged = made[:orders], made[orders:]
        asked = Message.objects.filter(pk__in=[r.message_id for r in made])
        settled = ["sent", "delivered", "read", "failed"]
        wait_until(
            lambda: asked.filter(status__in=settled).count() >= len(made), timeout=120 + len(made) / 20, interval=0.5
        )
        broker = redis.Redis.from_url(redis_url)
        wait_until(lambda: broker.llen("celery") == 0, timeout=60, interval=0.2)
        failed_asks = asked.filter(status="failed").count()
        print(
            f"{len(made)} orders and charges, payment messages sent ({failed_asks} failed), "
            f"in {time.perf_counter() - t_begin:.1f} s",
            flush=True,
        )

        pix = pay(psp_url, [r.charge_id for r in paid])
        rng = random.Random(7)
        items: list[tuple[str, bytes]] = []
        for request in paid:
            items += [(request.charge_id, json.dumps({"pix": [pix[request.charge_id]]}).encode())] * args.deliveries
        for request in forged:
            fake_pix = {
                "endToEndId": forged_e2eid(rng),
                "txid": request.charge_id,
                "valor": f"{AMOUNT // 100}.{AMOUNT % 100:02d}",
                "horario": pix_time(datetime.now(UTC)),
            }
            items += [(request.charge_id, json.dumps({"pix": [fake_pix]}).encode())] * args.deliveries
        rng.shuffle(items)
        cloud.delete("/_fake/requests").raise_for_status()
        httpx.delete(f"{psp_url}/_fake/requests", timeout=30).raise_for_status()
        jobs_before = job_counts(log_dir / "worker.log")
        took = time.perf_counter() - t_begin
        print(f"paid at the PSP in {took:.1f} s; posting {len(items)} webhooks at {args.rate:.0f}/s", flush=True)

        url = f"{web}/webhooks/payments/{account.webhook_key}/pix"
        groups = {"web": web_group(web), "worker": worker.pid or 0, "psp": psp.pid or 0}
        cpu_start = {name: cpu_seconds(group) for name, group in groups.items()}
        first, statuses, answers, elapsed = asyncio.run(post_all(url, items, args.rate, 64))
        posted_at = time.time()

        def jobs_ended() -> bool:
            # Names wait in helpdesk:pay:pending:<account>:<slot>; a job holds helpdesk:pay:drain:<account>:<slot>
            # from its enqueueing until it found nothing more.
            return not any(broker.scan_iter(f"helpdesk:pay:*:{account.pk}:*"))

        status_asked = Message.objects.filter(conversation__in=[c.pk for c in conversations], type="order_status")
        done = wait_until(
            lambda: jobs_ended() and not status_asked.filter(status__in=["queued", "sending"]).exists(),
            timeout=settle_cap,
            interval=0.5,
        )
        print(
            f"jobs and status messages {'done' if done else 'NOT done'} {time.time() - posted_at:.1f} s after posting",
            flush=True,
        )
        cpu = {name: cpu_seconds(group) - cpu_start[name] for name, group in groups.items()}
        before = integrity(paid, forged)
        swept = payment_requests_sweep()
        print(f"sweeper: {swept} ({time.perf_counter() - t_begin:.1f} s)", flush=True)
        wait_until(lambda: not status_asked.filter(status__in=["queued", "sending"]).exists(), timeout=30, interval=0.5)
        after = integrity(paid, forged)
        sends = status_sends(fake_url)
        counts = job_counts(log_dir / "worker.log") - jobs_before

    reference_order = {r.reference: r.charge_id for r in paid + forged}
    arrived: dict[str, float] = {}
    at_fake: Counter[str] = Counter()
    for send in sends:
        if send.get("status_code") != 200:
            continue
        txid = reference_order.get(reference_of(send))
        if txid is None:
            continue
        at_fake[txid] += 1
        arrived[txid] = min(arrived.get(txid, float("inf")), send["at"])
    latencies = [(arrived[r.charge_id] - first[r.charge_id]) * 1000 for r in paid if r.charge_id in arrived]
    order_of = {r.charge_id: r.order_id for r in paid + forged}
    doubles_at_fake = {order_of[txid] for txid, n in at_fake.items() if n > 1}
    span = max(arrived.values()) - min(first.values()) if arrived else 0.0
    figures.update(
        {
            "webhooks_sent": len(items),
            "webhooks_per_s": round(len(items) / elapsed, 1),
            "webhook_non_200": len(items) - statuses[200],
            "webhook_reposts": statuses[-1],
            "webhook_p99_ms": round(percentile(answers, 99), 1),
            "confirmed": len(latencies),
            "confirm_p50_ms": round(percentile(latencies, 50), 1) if latencies else None,
            "confirm_p95_ms": round(percentile(latencies, 95), 1) if latencies else None,
            "confirm_max_ms": round(max(latencies), 1) if latencies else None,
            "throughput_per_s": round(len(latencies) / span, 1) if span else 0.0,
            "double_paid": len(after["double_paid_orders"]),
            "double_order_status": len(set(after["double_status_orders"]) | doubles_at_fake),
            "lost_before_sweep": len(before["lost_orders"]),
            "lost": len(after["lost_orders"]),
            "forged_accepted": after["forged_accepted"],
            "flagged_payments": after["flagged_payments"],
            "jobs_failed": counts["raised"],
            "job_retries": counts["retry"],
            "status_sends_rejected": sum(1 for s in sends if s.get("status_code") != 200),
            "payment_messages_failed": failed_asks,
            "settled": done,
            # CPU per webhook posted, from the first post until everything was done (before the sweeper);
            # the web's includes the fake's status webhooks, the worker's the sends and their statuses.
            **{f"{name}_cpu_ms_per_webhook": round(seconds * 1000 / len(items), 2) for name, seconds in cpu.items()},
        }
    )
    print(f"webhook statuses (-1: posted again): {dict(statuses)}; logs in {log_dir}")
    if after["lost_orders"] or after["double_paid_orders"]:
        print(f"lost orders: {after['lost_orders'][:20]}; paid twice: {after['double_paid_orders'][:20]}")
    print(f"run took {time.perf_counter() - t_begin:.1f} s")
    report(figures)


if __name__ == "__main__":
    main()
