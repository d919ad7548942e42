"""Products imported from a CSV file, in the background: one row per product, matched by SKU, so importing a
file again changes what changed and duplicates nothing. The header names the columns, in English or
Portuguese (``sku``/``codigo``, ``name``/``nome``, ``price``/``preco``, and optionally ``description``,
``category``, ``image_url``, ``availability``, ``visible``); commas, semicolons (as spreadsheets in Brazil
save) or tabs; UTF-8, or Windows-1252 when it is not. A price is written with its cents ("25,00", "25.00",
"1.234,56", "R$ 25,00" or "25.00 BRL"). A row that cannot be imported is reported with its number and why,
and the others go on; a file that cannot be read at all (no header, a missing column, too big) is refused
before anything starts. Needs "Manage payments and catalog"; audited once per import."""

from __future__ import annotations

import csv
import io
import logging
import re
from collections.abc import Iterator
from typing import Any

from celery import current_app
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _

from conversations.actors import Actor, actor_audit_record, actor_user
from helpdesk.after_commit import on_commit_guarded
from helpdesk.exceptions import ApplicationError, ValidationFailed
from helpdesk.text import fold
from payments import catalog
from payments.catalog_sync import catalog_changed
from payments.models import Product, ProductImport
from tenants.models import AuditLogEntry, Membership, Tenant
from tenants.permissions import Perm, require_perm

logger = logging.getLogger(__name__)

FILE_MAX_BYTES = 5 * 1024 * 1024
ROWS_MAX = 10_000
# Rows written per transaction: the progress moves at this step, and a failure loses no more than one chunk.
CHUNK = 200
ERRORS_KEPT = 1000
# What a refused row keeps of its cells, to say why it was refused.
CELL_KEPT = 6000
COLUMNS_KEPT = 50

COLUMNS = {
    "retailer_id": ("sku", "retailer_id", "codigo", "id"),
    "name": ("name", "nome", "title", "titulo"),
    "price": ("price", "preco", "valor"),
    "description": ("description", "descricao"),
    "category": ("category", "categoria"),
    "image_url": ("image_url", "image_link", "imagem", "image"),
    "availability": ("availability", "disponibilidade"),
    "visible": ("visible", "visivel", "visibility"),
}
REQUIRED = ("retailer_id", "name", "price")
AVAILABILITY = {
    "in stock": Product.Availability.IN_STOCK,
    "em estoque": Product.Availability.IN_STOCK,
    "disponivel": Product.Availability.IN_STOCK,
    "out of stock": Product.Availability.OUT_OF_STOCK,
    "esgotado": Product.Availability.OUT_OF_STOCK,
    "indisponivel": Product.Availability.OUT_OF_STOCK,
}
YES = {"yes", "sim", "true", "1", "visible", "visivel", "s", "y"}
NO = {"no", "nao", "false", "0", "hidden", "oculto", "n"}
PRICE_RE = re.compile(r"(\d{1,3}(?:([.,])\d{3})*|\d+)(?:([.,])(\d{2}))?")


def _fold(text: str) -> str:
    """A column name or a word of a cell as compared: "Disponível" → "disponivel", "Image-URL" → "image_url"."""
    return fold(text.strip()).replace(" ", "_").replace("-", "_")


def _text(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def _dialect(text: str) -> type[csv.Dialect] | csv.Dialect:
    header = text.split("\n", 1)[0]
    try:
        return csv.Sniffer().sniff(header, delimiters=",;\t")
    except csv.Error:
        return csv.excel


def _header(row: list[str]) -> dict[str, int]:
    """Which column holds which field; refuses a file without the required ones."""
    names = {alias: field for field, aliases in COLUMNS.items() for alias in aliases}
    found: dict[str, int] = {}
    for index, title in enumerate(row):
        field = names.get(_fold(title))
        if field is not None and field not in found:
            found[field] = index
    missing = [field for field in REQUIRED if field not in found]
    if missing:
        raise ValidationFailed(
            _("The first line must name the columns; missing: %(columns)s.")
            % {"columns": ", ".join(COLUMNS[field][0] for field in missing)},
            details={"file": ["header"]},
        )
    return found


def _rows(text: str) -> Iterator[list[str]]:
    yield from csv.reader(io.StringIO(text, newline=""), _dialect(text))


def price_read(raw: str) -> int:
    """A price with its cents as a spreadsheet holds it: "25,00", "25.00", "1.234,56", "1,234.56", "R$ 25,00",
    "25.00 BRL" or a whole "25". Refuses what could be read two ways ("1.234": a thousand or one real?)."""
    cleaned = raw.replace("R$", "").replace("BRL", "").replace("\u00a0", " ").strip().replace(" ", "")
    match = PRICE_RE.fullmatch(cleaned)
    if not match:
        raise ValidationFailed(_("The price %(value)s is not an amount such as 25,00.") % {"value": raw[:40]})
    whole, thousands, decimal, cents = match.groups()
    if thousands and decimal == thousands:
        raise ValidationFailed(_("The price %(value)s is not an amount such as 25,00.") % {"value": raw[:40]})
    if thousands and not decimal:
        raise ValidationFailed(_("Write the price %(value)s with its cents, such as 1.234,00.") % {"value": raw[:40]})
    return int(re.sub(r"[.,]", "", whole)) * 100 + int(cents or 0)


def _spec(row: list[str], columns: dict[str, int], existing: Product | None) -> catalog.ProductSpec:
    """The row as a product; a column the file does not have keeps an existing product's value."""

    def cell(field: str) -> str:
        index = columns[field]
        return row[index].strip() if index < len(row) else ""

    values: dict[str, Any] = {
        "retailer_id": cell("retailer_id"),
        "name": cell("name"),
        "price": price_read(cell("price")),
    }
    for field in ("description", "category", "image_url"):
        if field in columns:
            values[field] = cell(field)
    if "availability" in columns:
        found = Product.Availability.IN_STOCK
        if cell("availability"):
            found = AVAILABILITY.get(_fold(cell("availability")).replace("_", " "))  # type: ignore[assignment]
            if found is None:
                raise ValidationFailed(_("Unknown availability %(value)s.") % {"value": cell("availability")[:40]})
        values["availability"] = found
    if "visible" in columns:
        visible = True
        if cell("visible"):
            word = _fold(cell("visible"))
            if word not in YES | NO:
                raise ValidationFailed(_("Visible is yes or no, not %(value)s.") % {"value": cell("visible")[:40]})
            visible = word in YES
        values["visible"] = visible
    if existing is not None:
        return catalog.product_spec_of(existing, **values)
    return catalog.ProductSpec(**values)


def import_start(
    *, actor: Actor, tenant: Tenant, filename: str, data: bytes, request: HttpRequest | None = None
) -> ProductImport:
    """Check the file's header and size, then queue its import; returns the import (progress and report)."""
    require_perm(actor, Perm.MANAGE_PAYMENTS, tenant_id=tenant.pk)
    if len(data) > FILE_MAX_BYTES:
        raise ValidationFailed(_("The file is larger than 5 MB."), details={"file": ["size"]})
    text = _text(data).replace("\x00", "")
    rows = _rows(text)
    try:
        header = next(rows, None)
        if header is None:
            raise ValidationFailed(_("The file is empty."), details={"file": ["empty"]})
        _header(header)
        total = sum(1 for row in rows if any(cell.strip() for cell in row))
    except csv.Error as exc:
        raise ValidationFailed(
            _("The file could not be read as CSV: %(error)s") % {"error": str(exc)[:200]}, details={"file": ["csv"]}
        ) from None
    if total == 0:
        raise ValidationFailed(_("The file has no product rows."), details={"file": ["empty"]})
    if total > ROWS_MAX:
        raise ValidationFailed(
            _("The file has %(count)s rows; at most %(max)s at a time.") % {"count": total, "max": ROWS_MAX},
            details={"file": ["rows"]},
        )
    person = actor_user(actor)
    with transaction.atomic():
        job = ProductImport.objects.create(
            tenant=tenant, created_by=person, filename=filename[:255], content=text, total_rows=total
        )
        actor_audit_record(
            actor,
            action=AuditLogEntry.Action.PRODUCTS_IMPORTED,
            tenant=tenant,
            target=job,
            target_label=job.filename,
            request=request,
            extra={"rows": total},
        )
        on_commit_guarded(
            lambda: current_app.tasks["payments.tasks.product_import_run"].delay(job.pk),
            what=f"Product import {job.pk}",
        )
    return job


def _actor(job: ProductImport) -> Membership | None:
    """Who the import acts as: the member who started it, while they still may."""
    if job.created_by_id is None:
        return None
    membership = (
        Membership.objects.filter(tenant_id=job.tenant_id, user_id=job.created_by_id, active=True)
        .select_related("tenant", "user", "role")
        .first()
    )
    return membership if membership is not None and membership.has_perm(Perm.MANAGE_PAYMENTS) else None


def import_run(import_id: int) -> ProductImport | None:
    """Import the file's rows (the job): a chunk of rows per transaction, the progress saved with each. A job
    run again (its worker lost mid-way) goes on after the rows already done."""
    job = ProductImport.objects.select_related("tenant").filter(pk=import_id).first()
    if job is None or job.status in (ProductImport.Status.DONE, ProductImport.Status.FAILED):
        return job
    actor = _actor(job)
    if actor is None:
        ProductImport.objects.filter(pk=job.pk).update(
            status=ProductImport.Status.FAILED, finished_at=timezone.now(), content=""
        )
        logger.warning("Product import %s stopped: who started it may no longer manage the catalog", job.pk)
        return job
    rows = _rows(job.content)
    columns = _header(next(rows))
    ProductImport.objects.filter(pk=job.pk).update(status=ProductImport.Status.RUNNING, columns=columns)
    numbered = [(number, row) for number, row in enumerate(rows, start=2) if any(cell.strip() for cell in row)]

    def cell(row: list[str], field: str) -> str:
        index = columns[field]
        return row[index].strip() if index < len(row) else ""

    for offset in range(job.done_rows, len(numbered), CHUNK):
        chunk = numbered[offset : offset + CHUNK]
        with transaction.atomic():
            job = ProductImport.objects.select_for_update().select_related("tenant").get(pk=job.pk)
            skus = [cell(row, "retailer_id") for _number, row in chunk]
            existing = {p.retailer_id: p for p in Product.objects.filter(tenant_id=job.tenant_id, retailer_id__in=skus)}
            counts = {"created": 0, "updated": 0, "unchanged": 0}
            errors: list[dict[str, Any]] = []
            for number, row in chunk:
                try:
                    spec = _spec(row, columns, existing.get(cell(row, "retailer_id")))
                    with transaction.atomic():
                        # A later row of the file with the same SKU changes the product this one made.
                        existing[spec.retailer_id], outcome = catalog.product_upsert(
                            actor=actor, tenant=job.tenant, spec=spec, existing=existing.get(spec.retailer_id)
                        )
                    counts[outcome] += 1
                except ApplicationError:
                    errors.append({"row": number, "cells": [c[:CELL_KEPT] for c in row[:COLUMNS_KEPT]]})
                except IntegrityError:
                    errors.append(
                        {"row": number, "cells": [c[:CELL_KEPT] for c in row[:COLUMNS_KEPT]], "duplicate": True}
                    )
            job.done_rows = offset + len(chunk)
            job.created_count += counts["created"]
            job.updated_count += counts["updated"]
            job.errors = (job.errors + errors)[:ERRORS_KEPT]
            job.save(update_fields=["done_rows", "created_count", "updated_count", "errors", "updated_at"])
    ProductImport.objects.filter(pk=job.pk).update(
        status=ProductImport.Status.DONE, finished_at=timezone.now(), content="", total_rows=len(numbered)
    )
    job.refresh_from_db()
    if job.created_count or job.updated_count:
        catalog_changed(tenant_id=job.tenant_id)
    return job


def import_errors(job: ProductImport) -> list[tuple[int, str, str]]:
    """The refused rows as (line, SKU, why), why in the active language: the row is read again to say it."""
    described = []
    columns = {field: int(index) for field, index in (job.columns or {}).items()}
    for error in job.errors:
        row = [str(cell) for cell in error.get("cells", [])]
        sku = row[columns["retailer_id"]].strip() if columns.get("retailer_id", len(row)) < len(row) else ""
        if error.get("duplicate"):
            message = _("Another product has this SKU.")
        else:
            # The row is read as it was; what refused it then (say, a permission lost during the import)
            # may no longer, and then its reason is not known any more.
            message = _("This line could not be imported.")
            try:
                catalog.product_clean(_spec(row, columns, None))
            except ApplicationError as exc:
                message = exc.message
        described.append((int(error.get("row", 0)), sku[:100], message))
    return described
