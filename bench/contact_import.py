"""What importing contacts costs against PostgreSQL: a CSV of ``--rows`` contacts (one in twenty refused, half of
the others saying yes to marketing, two labels each) imported in one process through the job's own code (as a
worker runs it), then the same file again (every row an update); the time of each pass, rows a second, the
statements per batch, and the segment of the consenting contacts counted.

    python bench/contact_import.py [--rows 100000]

The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import REDIS_BASE, django_setup, migrated_database, process_env, report


def spreadsheet(rows: int) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";")
    writer.writerow(["telefone", "nome", "etiquetas", "plano", "aceita"])
    for i in range(rows):
        phone = "12345" if i % 20 == 0 else f"(11) 9{70000000 + i}"
        writer.writerow([phone, f"Cliente {i}", "cliente, varejo", f"plano {i % 4}", "sim" if i % 2 else "não"])
    return out.getvalue().encode("utf-8-sig")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    database = migrated_database("bench_contact_import", f"{REDIS_BASE}/14")
    django_setup(process_env(database, f"{REDIS_BASE}/14", CELERY_TASK_ALWAYS_EAGER="true"))

    from django.db import connection

    from campaigns import imports
    from campaigns.consent import marketing_purpose
    from campaigns.segments import segment_contacts
    from tenants.models import Membership, User
    from tenants.services import tenant_create

    owner = User.objects.create_user(email="owner@bench.example", password="x" * 12)
    tenant = tenant_create(name="Importadora", slug="importadora", owner=owner, locale="pt-br")
    member = Membership.objects.select_related("tenant", "user", "role").get(tenant=tenant, user=owner)
    purpose = marketing_purpose(tenant_id=tenant.pk)
    # The job runs below, measured, rather than in the queue's hands.
    imports._enqueue = lambda import_id: None  # type: ignore[assignment]
    data = spreadsheet(args.rows)
    figures: dict[str, Any] = {"rows": args.rows, "batch": imports.BATCH, "file_bytes": len(data)}
    for name in ("first", "again"):
        started = time.perf_counter()
        job = imports.contact_import_upload(actor=member, tenant=tenant, filename="clientes.csv", data=data)
        uploaded = time.perf_counter()
        imports.contact_import_start(
            actor=member, contact_import=job, mapping=job.mapping | {"aceita": "consent"},
            consent_purpose_id=purpose.pk, consent_proof="Formulário do site (bench)",
        )  # fmt: skip
        statements = [0]

        def count(
            execute: Any, sql: str, params: Any, many: bool, context: Any, statements: list[int] = statements
        ) -> Any:
            statements[0] += 1
            return execute(sql, params, many, context)

        with connection.execute_wrapper(count):
            job, _more = imports.contact_import_run(job.pk, budget_seconds=3600)
        finished = time.perf_counter()
        batches = -(-args.rows // imports.BATCH)
        figures[name] = {
            "upload_seconds": round(uploaded - started, 2),
            "run_seconds": round(finished - uploaded, 2),
            "rows_per_second": round(args.rows / (finished - uploaded)),
            "statements_per_batch": round(statements[0] / batches, 1),
            "created": job.created_count if job else None,
            "updated": job.updated_count if job else None,
            "errors": job.error_count if job else None,
        }
        print(name, figures[name])
    started = time.perf_counter()
    count = segment_contacts(tenant=tenant, filters={"consent": {"purpose": "marketing", "state": "opted_in"}}).count()
    figures["segment_opted_in"] = {"count": count, "ms": round((time.perf_counter() - started) * 1000, 1)}
    report(figures)


if __name__ == "__main__":
    main()
