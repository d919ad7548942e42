"""Where a bot flow's step spends its time: statements and milliseconds per stage and per subscriber, in one process.

The workspace, the flow and the customers are ``bench/flows.py``'s; the fake Cloud API, the fake PSP and the
fake transit operator run as their own processes, and the product's code runs here, stage by stage (no worker:
what a worker would do is called here in turn, each stage timed and its statements counted), one customer
message at a time or, with ``--batch N``, every customer's message of a step at once (deliveries ``N`` per
call, as a worker's drain takes them under load):

1. ``web``: the signed webhook taken by the endpoint's service (``webhook_receive``: checked and stored);
2. ``ingest``: the webhook processed (``webhook_events_process_batch``: the message stored, its events);
3. each subscriber that got a delivery (``event_deliveries_deliver``), until none is pending (the events the
   subscribers' own actions record are delivered too);
4. ``send``: each message the step queued handed to the fake Cloud API (``message_deliver_ahead``).

After "Pix" the payer pays the charge at the fake PSP and its webhook is taken (``webhook_accept``: ``pay_web``)
and read back (``notifications_drain``: ``pay_read``); the subscribers and sends follow as above. Each customer's
four messages and the payment are the steps ``start``, ``card``, ``amount``, ``pix``, ``paid``.

    python bench/flows_steps.py [--customers 21] [--batch 1]

The last line printed is one JSON object: per step, its statements and milliseconds by stage and subscriber, per
customer (the first customer warms up and is left out).
The status webhooks the fake would send back are off (the number has no webhook address).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import sys
import tempfile
import time
from collections import defaultdict
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    REDIS_BASE,
    VENV_BIN,
    django_setup,
    flush_redis,
    migrated_database,
    process_env,
    report,
    start,
)
from bench.flows import (
    APP_SECRET,
    DISPLAY,
    LOG,
    PNID,
    SCRIPT,
    TOKEN,
    WABA,
    Customer,
    body_of,
    open_windows,
    transit_config,
    workspace_setup,
)
from tests.e2e.harness import free_port, url_returns_ok


class Meter:
    """Statements and seconds per (step, stage)."""

    def __init__(self, show: str = "", profile: str = "") -> None:
        self.figures: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(lambda: [0, 0.0, 0]))
        self.show = show  # a stage whose statements are kept, the last call's of each step
        self.statements: dict[str, list[str]] = {}
        self.profile = profile  # a stage run under cProfile (every call but the warm-up's)
        self.profiler = cProfile.Profile()

    @contextmanager
    def measure(self, step: str, stage: str) -> Any:
        from django.db import connection

        count = [0]
        kept: list[str] = []

        def counting(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
            count[0] += 1
            if stage == self.show:
                kept.append(sql[:160])
            return execute(sql, params, many, context)

        profiled = stage == self.profile and not step.startswith("warmup_")
        with connection.execute_wrapper(counting):
            began = time.perf_counter()
            if profiled:
                self.profiler.enable()
            try:
                yield
            finally:
                if profiled:
                    self.profiler.disable()
                row = self.figures[step][stage]
                row[0] += count[0]
                row[1] += time.perf_counter() - began
                row[2] += 1
                if kept:
                    self.statements[step] = kept


def deliver_all(meter: Meter, step: str, tenant_id: int, batch: int) -> None:
    """Every pending delivery of the workspace, ``batch`` per call, subscriber by subscriber, until none is left."""
    from conversations.events.delivery import event_deliveries_deliver
    from conversations.models import EventDelivery

    for _round in range(20):
        pending = list(
            EventDelivery.objects.filter(tenant_id=tenant_id, state=EventDelivery.State.PENDING)
            .order_by("pk")
            .values_list("pk", "subscriber")
        )
        if not pending:
            return
        by_subscriber: dict[str, list[int]] = defaultdict(list)
        for pk, subscriber in pending:
            by_subscriber[subscriber].append(pk)
        for subscriber, ids in by_subscriber.items():
            for n in range(0, len(ids), batch):
                with meter.measure(step, subscriber):
                    outcome = event_deliveries_deliver(delivery_ids=ids[n : n + batch])
                if set(outcome.values()) - {"done"}:
                    raise RuntimeError(f"{subscriber}: {outcome}")


def send_all(meter: Meter, step: str, inbox_id: int) -> list[Any]:
    """Hand every queued message of the inbox to the fake Cloud API; returns them, sent."""
    from conversations.models import Message
    from conversations.services.delivery import message_deliver_ahead

    queued = list(
        Message.objects.filter(inbox_id=inbox_id, status="queued").order_by("pk").values_list("pk", flat=True)
    )
    for pk in queued:
        with meter.measure(step, "send"):
            message_deliver_ahead(message_id=pk)
    return list(Message.objects.filter(pk__in=queued).order_by("pk"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=21, help="customers (the first one warms up)")
    parser.add_argument("--batch", type=int, default=1, help="customers' messages handled at once (1: one by one)")
    parser.add_argument("--show-sql", default="", help="print the statements of this stage (e.g. flows.inputs)")
    parser.add_argument("--cprofile", default="", help="profile this stage and print where its time went")
    args = parser.parse_args()
    redis_url = f"{REDIS_BASE}/{os.environ.get('BENCH_FLOWS_REDIS_DB', '3')}"
    database = migrated_database(os.environ.get("BENCH_FLOWS_DATABASE", "helpdesk_bench_flows"), redis_url)
    flush_redis(redis_url)
    log_dir = Path(tempfile.mkdtemp(prefix="bench-flows-steps-"))
    fake_port, psp_port, transit_port = free_port(), free_port(), free_port()
    fake_url, psp_url, transit_url = (f"http://127.0.0.1:{p}" for p in (fake_port, psp_port, transit_port))
    providers = {
        "fake": {"name": "PSP de teste", "api_url": f"{psp_url}/pix/api/v2", "token_url": f"{psp_url}/pix/oauth/token"}
    }
    env = process_env(
        database,
        redis_url,
        WHATSAPP_API_BASE_URL=fake_url,
        PAYMENTS_PIX_PROVIDERS=json.dumps(providers),
        PAYMENTS_ALLOW_PLAIN_HTTP="true",
        TRANSIT_OPERATOR_BASE_URL=transit_url,
    )
    django_setup(env)

    import httpx

    from flows.models import FlowSession
    from payments.models import PaymentRequest
    from payments.notifications import SLOTS, notifications_drain
    from payments.webhooks import webhook_accept
    from whatsapp.processing import webhook_events_process_batch
    from whatsapp.signature import sign
    from whatsapp.webhooks import webhook_receive

    tenant, channel, account, _flow = workspace_setup("owner@flows-steps.bench.example", 1000)
    customers = [
        Customer(
            index=n,
            phone=f"55119{n + 20_000_000:08d}",
            card=f"{800_000_000_000 + n * 7919:012d}",
            name=f"Ana Cliente{n}",
            first={},
        )
        for n in range(args.customers)
    ]
    transit_config(log_dir / "transit.json", customers)
    meter = Meter(args.show_sql, args.cprofile)
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
            [python, "-m", "whatsapp.fake", *("--host", "127.0.0.1", "--port", str(fake_port)), *LOG],
            env,
            log_dir,
            url_returns_ok(f"{fake_url}/_fake/health"),
        )
        cloud = stack.enter_context(httpx.Client(base_url=fake_url, timeout=60))
        psp = stack.enter_context(httpx.Client(base_url=psp_url, timeout=60))
        cloud.post(
            "/_fake/phone_numbers",
            json={
                "phone_number_id": PNID,
                "display_phone_number": DISPLAY,
                "waba_id": WABA,
                "access_token": TOKEN,
                "app_secret": APP_SECRET,
                "webhook_url": None,
                "verified_name": "Recarga Fácil",
                "throughput_per_s": 1000,
            },
        ).raise_for_status()
        for customer, webhook in zip(customers, asyncio.run(open_windows(fake_url, customers)), strict=True):
            customer.first = webhook

        def message_step(label: str, group: list[Customer], step: int, batch: int) -> None:
            for customer in group:
                body = body_of(customer, step)
                with meter.measure(label, "web"):
                    receipt = webhook_receive(
                        webhook_key=channel.webhook_key, body=body, signature=sign(body, APP_SECRET)
                    )
                if receipt.status != 200:
                    raise RuntimeError(f"webhook refused: {receipt}")
            with meter.measure(label, "ingest"):
                while webhook_events_process_batch(channel_id=channel.pk):
                    pass
            deliver_all(meter, label, tenant.pk, batch)
            sent = send_all(meter, label, channel.inbox_id)
            deliver_all(meter, label, tenant.pk, batch)
            by_phone = {c.phone: c for c in group}
            for message in sent:
                answered = by_phone.get(message.conversation.contact.phone_e164.lstrip("+"))
                if answered is not None:
                    answered.last_wamid = message.external_id or ""

        def paid_step(label: str, group: list[Customer], batch: int) -> None:
            bodies = []
            for customer in group:
                request = PaymentRequest.objects.filter(
                    order__conversation__contact__phone_e164=f"+{customer.phone}"
                ).get()
                answer = psp.post(
                    "/_fake/pix/pay",
                    json={"txid": request.charge_id, "code": None, "amount": None, "times": 1, "force": False},
                )
                answer.raise_for_status()
                bodies.append(json.dumps({"pix": answer.json()["pix"]}).encode())
            for body in bodies:
                with meter.measure(label, "pay_web"):
                    webhook_accept(account.webhook_key, pix=True, body=body, headers={}, query={})
            with meter.measure(label, "pay_read"):
                for slot in range(SLOTS):
                    notifications_drain(account.pk, slot)
            deliver_all(meter, label, tenant.pk, batch)
            send_all(meter, label, channel.inbox_id)
            deliver_all(meter, label, tenant.pk, batch)

        # A warm-up customer (the first one) goes through alone and is left out of the figures (caches,
        # connections, the PSP's token); then the others, one at a time or all at once (``--batch``).
        warmup, measured = customers[:1], customers[1:]
        groups = [measured] if args.batch > 1 else [[c] for c in measured]
        for step, (kind, _text, _button) in enumerate(SCRIPT):
            message_step(f"warmup_{kind}", warmup, step, 1)
            for group in groups:
                message_step(kind, group, step, args.batch)
        paid_step("warmup_paid", warmup, 1)
        for group in groups:
            paid_step("paid", group, args.batch)
        completed = FlowSession.objects.filter(tenant=tenant, status="completed").count()

    steps: dict[str, Any] = {}
    for label, stages in meter.figures.items():
        if label.startswith("warmup_"):
            continue
        calls = len(measured)
        rows = {
            stage: {
                "statements": round(statements / calls, 1),
                "ms": round(seconds * 1000 / calls, 1),
                "calls": int(n),
            }
            for stage, (statements, seconds, n) in sorted(stages.items(), key=lambda kv: -kv[1][1])
        }
        steps[label] = {
            "statements": round(sum(r["statements"] for r in rows.values()), 1),
            "ms": round(sum(r["ms"] for r in rows.values()), 1),
            "stages": rows,
        }
    for label, row in steps.items():
        print(f"{label}: {row['statements']} statements, {row['ms']} ms per customer")
        for stage, figures in row["stages"].items():
            line = f"{figures['statements']:>6} statements {figures['ms']:>8} ms ({figures['calls']} calls)"
            print(f"    {stage:<46} {line}")
    for label, statements in meter.statements.items():
        if not label.startswith("warmup_"):
            print(f"{args.show_sql} at step {label}: {len(statements)} statements")
            for sql in statements:
                print(f"    {sql}")
    if args.cprofile:
        print(f"{args.cprofile}, every step: the functions it spent most time in (cumulative)")
        pstats.Stats(meter.profiler).sort_stats("cumulative").print_stats(35)
        meter.profiler.dump_stats(log_dir / "profile.pstats")
        print(f"profile in {log_dir / 'profile.pstats'}")
    report(
        {
            "customers": len(measured),
            "batch": args.batch,
            "completed": completed,
            "steps": steps,
            "load_avg": round(os.getloadavg()[0], 2),
        }
    )


if __name__ == "__main__":
    main()
