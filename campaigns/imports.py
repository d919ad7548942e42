"""Contacts imported from a CSV or XLSX file, in the background.

1. ``contact_import_upload``: the file is checked (at most 20 MB and 100,000 rows; CSV in UTF-8 or Windows-1252,
   separated by commas, semicolons (as spreadsheets in Brazil save) or tabs; or the first sheet of an XLSX workbook),
   stored, and its header and first rows kept so that the admin can say what each column holds.
2. ``contact_import_start``: the columns' mapping (``phone`` (required), ``name``, ``label`` (label names separated by
   commas, semicolons or bars), ``attribute:<key>``, ``consent`` (yes/no/sim/não/1/0/true/false), or ignored), labels
   for every row, and the consent purpose and its proof for the rows that say yes. Audited once.
3. ``contact_import_run`` (the job): rows in batches, each batch set-based (a few statements whatever its size) and
   committed with the progress, so a job run again after its worker died goes on after the last batch committed,
   never applying one twice.

A contact is matched by its WhatsApp identity (the number's digits), else by its phone number (E.164, Brazilian
mobiles with their ninth digit): importing the same file again changes what changed and creates nobody. Attributes
are merged (the file's win). A row saying yes to consent adds an opt-in to the ledger (source "import", the file's
row and the proof as evidence), once per contact, purpose and proof, and never over an opt-out (reported instead).
Rows that cannot be imported are reported with their row number as the spreadsheet shows it (the header is row 1).
Needs "Manage broadcasts".
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import logging
import re
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import phonenumbers
from celery import current_app
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import F
from django.http import HttpRequest
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from campaigns.models import MARKETING, ConsentEvent, ConsentPurpose, ConsentState, ContactImport, ContactImportError
from conversations.actors import Actor, actor_audit_label, actor_audit_record, actor_user
from conversations.models import Contact, ContactIdentity, ContactLabel, Label
from conversations.services.contacts import (
    ATTRIBUTE_KEY_MAX,
    ATTRIBUTE_LIMIT,
    ATTRIBUTE_VALUE_MAX,
    contacts_marketing_consent_set,
)
from helpdesk.after_commit import on_commit_guarded
from helpdesk.exceptions import Conflict, NotFound, ValidationFailed
from helpdesk.text import fold
from tenants.models import AuditLogEntry, Membership, Tenant
from tenants.permissions import Perm, require_perm

logger = logging.getLogger(__name__)

FILE_MAX_BYTES = 20 * 1024 * 1024
XLSX_UNZIPPED_MAX_BYTES = 200 * 1024 * 1024
ROWS_MAX = 100_000
# Rows per transaction: the progress moves at this step; a worker lost mid-way redoes at most one batch.
BATCH = 1000
SAMPLE_ROWS = 5
COLUMNS_MAX = 100
NAME_MAX = 255
LABEL_NAME_MAX = 60
PROOF_MAX = 1000
CELL_KEPT = 200
WHATSAPP = "whatsapp"
# A job hands over to a new one before the worker's time limit stops it.
RUN_BUDGET_SECONDS = 180.0
# A job whose import has not moved for this long is taken as lost and queued again (each batch moves it).
STALL_SECONDS = 600

YES = frozenset({"yes", "y", "sim", "s", "1", "true", "verdadeiro", "x"})
NO = frozenset({"no", "n", "nao", "0", "false", "falso"})
LABEL_SEPARATORS = re.compile(r"[,;|]")

PHONE, NAME, LABEL, CONSENT, ATTRIBUTE = "phone", "name", "label", "consent", "attribute:"
HEADER_GUESSES = {
    PHONE: {"phone", "telefone", "celular", "whatsapp", "fone", "numero", "mobile", "phone_number", "tel", "cel"},
    NAME: {"name", "nome", "full_name", "nome_completo", "contact", "contato", "cliente"},
    LABEL: {"label", "labels", "etiqueta", "etiquetas", "tag", "tags"},
    CONSENT: {
        "consent",
        "consentimento",
        "opt_in",
        "optin",
        "aceita",
        "aceite",
        "marketing",
        "aceita_marketing",
        "aceita_receber",
        "marketing_consent",
    },
}


# --- reading files --------------------------------------------------------------------------------------------


def _cell(value: Any) -> str:
    """A spreadsheet's cell as text: whole numbers without ".0" (a phone typed as a number), dates in ISO."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value).replace("\x00", "")


def _is_xlsx(data: bytes) -> bool:
    return data[:4] == b"PK\x03\x04"


class _Semicolons(csv.excel):
    delimiter = ";"


def _csv_rows(data: bytes) -> Iterator[list[str]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("cp1252", errors="replace")
    text = text.replace("\x00", "")
    header = text.split("\n", 1)[0]
    dialect: type[csv.Dialect] | csv.Dialect = _Semicolons if header.count(";") > header.count(",") else csv.excel
    with contextlib.suppress(csv.Error):
        dialect = csv.Sniffer().sniff(header, delimiters=",;\t")
    yield from csv.reader(io.StringIO(text, newline=""), dialect)


def _xlsx_rows(data: bytes) -> Iterator[list[str]]:
    import openpyxl

    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        # A small file that unzips to gigabytes (a zip bomb) is refused before it is read.
        if sum(info.file_size for info in archive.infolist()) > XLSX_UNZIPPED_MAX_BYTES:
            raise ValidationFailed(
                _("The spreadsheet holds more than %(mb)s MB once unzipped.")
                % {"mb": XLSX_UNZIPPED_MAX_BYTES // (1024 * 1024)},
                details={"field": "file"},
            )
    workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    try:
        sheet = workbook.worksheets[0]
        for values in sheet.iter_rows(values_only=True):
            yield [_cell(value) for value in values[:COLUMNS_MAX]]
    finally:
        workbook.close()


def file_rows(data: bytes) -> Iterator[tuple[int, list[str]]]:
    """(row number as the spreadsheet shows it, cells) of every row, the header (row 1) included.

    ``ValidationFailed`` when the file cannot be read as CSV or XLSX.
    """
    reader = _xlsx_rows(data) if _is_xlsx(data) else _csv_rows(data)
    number = 0
    try:
        for number, row in enumerate(reader, start=1):
            if number > ROWS_MAX * 2 + 1:
                raise ValidationFailed(
                    _("The file has more than %(max)s rows; import at most %(max)s at a time.") % {"max": ROWS_MAX},
                    details={"field": "file"},
                )
            yield number, [cell.strip() for cell in row[:COLUMNS_MAX]]
    except ValidationFailed:
        raise
    except csv.Error as exc:
        raise ValidationFailed(
            _("Row %(row)s could not be read as CSV: %(error)s") % {"row": number + 1, "error": str(exc)[:200]},
            details={"field": "file"},
        ) from None
    except (zipfile.BadZipFile, KeyError, ValueError, TypeError, OSError) as exc:
        raise ValidationFailed(
            _("The file could not be read as an XLSX spreadsheet (%(error)s). Save it as XLSX or CSV.")
            % {"error": str(exc)[:200]},
            details={"field": "file"},
        ) from None


def _columns(header: list[str]) -> list[str]:
    """The header's names, each unique: a blank one is named by its position, a repeated one numbered."""
    names: list[str] = []
    for index, title in enumerate(header, start=1):
        name = title[:100] or _("Column %(n)s") % {"n": index}
        base, n = name, 2
        while name in names:
            name, n = f"{base} ({n})", n + 1
        names.append(name)
    return names


def _guess(column: str) -> str:
    folded = fold(column.strip()).replace(" ", "_").replace("-", "_")
    for target, words in HEADER_GUESSES.items():
        if folded in words:
            return target
    key = column.strip()[:ATTRIBUTE_KEY_MAX]
    return f"{ATTRIBUTE}{key}" if key else ""


# --- phone numbers --------------------------------------------------------------------------------------------


def phone_read(raw: str, *, region: str = "BR") -> str | None:
    """E.164 of a number as people write it (``(11) 98765-4321``, ``5511987654321``, ``+1 650 555 1234``), a
    Brazilian mobile written without its ninth digit given it; None when it is not a valid number."""
    text = raw.strip()
    attempts = [text]
    digits = re.sub(r"\D", "", text)
    if not text.startswith("+") and len(digits) >= 11:
        attempts.append(f"+{digits}")  # a number of another country written with its country code, no "+"
    for attempt in attempts:
        try:
            number = phonenumbers.parse(attempt, region or "BR")
        except phonenumbers.NumberParseException:
            continue
        national = str(number.national_number)
        if number.country_code == 55 and len(national) == 10 and "0" not in national[:2] and national[2] in "6789":
            number = phonenumbers.PhoneNumber(country_code=55, national_number=int(f"{national[:2]}9{national[2:]}"))
        if phonenumbers.is_valid_number(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return None


# --- upload and mapping ---------------------------------------------------------------------------------------


def _size_check(size: int) -> None:
    if size > FILE_MAX_BYTES:
        raise ValidationFailed(
            _("The file is larger than %(mb)s MB.") % {"mb": FILE_MAX_BYTES // (1024 * 1024)},
            details={"field": "file"},
        )


def contact_import_upload(
    *, actor: Actor, tenant: Tenant, filename: str, data: bytes, request: HttpRequest | None = None
) -> ContactImport:
    """Check and keep the file; the import waits for its columns' mapping (a first guess is saved)."""
    require_perm(actor, Perm.MANAGE_BROADCASTS, tenant_id=tenant.pk)
    _size_check(len(data))
    if not data.strip():
        raise ValidationFailed(_("The file is empty."), details={"field": "file"})
    if filename.lower().endswith(".xls") and not _is_xlsx(data):
        raise ValidationFailed(_("Save the spreadsheet as XLSX or CSV first."), details={"field": "file"})
    rows = file_rows(data)
    first = next(rows, None)
    if first is None or not any(first[1]):
        raise ValidationFailed(_("The first row must name the columns."), details={"field": "file"})
    columns = _columns(first[1])
    sample: list[list[str]] = []
    total = 0
    for _number, row in rows:
        if not any(row):
            continue
        total += 1
        if total > ROWS_MAX:
            raise ValidationFailed(
                _("The file has more than %(max)s rows; import at most %(max)s at a time.") % {"max": ROWS_MAX},
                details={"field": "file"},
            )
        if len(sample) < SAMPLE_ROWS:
            sample.append([cell[:CELL_KEPT] for cell in row[: len(columns)]])
    if total == 0:
        raise ValidationFailed(_("The file has no rows of contacts under its header."), details={"field": "file"})
    mapping = {column: _guess(column) for column in columns}
    # One column per kind, the first that looks like it; a second "phone" is rather an attribute.
    seen: set[str] = set()
    for column, target in mapping.items():
        if target in (PHONE, NAME, CONSENT) and target in seen:
            mapping[column] = f"{ATTRIBUTE}{column[:ATTRIBUTE_KEY_MAX]}"
        seen.add(target)
    name = (filename or "contacts").rsplit("/", 1)[-1][:200]
    job = ContactImport(
        tenant=tenant,
        filename=name,
        columns=columns,
        sample=sample,
        mapping=mapping,
        total_rows=total,
        created_by=actor_user(actor),
    )
    suffix = ".xlsx" if _is_xlsx(data) else ".csv"
    job.file.save(f"{hashlib.sha256(data).hexdigest()[:16]}{suffix}", ContentFile(data), save=False)
    job.save()
    return job


def contact_import_get(*, tenant: Tenant, import_id: int) -> ContactImport:
    job = ContactImport.objects.select_related("consent_purpose").filter(tenant=tenant, pk=import_id).first()
    if job is None:
        raise NotFound(_("No such import."))
    return job


def mapping_clean(*, columns: list[str], mapping: dict[str, str]) -> dict[str, str]:
    """Every column of the file with what it fills; refuses a mapping without one phone column."""
    clean: dict[str, str] = {}
    keys: set[str] = set()
    for column in columns:
        target = str(mapping.get(column) or "").strip()
        if target.startswith(ATTRIBUTE):
            key = target[len(ATTRIBUTE) :].strip()
            if not key or len(key) > ATTRIBUTE_KEY_MAX:
                raise ValidationFailed(
                    _("An attribute's name must be 1 to %(n)s characters long (column %(column)s).")
                    % {"n": ATTRIBUTE_KEY_MAX, "column": column},
                    details={"field": "mapping", "column": column},
                )
            if key in keys:
                raise ValidationFailed(
                    _("Two columns fill the attribute %(key)s.") % {"key": key},
                    details={"field": "mapping", "column": column},
                )
            keys.add(key)
            target = f"{ATTRIBUTE}{key}"
        elif target not in ("", PHONE, NAME, LABEL, CONSENT):
            raise ValidationFailed(
                _("Unknown use of the column %(column)s.") % {"column": column},
                details={"field": "mapping", "column": column},
            )
        clean[column] = target
    unknown = [column for column in mapping if column not in columns]
    if unknown:
        raise ValidationFailed(
            _("The file has no column %(column)s.") % {"column": unknown[0][:100]}, details={"field": "mapping"}
        )
    targets = list(clean.values())
    if targets.count(PHONE) != 1:
        raise ValidationFailed(_("Choose the one column that holds the phone number."), details={"field": "mapping"})
    for target, what in ((NAME, _("the name")), (CONSENT, _("the consent"))):
        if targets.count(target) > 1:
            raise ValidationFailed(
                _("Only one column can hold %(what)s.") % {"what": what}, details={"field": "mapping"}
            )
    if len(keys) > ATTRIBUTE_LIMIT:
        raise ValidationFailed(
            _("A contact can have %(n)s custom attributes at most.") % {"n": ATTRIBUTE_LIMIT},
            details={"field": "mapping"},
        )
    return clean


def contact_import_start(
    *,
    actor: Actor,
    contact_import: ContactImport,
    mapping: dict[str, str],
    label_ids: list[int] | None = None,
    consent_purpose_id: int | None = None,
    consent_proof: str = "",
    request: HttpRequest | None = None,
) -> ContactImport:
    """Save the columns' mapping and queue the import."""
    tenant_id = contact_import.tenant_id
    require_perm(actor, Perm.MANAGE_BROADCASTS, tenant_id=tenant_id)
    clean = mapping_clean(columns=list(contact_import.columns), mapping=mapping)
    labels = list(Label.objects.filter(tenant_id=tenant_id, pk__in=label_ids or []))
    if len(labels) != len(set(label_ids or [])):
        raise ValidationFailed(_("Unknown label."), details={"field": "labels"})
    purpose = None
    if consent_purpose_id:
        purpose = ConsentPurpose.objects.filter(tenant_id=tenant_id, pk=consent_purpose_id).first()
        if purpose is None:
            raise ValidationFailed(_("Unknown consent purpose."), details={"field": "consent_purpose"})
    consent_proof = (consent_proof or "").strip()
    if CONSENT in clean.values():
        if purpose is None:
            raise ValidationFailed(
                _("Choose what the consent column's customers agreed to (the purpose)."),
                details={"field": "consent_purpose"},
            )
        if not consent_proof:
            raise ValidationFailed(
                _("Say how these customers agreed (the form, the text they accepted, when): it is the proof."),
                details={"field": "consent_proof"},
            )
    elif purpose is not None:
        raise ValidationFailed(
            _("Choose the column that says whether each customer agreed."), details={"field": "mapping"}
        )
    if len(consent_proof) > PROOF_MAX:
        raise ValidationFailed(
            _("The proof can be %(n)s characters long at most.") % {"n": PROOF_MAX}, details={"field": "consent_proof"}
        )
    with transaction.atomic():
        job = ContactImport.objects.select_for_update().filter(tenant_id=tenant_id, pk=contact_import.pk).first()
        if job is None:
            raise NotFound(_("No such import."))
        if job.status != ContactImport.Status.MAPPING:
            raise Conflict(_("This import has already started."))
        job.mapping = clean
        job.consent_purpose = purpose
        job.consent_proof = consent_proof
        job.status = ContactImport.Status.QUEUED
        job.save(update_fields=["mapping", "consent_purpose", "consent_proof", "status", "updated_at"])
        job.labels.set(labels)
        actor_audit_record(
            actor,
            action=AuditLogEntry.Action.CONTACTS_IMPORTED,
            tenant=job.tenant,
            target=job,
            target_label=job.filename,
            request=request,
            extra={
                "rows": job.total_rows,
                "columns": {column: target for column, target in clean.items() if target},
                "labels": sorted(label.name for label in labels),
                "consent_purpose": purpose.key if purpose else None,
            },
        )
        _enqueue(job.pk)
    return job


def _enqueue(import_id: int) -> None:
    on_commit_guarded(
        lambda: current_app.tasks["campaigns.tasks.contact_import_run"].delay(import_id),
        what=f"Contact import {import_id}",
    )


# --- the job ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """Why a row (or a cell) was not imported: kept as its English message and its parameters, so that each
    reader sees it in their own language."""

    msgid: str
    params: dict[str, Any] = field(default_factory=dict)

    def text(self) -> str:
        return _(self.msgid) % self.params if self.params else _(self.msgid)


@dataclass
class Row:
    number: int
    cells: list[str]
    phone: str = ""
    name: str | None = None
    labels: list[str] = field(default_factory=list)
    attributes: dict[str, str] = field(default_factory=dict)
    consent: bool | None = None
    errors: list[tuple[str, Problem]] = field(default_factory=list)

    @property
    def address(self) -> str:
        return self.phone.lstrip("+")


def _rows_read(job: ContactImport, data: bytes) -> list[Row]:
    """Every row of contacts in the file, read and checked (the same on every run: a resumed job skips by count)."""
    columns = list(job.columns)
    targets = [(index, job.mapping.get(column, "")) for index, column in enumerate(columns)]
    region = job.tenant.country or "BR"
    rows: list[Row] = []
    seen: dict[str, int] = {}
    reader = file_rows(data)
    next(reader, None)
    for number, cells in reader:
        if not any(cells):
            continue
        row = Row(number=number, cells=[cell[:CELL_KEPT] for cell in cells[: len(columns)]])
        for index, target in targets:
            if not target:
                continue
            column = columns[index]
            value = cells[index] if index < len(cells) else ""
            if target == PHONE:
                if not value:
                    row.errors.append((column, Problem(gettext_noop("The phone number is missing."))))
                    continue
                phone = phone_read(value, region=region)
                if phone is None:
                    row.errors.append(
                        (column, Problem(gettext_noop("%(value)s is not a valid phone number."), {"value": value[:40]}))
                    )
                    continue
                if phone in seen:
                    row.errors.append(
                        (
                            column,
                            Problem(gettext_noop("The phone number is also on row %(row)s."), {"row": seen[phone]}),
                        )
                    )
                    continue
                seen[phone] = number
                row.phone = phone
            elif target == NAME:
                if len(value) > NAME_MAX:
                    row.errors.append(
                        (column, Problem(gettext_noop("The name is longer than %(n)s characters."), {"n": NAME_MAX}))
                    )
                elif value:
                    row.name = value
            elif target == LABEL:
                for name in LABEL_SEPARATORS.split(value):
                    name = name.strip()
                    if len(name) > LABEL_NAME_MAX:
                        row.errors.append(
                            (
                                column,
                                Problem(
                                    gettext_noop("A label is longer than %(n)s characters."), {"n": LABEL_NAME_MAX}
                                ),
                            )
                        )
                        break
                    if name and name not in row.labels:
                        row.labels.append(name)
            elif target == CONSENT:
                word = fold(value)
                if word in YES:
                    row.consent = True
                elif word in NO:
                    row.consent = False
                elif value:
                    row.errors.append(
                        (column, Problem(gettext_noop("Consent is yes or no, not %(value)s."), {"value": value[:40]}))
                    )
            elif target.startswith(ATTRIBUTE):
                if len(value) > ATTRIBUTE_VALUE_MAX:
                    row.errors.append(
                        (
                            column,
                            Problem(
                                gettext_noop("The value is longer than %(n)s characters."), {"n": ATTRIBUTE_VALUE_MAX}
                            ),
                        )
                    )
                elif value:
                    row.attributes[target[len(ATTRIBUTE) :]] = value
        rows.append(row)
    return rows


def _actor(job: ContactImport) -> Membership | None:
    """Who the import acts as: the member who started it, while they still may."""
    if job.created_by_id is None:
        return None
    membership = (
        Membership.objects.filter(tenant_id=job.tenant_id, user_id=job.created_by_id, active=True)
        .select_related("tenant", "user", "role")
        .first()
    )
    return membership if membership is not None and membership.has_perm(Perm.MANAGE_BROADCASTS) else None


def _error(job: ContactImport, row: Row, column: str, problem: Problem) -> ContactImportError:
    with translation.override("en"):
        message = problem.text()
    return ContactImportError(
        tenant_id=job.tenant_id,
        contact_import=job,
        row=row.number,
        column=column[:255],
        message=message[:500],
        values={"cells": row.cells, "msgid": problem.msgid, "params": problem.params},
    )


def import_error_message(error: ContactImportError) -> str:
    """Why the row was not imported, in the active language."""
    values = error.values if isinstance(error.values, dict) else {}
    if values.get("msgid"):
        return Problem(str(values["msgid"]), dict(values.get("params") or {})).text()
    return error.message


def import_error_cells(error: ContactImportError) -> list[str]:
    values = error.values
    cells = values.get("cells", []) if isinstance(values, dict) else values
    return [str(cell) for cell in cells or []]


@dataclass
class BatchResult:
    created: int = 0
    updated: int = 0
    errors: list[ContactImportError] = field(default_factory=list)


def _labels_resolve(
    *, job: ContactImport, actor: Membership, rows: list[Row], result: BatchResult, label_column: str
) -> tuple[list[Row], dict[str, int]]:
    """The rows' label names as ids, labels created when the member may manage labels (else the row is refused)."""
    names = {name for row in rows for name in row.labels}
    if not names:
        return rows, {}
    ids = dict(Label.objects.filter(tenant_id=job.tenant_id, name__in=names).values_list("name", "pk"))
    missing = names - set(ids)
    if missing and actor.has_perm(Perm.MANAGE_LABELS):
        Label.objects.bulk_create(
            [Label(tenant_id=job.tenant_id, name=name) for name in sorted(missing)], ignore_conflicts=True
        )
        ids = dict(Label.objects.filter(tenant_id=job.tenant_id, name__in=names).values_list("name", "pk"))
    kept = []
    for row in rows:
        unknown = [name for name in row.labels if name not in ids]
        if unknown:
            message = Problem(gettext_noop("Unknown label %(name)s (you may not create labels)."), {"name": unknown[0]})
            result.errors.append(_error(job, row, label_column, message))
        else:
            kept.append(row)
    return kept, ids


def _batch_apply(*, job: ContactImport, actor: Membership, rows: list[Row]) -> BatchResult:
    """Import one batch of rows, set-based: about a dozen statements whatever the batch's size."""
    result = BatchResult()
    tenant_id = job.tenant_id
    label_column = next((c for c, t in job.mapping.items() if t == LABEL), "")
    consent_column = next((c for c, t in job.mapping.items() if t == CONSENT), "")
    valid = []
    for row in rows:
        if row.errors:
            result.errors.extend(_error(job, row, column, message) for column, message in row.errors)
        else:
            valid.append(row)
    valid, label_ids = _labels_resolve(job=job, actor=actor, rows=valid, result=result, label_column=label_column)
    if not valid:
        return result

    # Who is already known: by WhatsApp identity, else by phone number (the oldest contact with it).
    addresses = [row.address for row in valid]
    known = dict(
        ContactIdentity.objects.filter(tenant_id=tenant_id, channel_type=WHATSAPP, address__in=addresses).values_list(
            "address", "contact_id"
        )
    )
    unmatched = [row.phone for row in valid if row.address not in known]
    by_phone: dict[str, int] = {}
    if unmatched:
        for phone, pk in (
            Contact.objects.filter(tenant_id=tenant_id, phone_e164__in=unmatched)
            .order_by("-id")
            .values_list("phone_e164", "pk")
        ):
            by_phone[phone] = pk
    matched: dict[int, int] = {}  # row number -> contact id
    for row in valid:
        found = known.get(row.address) or by_phone.get(row.phone)
        if found is not None:
            matched[row.number] = found
    new_rows = [row for row in valid if row.number not in matched]

    created: dict[int, Contact] = {}
    if new_rows:
        contacts = Contact.objects.bulk_create(
            [
                Contact(
                    tenant_id=tenant_id, name=row.name or "", phone_e164=row.phone, custom_attributes=row.attributes
                )
                for row in new_rows
            ]
        )
        created = {row.number: contact for row, contact in zip(new_rows, contacts, strict=True)}
    # The WhatsApp identity of every new contact, and of the contacts found by number that had none.
    ContactIdentity.objects.bulk_create(
        [
            ContactIdentity(
                tenant_id=tenant_id,
                contact_id=created[row.number].pk if row.number in created else matched[row.number],
                channel_type=WHATSAPP,
                address=row.address,
            )
            for row in valid
            if row.address not in known
        ],
        ignore_conflicts=True,
    )
    if created:
        # A customer who wrote in meanwhile got their identity first: their contact is the one to update.
        owners = dict(
            ContactIdentity.objects.filter(
                tenant_id=tenant_id, channel_type=WHATSAPP, address__in=[row.address for row in new_rows]
            ).values_list("address", "contact_id")
        )
        lost = [row for row in new_rows if owners.get(row.address) != created[row.number].pk]
        if lost:
            Contact.objects.filter(tenant_id=tenant_id, pk__in=[created[row.number].pk for row in lost]).delete()
            for row in lost:
                del created[row.number]
                matched[row.number] = int(owners[row.address])

    # Known contacts: the file's name and attributes merged in, under a lock against a concurrent edit.
    existing = {
        contact.pk: contact
        for contact in Contact.objects.select_for_update(no_key=True)
        .filter(tenant_id=tenant_id, pk__in=set(matched.values()))
        .only("pk", "name", "custom_attributes")
    }
    changed: dict[int, Contact] = {}
    attribute_column = next((c for c, t in job.mapping.items() if t.startswith(ATTRIBUTE)), "")
    for row in valid:
        if row.number not in matched:
            continue
        contact = existing.get(matched[row.number])
        if contact is None:  # deleted meanwhile
            result.errors.append(
                _error(job, row, "", Problem(gettext_noop("The contact was deleted during the import.")))
            )
            del matched[row.number]
            continue
        attributes = {**(contact.custom_attributes or {}), **row.attributes}
        if len(attributes) > ATTRIBUTE_LIMIT:
            message = Problem(
                gettext_noop("A contact can have %(n)s custom attributes at most."), {"n": ATTRIBUTE_LIMIT}
            )
            result.errors.append(_error(job, row, attribute_column, message))
            del matched[row.number]
            continue
        if attributes != contact.custom_attributes or (row.name and row.name != contact.name):
            contact.custom_attributes = attributes
            contact.name = row.name or contact.name
            contact.updated_at = timezone.now()
            changed[contact.pk] = contact
    if changed:
        Contact.objects.bulk_update(list(changed.values()), ["name", "custom_attributes", "updated_at"])

    contact_of = {**{number: c.pk for number, c in created.items()}, **matched}
    every = [label.pk for label in job.labels.all()]
    pairs = {
        (contact_of[row.number], label_id)
        for row in valid
        if row.number in contact_of
        for label_id in [*every, *(label_ids[name] for name in row.labels)]
    }
    if pairs:
        ContactLabel.objects.bulk_create(
            [ContactLabel(tenant_id=tenant_id, contact_id=c, label_id=label) for c, label in sorted(pairs)],
            ignore_conflicts=True,
        )
    if job.consent_purpose_id is not None:
        consenting = [(row, contact_of[row.number]) for row in valid if row.consent and row.number in contact_of]
        refused = consent_import_apply(job=job, actor=actor, rows=consenting)
        for row in refused:
            message = Problem(gettext_noop("This customer opted out earlier: the import does not opt them back in."))
            result.errors.append(_error(job, row, consent_column, message))
    result.created = len(created)
    result.updated = len(matched)
    return result


def consent_import_apply(*, job: ContactImport, actor: Actor, rows: list[tuple[Row, int]]) -> list[Row]:
    """The opt-ins of a batch's rows in the ledger, set-based; returns the rows of contacts opted out (left so).

    One ledger row per contact, purpose and proof (its ``dedupe_key``): a file imported again, or a batch run
    again, records nothing more. The current state (and, for marketing, the contact's consent) moves to the
    opt-in unless a later answer holds.
    """
    purpose = job.consent_purpose
    if purpose is None or not rows:
        return []
    tenant_id = job.tenant_id
    contact_ids = [contact_id for _row, contact_id in rows]
    states = {
        state.contact_id: state
        for state in ConsentState.objects.filter(tenant_id=tenant_id, purpose=purpose, contact_id__in=contact_ids)
    }
    out = {contact_id for contact_id, state in states.items() if state.kind == ConsentEvent.Kind.OPT_OUT}
    if purpose.is_marketing or purpose.key == MARKETING:
        # Marketing consent recorded on the contact before the ledger held it counts as well.
        out.update(
            Contact.objects.filter(
                tenant_id=tenant_id, pk__in=contact_ids, marketing_consent=Contact.MarketingConsent.OPTED_OUT
            ).values_list("pk", flat=True)
        )
    opted_out = [row for row, contact_id in rows if contact_id in out]
    rows = [(row, contact_id) for row, contact_id in rows if contact_id not in out]
    if not rows:
        return opted_out
    now = timezone.now()
    proof = hashlib.sha256(job.consent_proof.encode()).hexdigest()[:24]
    label = actor_audit_label(actor)[:255]
    person = actor_user(actor)
    keys = {contact_id: f"import:{purpose.pk}:{contact_id}:{proof}" for _row, contact_id in rows}
    ConsentEvent.objects.bulk_create(
        [
            ConsentEvent(
                tenant_id=tenant_id,
                contact_id=contact_id,
                purpose=purpose,
                kind=ConsentEvent.Kind.OPT_IN,
                source=ConsentEvent.Source.IMPORT,
                occurred_at=now,
                actor_user=person,
                actor_label=label,
                evidence={"import_id": job.pk, "file": job.filename, "row": row.number, "proof": job.consent_proof},
                dedupe_key=keys[contact_id],
            )
            for row, contact_id in rows
        ],
        ignore_conflicts=True,
    )
    # Only the answers recorded now move the state (one recorded by an earlier import is already there or older).
    events = ConsentEvent.objects.filter(tenant_id=tenant_id, dedupe_key__in=list(keys.values()), occurred_at=now)
    new = {event.contact_id: event for event in events.only("pk", "contact_id", "occurred_at")}
    if not new:
        return opted_out
    fresh = [
        ConsentState(
            tenant_id=tenant_id, contact_id=contact_id, purpose=purpose, kind="opt_in", occurred_at=now, event=event
        )
        for contact_id, event in new.items()
        if contact_id not in states
    ]
    ConsentState.objects.bulk_create(fresh, ignore_conflicts=True)
    moved = []
    for contact_id, event in new.items():
        state = states.get(contact_id)
        if state is not None and state.occurred_at <= now:
            state.kind, state.occurred_at, state.event = ConsentEvent.Kind.OPT_IN, now, event
            state.updated_at = now
            moved.append(state)
    if moved:
        ConsentState.objects.bulk_update(moved, ["kind", "occurred_at", "event", "updated_at"])
    if purpose.is_marketing or purpose.key == MARKETING:
        contacts_marketing_consent_set(
            tenant_id=tenant_id, contact_ids=list(new), consent=Contact.MarketingConsent.OPTED_IN, at=now
        )
    return opted_out


def contact_import_run(
    import_id: int, *, budget_seconds: float = RUN_BUDGET_SECONDS
) -> tuple[ContactImport | None, bool]:
    """Run the import (the job) for at most ``budget_seconds``; returns it and whether rows remain.

    Each batch is committed with the progress under a lock of the import: a job run twice at once, or again after
    its worker died, applies every batch once and goes on from ``processed_rows``.
    """
    job = ContactImport.objects.select_related("tenant", "consent_purpose").filter(pk=import_id).first()
    if job is None or job.status not in (ContactImport.Status.QUEUED, ContactImport.Status.RUNNING):
        return job, False
    actor = _actor(job)
    if actor is None:
        _fail(job, "Who started the import may no longer manage broadcasts.")
        return job, False
    started = time.monotonic()
    ContactImport.objects.filter(pk=job.pk, started_at__isnull=True).update(started_at=timezone.now())
    ContactImport.objects.filter(pk=job.pk).update(status=ContactImport.Status.RUNNING)
    try:
        with job.file.open("rb") as handle:
            data = handle.read()
        rows = _rows_read(job, data)
    except (ValidationFailed, OSError) as exc:
        _fail(job, str(exc)[:1000])
        return job, False
    while True:
        with transaction.atomic():
            locked = (
                ContactImport.objects.select_for_update(of=("self",))
                .select_related("tenant", "consent_purpose")
                .get(pk=job.pk)
            )
            offset = locked.processed_rows
            if locked.status != ContactImport.Status.RUNNING or offset >= len(rows):
                break
            result = _batch_apply(job=locked, actor=actor, rows=rows[offset : offset + BATCH])
            ContactImportError.objects.bulk_create(result.errors, ignore_conflicts=True)
            ContactImport.objects.filter(pk=job.pk).update(
                processed_rows=offset + len(rows[offset : offset + BATCH]),
                created_count=F("created_count") + result.created,
                updated_count=F("updated_count") + result.updated,
                error_count=F("error_count") + len(result.errors),
                updated_at=timezone.now(),
            )
        if time.monotonic() - started > budget_seconds:
            job.refresh_from_db()
            return job, job.processed_rows < len(rows)
    ContactImport.objects.filter(pk=job.pk, status=ContactImport.Status.RUNNING).update(
        status=ContactImport.Status.DONE, finished_at=timezone.now(), total_rows=len(rows), updated_at=timezone.now()
    )
    job.refresh_from_db()
    return job, False


def contact_imports_sweep(*, now: datetime | None = None) -> int:
    """Queue again the imports whose job went quiet (its message lost with a broker or a worker): each goes on
    from the rows already committed. Returns how many were queued."""
    now = now or timezone.now()
    stalled = list(
        ContactImport.objects.filter(
            status__in=[ContactImport.Status.QUEUED, ContactImport.Status.RUNNING],
            updated_at__lt=now - timedelta(seconds=STALL_SECONDS),
        ).values_list("pk", flat=True)[:100]
    )
    with transaction.atomic():
        # Touched, so that the next sweep leaves them to the job queued now.
        ContactImport.objects.filter(pk__in=stalled).update(updated_at=now)
        for import_id in stalled:
            _enqueue(import_id)
    return len(stalled)


def _fail(job: ContactImport, failure: str) -> None:
    ContactImport.objects.filter(pk=job.pk).update(
        status=ContactImport.Status.FAILED, failure=failure, finished_at=timezone.now(), updated_at=timezone.now()
    )
    logger.warning("Contact import %s failed: %s", job.pk, failure)


# --- the report -------------------------------------------------------------------------------------------------


def csv_cell(value: object) -> str:
    """A cell of a CSV we serve: a spreadsheet runs a cell starting with these as a formula; ours is data."""
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def import_errors_csv(job: ContactImport) -> str:
    """The rows not imported (and the notes on imported ones) as CSV: row, column, message, then the row's cells."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([_("row"), _("column"), _("error"), *[csv_cell(c) for c in job.columns]])
    for error in ContactImportError.objects.filter(contact_import=job).order_by("row", "id").iterator(2000):
        message = import_error_message(error)
        writer.writerow(
            [error.row, csv_cell(error.column), csv_cell(message), *map(csv_cell, import_error_cells(error))]
        )
    return out.getvalue()
