"""Broadcasts as admins author and follow them: drafts (create, change, delete), what a template asks for and
how each value is filled, the audience (a segment or a CSV file), a preview for a sample contact, and the
selectors of the live page (counters, the recipients' CSV). Sending is ``campaigns.sending``'s.

A broadcast's ``variables`` maps each parameter of its template to where its value comes from. Parameters are
named ``header.<placeholder>``, ``body.<placeholder>`` (``body.1`` or ``body.first_name``) and
``button.<index>`` (a button that needs a value: a URL's suffix, a coupon code)::

    {"body.1": {"attribute": "name", "fallback": "customer"},     # the contact's name, else "customer"
     "body.2": {"attribute": "attr:plan"},                        # the contact's custom attribute "plan"
     "body.3": {"attribute": "column:coupon"},                    # the CSV audience's column "coupon"
     "button.0": {"value": "SUMMER25"}}                           # the same text for everyone

``attribute`` is ``name``, ``phone``, ``attr:<key>`` or (a CSV audience only) ``column:<header>``. A value
that comes out empty takes the ``fallback``; still empty, the recipient is skipped (``missing_variable``).
``recipient_values`` resolves them for one recipient and ``template_values`` shapes them as the channel's
``prepare_outbound`` takes a template's values.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Any

import phonenumbers
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.files.base import ContentFile
from django.core.validators import URLValidator
from django.db import transaction
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from campaigns.consent import marketing_purpose
from campaigns.models import Broadcast, BroadcastRecipient, ConsentPurpose, Segment
from campaigns.segments import segment_contacts
from conversations.actors import Actor, actor_audit_record, actor_user
from conversations.channels import backend_for
from conversations.models import Contact, Inbox
from helpdesk.exceptions import Conflict, ValidationFailed
from tenants.models import AuditLogEntry, Tenant
from tenants.permissions import Perm, require_perm

Action = AuditLogEntry.Action

NAME_MAX = 120
# A CSV audience: at most this many bytes and rows; its first line names the columns, one of them "phone".
AUDIENCE_MAX_BYTES = 5 * 1024 * 1024
AUDIENCE_MAX_ROWS = 100_000
PHONE_COLUMN = "phone"
COLUMN_MAX = 50
COLUMNS_MAX = 50
FIXED_VALUE_MAX = 1024
ATTRIBUTE_KEY_MAX = 50
# The statuses a recipient's message counts as reached WhatsApp in (sent, then delivered, then read).
REACHED = (BroadcastRecipient.Status.SENT, BroadcastRecipient.Status.DELIVERED, BroadcastRecipient.Status.READ)
DELIVERED = (BroadcastRecipient.Status.DELIVERED, BroadcastRecipient.Status.READ)
_PLACEHOLDER = re.compile(r"\{\{\s*([^{}\s]+)\s*\}\}")


def _invalid(field_name: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, details={"field": field_name})


# --- templates and their parameters ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Parameter:
    """One value a template asks for: its key in ``variables``, how people read it, Meta's example."""

    key: str
    label: str
    example: str = ""


def inbox_templates(inbox: Inbox) -> list[dict[str, Any]]:
    """The approved templates of ``inbox`` as its channel lists them (none when the channel is not loaded)."""
    try:
        return backend_for(inbox).templates_for(inbox)
    except LookupError:
        return []


def template_find(inbox: Inbox, name: str, language: str) -> dict[str, Any] | None:
    return next((t for t in inbox_templates(inbox) if t["name"] == name and t["language"] == language), None)


MEDIA_HEADERS = {
    "IMAGE": gettext_lazy("Header image (its https address)"),
    "VIDEO": gettext_lazy("Header video (its https address)"),
    "DOCUMENT": gettext_lazy("Header document (its https address)"),
}


def template_parameters(template: Mapping[str, Any]) -> list[Parameter]:
    """Every value ``template`` needs, header first, then body, then buttons."""
    found = []
    media = MEDIA_HEADERS.get(str(template.get("header_format") or ""))
    if media is not None:
        # A media header is sent with the file's address (the channel's sender fetches nothing itself).
        found.append(Parameter("header.link", str(media), "https://"))
    for part, key in (("header", "header_params"), ("body", "body_params")):
        for param in template.get(key) or []:
            found.append(
                Parameter(
                    f"{part}.{param['name']}", str(param.get("label") or param["name"]), str(param.get("example") or "")
                )
            )
    for button in template.get("buttons") or []:
        if button.get("needs") in ("url", "copy_code", "otp"):
            label = _("Button %(number)s (%(text)s)") % {"number": button["index"] + 1, "text": button.get("text", "")}
            found.append(Parameter(f"button.{button['index']}", label))
    return found


def template_category(template: Mapping[str, Any]) -> str:
    return str(template.get("category") or "").upper()


# --- the CSV audience ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AudienceFile:
    columns: list[str]
    rows: int


def _csv_text(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise _invalid("audience_file", _("The file is not a CSV file in UTF-8.")) from None


def _csv_reader(text: str) -> Iterator[list[str]]:
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    return csv.reader(io.StringIO(text, newline=""), dialect)


def audience_file_check(data: bytes) -> AudienceFile:
    """The columns and number of recipients of an uploaded CSV, or ``ValidationFailed`` saying what is wrong."""
    if len(data) > AUDIENCE_MAX_BYTES:
        raise _invalid(
            "audience_file", _("The file is larger than %(max)s MB.") % {"max": AUDIENCE_MAX_BYTES // (1024 * 1024)}
        )
    reader = _csv_reader(_csv_text(data))
    try:
        header = next(reader, None)
        if not header or not any(cell.strip() for cell in header):
            raise _invalid("audience_file", _("The file is empty: its first line names the columns."))
        columns = [cell.strip() for cell in header]
        if len(columns) > COLUMNS_MAX:
            raise _invalid("audience_file", _("The file has more than %(max)s columns.") % {"max": COLUMNS_MAX})
        seen: set[str] = set()
        for number, column in enumerate(columns, start=1):
            if not column:
                raise _invalid("audience_file", _("Column %(number)s has no name.") % {"number": number})
            if len(column) > COLUMN_MAX:
                raise _invalid(
                    "audience_file",
                    _("The name of column %(number)s is longer than %(max)s characters.")
                    % {"number": number, "max": COLUMN_MAX},
                )
            if column.lower() in seen:
                raise _invalid("audience_file", _("The column “%(name)s” appears twice.") % {"name": column})
            seen.add(column.lower())
        if PHONE_COLUMN not in {c.lower() for c in columns}:
            raise _invalid("audience_file", _("The file has no “phone” column."))
        rows = 0
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            rows += 1
            if rows > AUDIENCE_MAX_ROWS:
                raise _invalid(
                    "audience_file",
                    _("The file has more than %(max)s recipients.") % {"max": f"{AUDIENCE_MAX_ROWS:,}"},
                )
    except csv.Error:
        raise _invalid("audience_file", _("The file is not a CSV file in UTF-8.")) from None
    if rows == 0:
        raise _invalid("audience_file", _("The file has no recipients."))
    return AudienceFile(columns=columns, rows=rows)


def audience_rows(broadcast: Broadcast) -> Iterator[dict[str, str]]:
    """The rows of a broadcast's CSV audience, each as {column: value} with the phone under ``phone``."""
    if not broadcast.audience_file:
        return
    with broadcast.audience_file.open("rb") as handle:
        text = _csv_text(handle.read())
    reader = _csv_reader(text)
    header = [cell.strip() for cell in next(reader, [])]
    for row in reader:
        if not any(cell.strip() for cell in row):
            continue
        values = {column: (row[i].strip() if i < len(row) else "") for i, column in enumerate(header)}
        values[PHONE_COLUMN] = next((v for k, v in values.items() if k.lower() == PHONE_COLUMN), "")
        yield values


def audience_columns(broadcast: Broadcast) -> list[str]:
    if not broadcast.audience_file:
        return []
    with broadcast.audience_file.open("rb") as handle:
        text = _csv_text(handle.read(AUDIENCE_MAX_BYTES))
    return [cell.strip() for cell in next(_csv_reader(text), [])]


# --- values for a recipient ------------------------------------------------------------------------------------


def source_value(mapping: Mapping[str, Any], *, contact: Contact | None, row: Mapping[str, str] | None) -> str:
    """The value one mapping gives a recipient (a contact, a CSV row or both), its fallback when empty."""
    if "value" in mapping:
        return str(mapping["value"])
    source = str(mapping.get("attribute", ""))
    value: Any = ""
    if source == "name":
        value = (contact.display_name if contact is not None else "") or (row or {}).get("name", "")
    elif source == "phone":
        value = (contact.phone_e164 if contact is not None else "") or (row or {}).get(PHONE_COLUMN, "")
    elif source.startswith("attr:"):
        value = (contact.custom_attributes or {}).get(source[5:], "") if contact is not None else ""
    elif source.startswith("column:"):
        value = (row or {}).get(source[7:], "")
    value = "" if value is None else str(value).strip()
    return value or str(mapping.get("fallback", "")).strip()


def recipient_values(
    variables: Mapping[str, Mapping[str, Any]], *, contact: Contact | None, row: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Every parameter's value for one recipient (``""`` where none: such a recipient is skipped)."""
    return {key: source_value(mapping, contact=contact, row=row) for key, mapping in variables.items()}


def template_values(template: Mapping[str, Any], values: Mapping[str, str]) -> dict[str, Any]:
    """``values`` by parameter key as the channel takes a template's values: header and body as a list in
    placeholder order (positional) or by name (named), buttons by index."""
    named = template.get("parameter_format") == "NAMED"
    shaped: dict[str, Any] = {}
    for part, key in (("header", "header_params"), ("body", "body_params")):
        params = [p["name"] for p in template.get(key) or []]
        if params:
            pairs = [(name, values.get(f"{part}.{name}", "")) for name in params]
            shaped[part] = dict(pairs) if named else [v for _n, v in pairs]
    buttons = {int(k.split(".", 1)[1]): v for k, v in values.items() if k.startswith("button.")}
    if buttons:
        shaped["buttons"] = buttons
    return shaped


def template_render(template: Mapping[str, Any], values: Mapping[str, str]) -> dict[str, Any]:
    """The template's texts with ``values`` in their placeholders (a placeholder without one stays as written)."""

    def fill(part: str, text: str) -> str:
        return _PLACEHOLDER.sub(lambda m: values.get(f"{part}.{m.group(1)}") or m.group(0), text or "")

    return {
        "header": fill("header", str(template.get("header_text") or "")),
        "body": fill("body", str(template.get("body_text") or "")),
        "footer": str(template.get("footer_text") or ""),
        "buttons": [str(b.get("text") or "") for b in template.get("buttons") or []],
    }


# --- drafts ---------------------------------------------------------------------------------------------------


@dataclass
class BroadcastSpec:
    """What a draft holds. ``scheduled_at`` None: sent when started; aware, at that moment."""

    name: str
    inbox_id: int
    template_name: str
    template_language: str
    segment_id: int | None = None
    variables: dict[str, Any] = field(default_factory=dict)
    consent_purpose_id: int | None = None
    scheduled_at: datetime | None = None
    quiet_start: time | None = None
    quiet_end: time | None = None


def _https_address(value: str) -> bool:
    try:
        URLValidator(schemes=["https"])(value)
    except DjangoValidationError:
        return False
    return True


def _variables_clean(raw: Any, parameters: list[Parameter], *, columns: list[str] | None) -> dict[str, dict[str, str]]:
    if not isinstance(raw, dict):
        raise _invalid("variables", _("Variables map each template parameter to where its value comes from."))
    known = {p.key: p for p in parameters}
    for key in raw:
        if key not in known:
            raise _invalid("variables", _("The template has no parameter “%(key)s”.") % {"key": key})
    clean: dict[str, dict[str, str]] = {}
    for param in parameters:
        mapping = raw.get(param.key)
        field_name = f"variables.{param.key}"
        if mapping is None:
            raise _invalid(field_name, _("Choose what fills “%(parameter)s”.") % {"parameter": param.label})
        if not isinstance(mapping, dict) or not all(isinstance(v, str) for v in mapping.values()):
            raise _invalid(
                field_name,
                _("“%(parameter)s”: choose the contact's name, phone number, an attribute, a column or a fixed text.")
                % {"parameter": param.label},
            )
        if "value" in mapping:
            if set(mapping) != {"value"}:
                raise _invalid(
                    field_name, _("“%(parameter)s”: a fixed text has no fallback.") % {"parameter": param.label}
                )
            value = mapping["value"].strip()
            if not value:
                raise _invalid(field_name, _("“%(parameter)s”: write the fixed text.") % {"parameter": param.label})
            if len(value) > FIXED_VALUE_MAX:
                raise _invalid(
                    field_name,
                    _("“%(parameter)s”: at most %(max)s characters.")
                    % {"parameter": param.label, "max": FIXED_VALUE_MAX},
                )
            if param.key == "header.link" and not _https_address(value):
                raise _invalid(
                    field_name,
                    _("“%(parameter)s”: give the file's full https:// address.") % {"parameter": param.label},
                )
            clean[param.key] = {"value": value}
            continue
        if set(mapping) - {"attribute", "fallback"} or "attribute" not in mapping:
            raise _invalid(
                field_name,
                _("“%(parameter)s”: choose the contact's name, phone number, an attribute, a column or a fixed text.")
                % {"parameter": param.label},
            )
        source = mapping["attribute"].strip()
        if source.startswith("attr:"):
            key = source[5:].strip()
            if not key or len(key) > ATTRIBUTE_KEY_MAX:
                raise _invalid(field_name, _("“%(parameter)s”: name the attribute.") % {"parameter": param.label})
            source = f"attr:{key}"
        elif source.startswith("column:"):
            column = source[7:].strip()
            if columns is None:
                raise _invalid(
                    field_name,
                    _("“%(parameter)s”: only a CSV audience has columns.") % {"parameter": param.label},
                )
            if column not in columns:
                raise _invalid(
                    field_name,
                    _("“%(parameter)s”: the file has no column “%(column)s”.")
                    % {"parameter": param.label, "column": column},
                )
            source = f"column:{column}"
        elif source not in ("name", "phone"):
            raise _invalid(
                field_name,
                _("“%(parameter)s”: choose the contact's name, phone number, an attribute, a column or a fixed text.")
                % {"parameter": param.label},
            )
        fallback = mapping.get("fallback", "").strip()
        if len(fallback) > FIXED_VALUE_MAX:
            raise _invalid(
                field_name,
                _("“%(parameter)s”: at most %(max)s characters.") % {"parameter": param.label, "max": FIXED_VALUE_MAX},
            )
        clean[param.key] = {"attribute": source, **({"fallback": fallback} if fallback else {})}
    return clean


@dataclass
class _Cleaned:
    spec: BroadcastSpec
    inbox: Inbox
    segment: Segment | None
    category: str
    purpose: ConsentPurpose | None


def _clean(
    tenant: Tenant,
    spec: BroadcastSpec,
    *,
    columns: list[str] | None,
    now: datetime,
) -> _Cleaned:
    spec.name = " ".join(spec.name.split())
    if not spec.name or len(spec.name) > NAME_MAX:
        raise _invalid("name", _("A name of 1 to %(max)s characters.") % {"max": NAME_MAX})
    inbox = Inbox.objects.filter(tenant=tenant, pk=spec.inbox_id).first()
    if inbox is None:
        raise _invalid("inbox_id", _("No such inbox."))
    template = template_find(inbox, spec.template_name, spec.template_language)
    if template is None:
        raise _invalid(
            "template",
            _("The inbox has no approved template “%(name)s” in %(language)s.")
            % {"name": spec.template_name, "language": spec.template_language or "?"},
        )
    segment = None
    if spec.segment_id is not None:
        segment = Segment.objects.filter(tenant=tenant, pk=spec.segment_id).first()
        if segment is None:
            raise _invalid("segment_id", _("No such segment."))
        if columns is not None:
            raise _invalid("audience", _("Choose a segment or a CSV file of recipients, not both."))
    elif columns is None:
        raise _invalid("audience", _("Choose a segment or upload a CSV file of recipients."))
    spec.variables = _variables_clean(spec.variables, template_parameters(template), columns=columns)
    category = template_category(template)
    purpose = None
    if spec.consent_purpose_id is not None:
        purpose = ConsentPurpose.objects.filter(tenant=tenant, pk=spec.consent_purpose_id).first()
        if purpose is None:
            raise _invalid("consent_purpose_id", _("No such consent purpose."))
    if category == "MARKETING":
        if purpose is None:
            purpose = marketing_purpose(tenant_id=tenant.pk)
        elif not purpose.is_marketing:
            raise _invalid(
                "consent_purpose_id", _("A marketing template goes only to contacts who agreed to marketing.")
            )
    if spec.scheduled_at is not None:
        if timezone.is_naive(spec.scheduled_at):
            raise _invalid("scheduled_at", _("A time with its time zone."))
        if spec.scheduled_at <= now:
            raise _invalid("scheduled_at", _("Choose a time in the future."))
    if (spec.quiet_start is None) != (spec.quiet_end is None):
        raise _invalid("quiet_hours", _("Give both ends of the quiet hours, or neither."))
    if spec.quiet_start is not None and spec.quiet_start == spec.quiet_end:
        raise _invalid("quiet_hours", _("Quiet hours start and end at different times."))
    return _Cleaned(spec=spec, inbox=inbox, segment=segment, category=category, purpose=purpose)


def _apply(broadcast: Broadcast, cleaned: _Cleaned) -> None:
    spec = cleaned.spec
    broadcast.name = spec.name
    broadcast.inbox = cleaned.inbox
    broadcast.template_name = spec.template_name
    broadcast.template_language = spec.template_language
    broadcast.template_category = cleaned.category
    broadcast.variables = spec.variables
    broadcast.segment = cleaned.segment
    broadcast.consent_purpose = cleaned.purpose
    broadcast.scheduled_at = spec.scheduled_at
    broadcast.quiet_start = spec.quiet_start
    broadcast.quiet_end = spec.quiet_end


def _file_name(filename: str) -> str:
    base = re.sub(r"[^A-Za-z0-9._-]+", "-", filename.rsplit("/", 1)[-1]).strip("-.")[:80]
    return base if base.lower().endswith(".csv") else f"{base or 'audience'}.csv"


def _audit(actor: Actor, action: str, broadcast: Broadcast, request: HttpRequest | None, extra: dict[str, Any]) -> None:
    actor_audit_record(
        actor,
        action=action,
        tenant=broadcast.tenant,
        target=broadcast,
        target_label=broadcast.name,
        request=request,
        extra=extra,
    )


AUDITED = ("name", "inbox_id", "template_name", "template_language", "segment_id", "consent_purpose_id",
           "scheduled_at", "quiet_start", "quiet_end")  # fmt: skip


def _audited(broadcast: Broadcast) -> dict[str, Any]:
    values = {k: getattr(broadcast, k) for k in AUDITED}
    for k in ("scheduled_at", "quiet_start", "quiet_end"):
        values[k] = values[k].isoformat() if values[k] is not None else None
    values["audience_file"] = broadcast.audience_file.name or None
    return values


def broadcast_create(
    *,
    actor: Actor,
    tenant: Tenant,
    spec: BroadcastSpec,
    audience_csv: bytes | None = None,
    audience_filename: str = "audience.csv",
    request: HttpRequest | None = None,
    now: datetime | None = None,
) -> Broadcast:
    """A new draft broadcast. Its audience is ``spec.segment_id`` or the CSV ``audience_csv`` (one of them)."""
    require_perm(actor, Perm.MANAGE_BROADCASTS, tenant_id=tenant.pk)
    columns = audience_file_check(audience_csv).columns if audience_csv is not None else None
    cleaned = _clean(tenant, spec, columns=columns, now=now or timezone.now())
    with transaction.atomic():
        broadcast = Broadcast(tenant=tenant, created_by=actor_user(actor))
        _apply(broadcast, cleaned)
        if audience_csv is not None:
            broadcast.audience_file.save(_file_name(audience_filename), ContentFile(audience_csv), save=False)
        broadcast.save()
        _audit(actor, Action.BROADCAST_CREATED, broadcast, request, {"name": broadcast.name})
    return broadcast


def broadcast_update(
    *,
    actor: Actor,
    broadcast: Broadcast,
    spec: BroadcastSpec,
    audience_csv: bytes | None = None,
    audience_filename: str = "audience.csv",
    request: HttpRequest | None = None,
    now: datetime | None = None,
) -> Broadcast:
    """Change a draft. A new CSV replaces the file (and the segment); a segment replaces the file; neither
    keeps the audience the draft has."""
    require_perm(actor, Perm.MANAGE_BROADCASTS, tenant_id=broadcast.tenant_id)
    if audience_csv is not None:
        columns: list[str] | None = audience_file_check(audience_csv).columns
    elif spec.segment_id is None and broadcast.audience_file:
        columns = audience_columns(broadcast)
    else:
        columns = None
    cleaned = _clean(broadcast.tenant, spec, columns=columns, now=now or timezone.now())
    with transaction.atomic():
        broadcast = Broadcast.objects.select_for_update().select_related("tenant").get(pk=broadcast.pk)
        if broadcast.status != Broadcast.Status.DRAFT:
            raise Conflict(_("Only a draft can be changed."))
        before = _audited(broadcast)
        old_file = broadcast.audience_file.name
        _apply(broadcast, cleaned)
        if audience_csv is not None:
            broadcast.audience_file.save(_file_name(audience_filename), ContentFile(audience_csv), save=False)
        elif spec.segment_id is not None:
            broadcast.audience_file = ""  # type: ignore[assignment]
        broadcast.save()
        after = _audited(broadcast)
        changes = {k: [before[k], after[k]] for k in before if before[k] != after[k]}
        _audit(actor, Action.BROADCAST_CHANGED, broadcast, request, {"changes": changes} if changes else {})
        if old_file and old_file != broadcast.audience_file.name:
            storage = broadcast.audience_file.storage
            transaction.on_commit(lambda: storage.delete(old_file))
    return broadcast


def broadcast_delete(*, actor: Actor, broadcast: Broadcast, request: HttpRequest | None = None) -> None:
    require_perm(actor, Perm.MANAGE_BROADCASTS, tenant_id=broadcast.tenant_id)
    with transaction.atomic():
        broadcast = Broadcast.objects.select_for_update().select_related("tenant").get(pk=broadcast.pk)
        if broadcast.status != Broadcast.Status.DRAFT:
            raise Conflict(_("Only a draft can be deleted."))
        _audit(actor, Action.BROADCAST_DELETED, broadcast, request, {"name": broadcast.name})
        old_file = broadcast.audience_file.name
        storage = broadcast.audience_file.storage
        broadcast.delete()
        if old_file:
            transaction.on_commit(lambda: storage.delete(old_file))


# --- reading ---------------------------------------------------------------------------------------------------


def broadcast_get(*, tenant: Tenant, broadcast_id: int) -> Broadcast | None:
    """The workspace's broadcast (another workspace's is as missing as one that never was)."""
    return (
        Broadcast.objects.select_related("tenant", "inbox", "segment", "consent_purpose", "created_by")
        .filter(tenant=tenant, pk=broadcast_id)
        .first()
    )


def broadcast_list(*, tenant: Tenant) -> list[Broadcast]:
    """The workspace's broadcasts, newest first, each with ``done`` (recipients no longer waiting)."""
    waiting = (BroadcastRecipient.Status.PENDING, BroadcastRecipient.Status.SENDING)
    return list(
        Broadcast.objects.filter(tenant=tenant)
        .select_related("inbox")
        .annotate(
            recipient_count=Count("recipients"),
            done=Count("recipients", filter=~Q(recipients__status__in=waiting)),
        )
        .order_by("-created_at", "-id")
    )


def audience_contacts(broadcast: Broadcast) -> QuerySet[Contact] | None:
    """The contacts of a broadcast's segment (a queryset), or None for a CSV audience."""
    if broadcast.segment is None:
        return None
    return segment_contacts(tenant=broadcast.tenant, filters=broadcast.segment.filters or {})


def audience_count(broadcast: Broadcast) -> int:
    """How many the audience holds now (contacts of the segment, rows of the file); before consent and dedupe."""
    contacts = audience_contacts(broadcast)
    if contacts is not None:
        return int(contacts.count())
    return sum(1 for _row in audience_rows(broadcast))


def audience_phones(broadcast: Broadcast) -> list[str]:
    """The audience's phone numbers (E.164 where they read as one), each once."""
    contacts = audience_contacts(broadcast)
    raw = (
        contacts.values_list("phone_e164", flat=True)
        if contacts is not None
        else (row[PHONE_COLUMN] for row in audience_rows(broadcast))
    )
    phones = dict.fromkeys(p for p in (_e164(value) for value in raw) if p)
    return list(phones)


def _e164(raw: str) -> str:
    digits = re.sub(r"[^\d+]", "", raw or "")
    if not digits:
        return ""
    return digits if digits.startswith("+") else f"+{digits}"


def phone_country(phone: str) -> str:
    """The ISO country of an E.164 number (``+5511…`` → ``BR``); "" when it names none."""
    try:
        number = phonenumbers.parse(_e164(phone), None)
    except phonenumbers.NumberParseException:
        return ""
    region = phonenumbers.region_code_for_number(number)
    return "" if not region or region == "001" else str(region)


@dataclass(frozen=True)
class Preview:
    contact_label: str
    header: str
    body: str
    footer: str
    buttons: list[str]
    missing: list[str]


def broadcast_preview(broadcast: Broadcast, template: Mapping[str, Any]) -> Preview:
    """The message as the audience's first contact (or first row of the file) would read it."""
    contact: Contact | None = None
    row: dict[str, str] | None = None
    contacts = audience_contacts(broadcast)
    if contacts is not None:
        contact = contacts.order_by("id").first()
    else:
        row = next(audience_rows(broadcast), None)
    values = recipient_values(broadcast.variables or {}, contact=contact, row=row)
    rendered = template_render(template, values)
    labels = {p.key: p.label for p in template_parameters(template)}
    label = contact.display_name if contact is not None else (row or {}).get(PHONE_COLUMN, "")
    return Preview(
        contact_label=label,
        missing=[labels.get(k, k) for k, v in values.items() if not v],
        **rendered,
    )


# --- the live page: counters and the recipients' CSV -----------------------------------------------------------


def _percent(part: int, whole: int) -> int:
    """``part`` of ``whole`` in whole percent, rounded half up (0 of nothing is 0)."""
    return (200 * part + whole) // (2 * whole) if whole else 0


def broadcast_stats(broadcast: Broadcast) -> dict[str, Any]:
    """What happened to a broadcast's recipients, in one GROUP BY.

    ``sent`` counts messages WhatsApp took (sent, delivered or read), ``delivered`` those delivered or read,
    ``read`` those read, ``replied`` recipients who wrote back after it. ``processed`` is every recipient no
    longer waiting. Percentages are whole numbers: ``processed``, ``sent``, ``failed`` and ``skipped`` of the
    total; ``delivered``, ``read`` and ``replied`` of those sent.
    """
    counts = dict.fromkeys(BroadcastRecipient.Status.values, 0)
    failed: dict[int | None, dict[str, Any]] = {}
    skipped: dict[str, int] = {}
    replied = 0
    rows = (
        BroadcastRecipient.objects.filter(broadcast=broadcast)
        .values_list("status", "skip_reason", "error_code", "error_title")
        .annotate(n=Count("id"), replied=Count("replied_at"))
        .order_by()
    )
    for status, reason, code, title, n, n_replied in rows:
        counts[status] = counts.get(status, 0) + n
        replied += n_replied
        if status == BroadcastRecipient.Status.FAILED:
            entry = failed.setdefault(code, {"code": code, "title": "", "count": 0})
            entry["count"] += n
            entry["title"] = entry["title"] or title
        elif status == BroadcastRecipient.Status.SKIPPED:
            skipped[reason] = skipped.get(reason, 0) + n
    total = sum(counts.values())
    sent = sum(counts[s] for s in REACHED)
    delivered = sum(counts[s] for s in DELIVERED)
    waiting = counts[BroadcastRecipient.Status.PENDING] + counts[BroadcastRecipient.Status.SENDING]
    reasons = dict(BroadcastRecipient.SkipReason.choices)
    stats: dict[str, Any] = {
        "total": total,
        "pending": counts[BroadcastRecipient.Status.PENDING],
        "sending": counts[BroadcastRecipient.Status.SENDING],
        "processed": total - waiting,
        "sent": sent,
        "delivered": delivered,
        "read": counts[BroadcastRecipient.Status.READ],
        "replied": replied,
        "failed": counts[BroadcastRecipient.Status.FAILED],
        "skipped": counts[BroadcastRecipient.Status.SKIPPED],
        "canceled": counts[BroadcastRecipient.Status.CANCELED],
        "failed_by_code": sorted(failed.values(), key=lambda e: (-e["count"], e["code"] is None, e["code"] or 0)),
        "skipped_by_reason": [
            {"reason": reason, "label": str(reasons.get(reason, reason)), "count": n}
            for reason, n in sorted(skipped.items(), key=lambda item: (-item[1], item[0]))
        ],
    }
    stats["percent"] = {
        "processed": _percent(stats["processed"], total),
        "sent": _percent(sent, total),
        "failed": _percent(stats["failed"], total),
        "skipped": _percent(stats["skipped"], total),
        "delivered": _percent(delivered, sent),
        "read": _percent(stats["read"], sent),
        "replied": _percent(replied, sent),
    }
    return stats


CSV_COLUMNS = ("phone", "name", "status", "skip_reason", "error_code", "error_title",
               "sent_at", "delivered_at", "read_at", "replied_at")  # fmt: skip
# A spreadsheet runs a cell that starts with one of these as a formula: such a cell is written after a quote.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text


class _Line:
    def write(self, value: str) -> str:
        return value


def broadcast_recipients_csv(broadcast: Broadcast, *, zone: Any = None) -> Iterator[str]:
    """The recipients and what happened to each, one CSV line at a time (streamed): times in ``zone``
    (ISO 8601 with the offset), every cell that a spreadsheet would run as a formula quoted."""
    writer = csv.writer(_Line())
    yield writer.writerow(CSV_COLUMNS)
    recipients = (
        BroadcastRecipient.objects.filter(broadcast=broadcast).select_related("contact", "message").order_by("id")
    )

    def moment(value: datetime | None) -> str:
        if value is None:
            return ""
        return (timezone.localtime(value, zone) if zone is not None else value).isoformat()

    for r in recipients.iterator(chunk_size=2000):
        message = r.message
        yield writer.writerow(
            [
                csv_cell(value)
                for value in (
                    r.phone,
                    r.contact.display_name if r.contact is not None else "",
                    r.status,
                    r.skip_reason,
                    r.error_code,
                    r.error_title,
                    moment(r.sent_at or (message.sent_at if message is not None else None)),
                    moment(message.delivered_at if message is not None else None),
                    moment(message.read_at if message is not None else None),
                    moment(r.replied_at),
                )
            ]
        )
