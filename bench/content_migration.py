"""The data migration of message content (whatsapp 0005) on the inbox benchmark's database.

Takes the database ``bench/inbox.py`` seeds (1,000,000 messages; ``--quick``: 100,000), puts every
message back in the shape stored before the migration (Meta's shape in ``content``, nothing in
``raw``: ``{}`` for its texts and photos), then converts them with the migration's own function,
one batch at a time, timing each batch (each is one transaction: the longest is the longest time
any row lock is held). Then runs it again over the converted table (what a resumed run costs).

    python bench/content_migration.py [--quick] [--database NAME] [--batch-size 1000]

Seed the database first with ``python bench/inbox.py`` (or ``--quick``). The last line printed is one
JSON object: messages, seconds, rows_per_s, batch_p50_ms, batch_p99_ms, batch_max_ms, rerun_seconds,
rerun_rows_per_s.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import PG_ADMIN_URL, REDIS_BASE, django_setup, migrate, percentile, process_env, report
from bench.inbox import DATABASES


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="the quick inbox database (100,000 messages)")
    parser.add_argument("--database", default="", help="another database seeded by bench/inbox.py")
    parser.add_argument("--batch-size", type=int, default=1000)
    args = parser.parse_args()

    name = args.database or DATABASES["quick" if args.quick else "full"]
    database_url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    env = process_env(database_url, f"{REDIS_BASE}/12")
    migrate(env)
    django_setup(env)

    from django.db import connection

    from conversations.models import Attachment, Message
    from whatsapp.content import messages_convert

    with connection.cursor() as cursor:
        started = time.perf_counter()
        cursor.execute("UPDATE conversations_message SET content = '{}'::jsonb, raw = NULL")
        reset = cursor.rowcount
        cursor.execute("VACUUM ANALYZE conversations_message")
        print(f"reset {reset:,} rows to the old shape in {time.perf_counter() - started:.1f} s", flush=True)
        cursor.execute("SELECT count(*) FROM conversations_message")
        (messages,) = cursor.fetchone()

    batches: list[float] = []
    last_id, converted = 0, 0
    started = time.perf_counter()
    while True:
        batch_started = time.perf_counter()
        result = messages_convert(
            message_model=Message,
            attachment_model=Attachment,
            batch_size=args.batch_size,
            start_after=last_id,
            max_batches=1,
        )
        if not result["batches"]:
            break
        batches.append((time.perf_counter() - batch_started) * 1000)
        last_id, converted = result["last_id"], converted + result["converted"]
        if len(batches) % 100 == 0:
            print(f"{converted:,} converted, {converted / (time.perf_counter() - started):,.0f} rows/s", flush=True)
    seconds = time.perf_counter() - started

    rerun_started = time.perf_counter()
    rerun = messages_convert(message_model=Message, attachment_model=Attachment, batch_size=args.batch_size)
    rerun_seconds = time.perf_counter() - rerun_started
    assert rerun["converted"] == 0 and rerun["skipped"] == messages, rerun

    report(
        {
            "messages": messages,
            "converted": converted,
            "batch_size": args.batch_size,
            "seconds": round(seconds, 1),
            "rows_per_s": round(converted / seconds),
            "batch_p50_ms": round(percentile(batches, 50), 1),
            "batch_p99_ms": round(percentile(batches, 99), 1),
            "batch_max_ms": round(max(batches), 1),
            "rerun_seconds": round(rerun_seconds, 1),
            "rerun_rows_per_s": round(messages / rerun_seconds),
        }
    )


if __name__ == "__main__":
    main()
