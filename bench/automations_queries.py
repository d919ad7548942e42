"""What the automations' subscribers cost per customer message, in statements and milliseconds, delivered
one event per transaction (the baseline) and in delivery jobs of ``EVENTS_DELIVERY_BATCH`` (as the worker
delivers them), in one process against PostgreSQL.

The workspace is ``bench/automations.py``'s automated one: business hours closed now, greeting and away
message, auto-resolve, 20 rules on "message received", two SLA policies, auto-assignment among online
agents. Customers write about four messages each, interleaved: each one's first calls for a greeting and
an away message, the others for nothing (the away message is sent at most once every 4 hours), but every
subscriber still decides so for each.

Two loads of the same shape (their own customers), their events recorded by ingest and left pending:
the first delivered one delivery per transaction, the second in batches; each subscriber's figures are
over every delivery it got (including the events the automations' own actions caused: labels, priority,
assignment). Everything runs inside one transaction that is rolled back at the end: nothing is sent.

    python bench/automations_queries.py [--customers 60] [--batch 100]

The last line printed is one JSON object: per subscriber, the statements and milliseconds per delivery,
one at a time and batched, and the totals per customer message with their ratio.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from collections import defaultdict
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import REDIS_BASE, django_setup, migrated_database, process_env, report


def load(inbox: Any, *, customers: int, seed: int, prefix: str) -> int:
    """Each customer writes one to seven messages (about four), interleaved; returns how many were stored."""
    from django.utils import timezone

    from conversations.services.inbound import InboundSpec, message_receive

    rng = random.Random(seed)
    numbers = [f"55119{rng.randrange(10_000_000, 99_999_999)}" for _ in range(customers)]
    order = [n for n in numbers for _ in range(rng.randint(1, 7))]
    rng.shuffle(order)
    seen: set[str] = set()
    now = timezone.now()
    for i, number in enumerate(order):
        first = number not in seen
        seen.add(number)
        text = "Oi, boa noite" if first else f"Quero saber do meu pedido nº {i}, por favor"
        spec = InboundSpec(
            source_id=number,
            external_id=f"wamid.{prefix}-{i:06d}",
            occurred_at=now - timedelta(seconds=len(order) - i),
            type="text",
            text=text,
            profile_name=f"Cliente {number[-4:]}",
        )
        message_receive(inbox=inbox, spec=spec)
    return len(order)


def deliver(tenant_id: int, *, batch: int) -> dict[str, dict[str, float]]:
    """Every pending delivery of the workspace, subscriber by subscriber, ``batch`` per call, until none is
    left (actions cause new events); returns per subscriber its deliveries, statements and seconds."""
    from django.db import connection

    from conversations.events.delivery import event_deliveries_deliver
    from conversations.models import EventDelivery

    figures: dict[str, dict[str, float]] = defaultdict(lambda: {"deliveries": 0, "statements": 0, "seconds": 0.0})
    for _round in range(10):
        pending = list(
            EventDelivery.objects.filter(tenant_id=tenant_id, state=EventDelivery.State.PENDING)
            .order_by("pk")
            .values_list("pk", "subscriber")
        )
        if not pending:
            break
        by_subscriber: dict[str, list[int]] = defaultdict(list)
        for pk, subscriber in pending:
            by_subscriber[subscriber].append(pk)
        for subscriber, ids in by_subscriber.items():
            for n in range(0, len(ids), batch):
                chunk = ids[n : n + batch]
                statements = [0]

                def count(
                    execute: Any, sql: str, params: Any, many: bool, context: Any, statements: list[int] = statements
                ) -> Any:
                    statements[0] += 1
                    return execute(sql, params, many, context)

                with connection.execute_wrapper(count):
                    began = time.perf_counter()
                    outcome = event_deliveries_deliver(delivery_ids=chunk)
                    seconds = time.perf_counter() - began
                if set(outcome.values()) - {"done"}:
                    raise RuntimeError(f"{subscriber}: {outcome}")
                row = figures[subscriber]
                row["deliveries"] += len(chunk)
                row["statements"] += statements[0]
                row["seconds"] += seconds
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=60, help="customers per load")
    parser.add_argument("--batch", type=int, default=100, help="deliveries per job when batched")
    parser.add_argument("--agents", type=int, default=20, help="online agents of the inbox")
    args = parser.parse_args()
    redis_url = f"{REDIS_BASE}/{os.environ.get('BENCH_AUTOMATIONS_REDIS_DB', '10')}"
    name = os.environ.get("BENCH_QUERIES_DATABASE", "helpdesk_bench_automation_queries")
    database = migrated_database(name, redis_url)
    env = process_env(database, redis_url, CELERY_TASK_ALWAYS_EAGER="true")
    django_setup(env)

    from django.db import transaction

    from bench.automations import workspace_create
    from conversations.models import OutboxEvent
    from tenants.models import User

    figures: dict[str, Any] = {"customers": args.customers, "batch": args.batch, "agents": args.agents}
    with transaction.atomic():
        owner = User.objects.create_user(email="owner@bench.example", password="x" * 12)
        workspace = workspace_create(name="automated", index=2, owner=owner, automated=True, agents=args.agents)
        inbox, tenant_id = workspace.channel.inbox, workspace.tenant.pk
        # Ingest's commits are not run here (one transaction): the deliveries stay pending until asked for.
        messages = {}
        results = {}
        for mode, batch, seed in (("one_by_one", 1, 1), ("batched", args.batch, 2)):
            messages[mode] = load(inbox, customers=args.customers, seed=seed, prefix=mode)
            results[mode] = deliver(tenant_id, batch=batch)
        per_subscriber = {}
        for subscriber in sorted(set(results["one_by_one"]) | set(results["batched"])):
            row: dict[str, Any] = {}
            for mode in ("one_by_one", "batched"):
                r = results[mode].get(subscriber)
                if r and r["deliveries"]:
                    row[f"{mode}_statements"] = round(r["statements"] / r["deliveries"], 2)
                    row[f"{mode}_ms"] = round(r["seconds"] * 1000 / r["deliveries"], 2)
                    row[f"{mode}_deliveries"] = int(r["deliveries"])
            per_subscriber[subscriber] = row
        totals = {}
        for mode in ("one_by_one", "batched"):
            statements = sum(r["statements"] for r in results[mode].values())
            seconds = sum(r["seconds"] for r in results[mode].values())
            totals[mode] = (statements / messages[mode], seconds * 1000 / messages[mode])
        figures.update(
            {
                "messages": messages,
                "events": OutboxEvent.objects.filter(tenant_id=tenant_id).count(),
                "subscribers": per_subscriber,
                "statements_per_message_one_by_one": round(totals["one_by_one"][0], 1),
                "statements_per_message_batched": round(totals["batched"][0], 1),
                "ms_per_message_one_by_one": round(totals["one_by_one"][1], 2),
                "ms_per_message_batched": round(totals["batched"][1], 2),
                "batched_cost_ratio": round(totals["batched"][1] / totals["one_by_one"][1], 3),
            }
        )
        transaction.set_rollback(True)
    width = max(len(s) for s in per_subscriber)
    print(f"{'subscriber':<{width}}  one by one (statements, ms)  batched (statements, ms)")
    for subscriber, row in per_subscriber.items():
        print(
            f"{subscriber:<{width}}  {row.get('one_by_one_statements', '-'):>8} {row.get('one_by_one_ms', '-'):>8}"
            f"           {row.get('batched_statements', '-'):>8} {row.get('batched_ms', '-'):>8}"
        )
    print(
        f"per customer message: {figures['statements_per_message_one_by_one']} statements, "
        f"{figures['ms_per_message_one_by_one']} ms one by one; {figures['statements_per_message_batched']} "
        f"statements, {figures['ms_per_message_batched']} ms batched"
    )
    report(figures)


if __name__ == "__main__":
    main()
