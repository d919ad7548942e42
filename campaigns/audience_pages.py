"""Campaigns → contacts and segments: importing a CSV or XLSX file of contacts (the upload, the choice of what each
column holds, the progress live and the report of the rows refused) and segments (the list with their counts, the
filter builder with a count that follows the filters as they change, deleting). Guarded by "Manage broadcasts";
every change goes through ``campaigns.imports`` and ``campaigns.segments``."""

from __future__ import annotations

import zoneinfo
from datetime import datetime, time
from typing import Any

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.utils.dateparse import parse_date
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from campaigns import imports
from campaigns.consent import consent_purpose_list, purpose_label
from campaigns.models import MARKETING, ConsentPurpose, ContactImport, ContactImportError, Segment
from campaigns.segments import (
    segment_contacts,
    segment_create,
    segment_delete,
    segment_filters_clean,
    segment_get,
    segment_list,
    segment_preview,
    segment_update,
)
from conversations.models import Inbox, Label
from helpdesk.exceptions import ApplicationError, NotFound
from tenants.access import require_perm
from tenants.models import Tenant
from tenants.permissions import Perm

ERRORS_SHOWN = 100
ATTRIBUTE_ROWS_MIN = 3
ATTRIBUTE_ROWS_MAX = 20


def _tenant(request: HttpRequest) -> Tenant:
    return request.tenant  # type: ignore[attr-defined,no-any-return]


# --- imports ----------------------------------------------------------------------------------------------------


class UploadForm(forms.Form):
    file = forms.FileField(
        label=gettext_lazy("File"),
        help_text=gettext_lazy(
            "CSV (separated by commas or semicolons) or XLSX, with the names of the columns on the first row. "
            "At most 100,000 rows and 20 MB."
        ),
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,.txt,.xlsx"}),
    )


@require_http_methods(["GET", "POST"])
@require_perm(Perm.MANAGE_BROADCASTS)
def contact_import_page(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    form = UploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            # The size is checked before the file is read into memory.
            imports._size_check(upload.size or 0)
            job = imports.contact_import_upload(
                actor=request.membership,  # type: ignore[attr-defined]
                tenant=_tenant(request),
                filename=upload.name or "",
                data=upload.read(),
                request=request,
            )
        except ApplicationError as exc:
            form.add_error("file", exc.message)
        else:
            return redirect("contact_import_detail", tenant_slug=tenant_slug, contact_import_id=job.pk)
    recent = ContactImport.objects.filter(tenant=_tenant(request)).select_related("created_by").order_by("-id")[:10]
    status = 400 if request.method == "POST" else 200
    return render(request, "campaigns/contact_import.html", {"form": form, "recent": recent}, status=status)


def _import(request: HttpRequest, contact_import_id: int) -> ContactImport:
    try:
        return imports.contact_import_get(tenant=_tenant(request), import_id=contact_import_id)
    except NotFound:
        raise Http404(_("No such import.")) from None


def _targets() -> list[tuple[str, str]]:
    """What a column can fill: the fixed uses, then an attribute of the column's own name."""
    return [
        ("", _("Ignore")),
        (imports.PHONE, _("Phone number")),
        (imports.NAME, _("Name")),
        (imports.LABEL, _("Labels (names separated by commas)")),
        (imports.CONSENT, _("Consent (yes or no)")),
    ]


def _mapping_context(request: HttpRequest, job: ContactImport, post: QueryDict | None = None) -> dict[str, Any]:
    tenant = _tenant(request)
    labels = list(Label.objects.filter(tenant=tenant).order_by("name"))
    # Marketing is always offered (made the first time it is needed), named in the reader's language.
    purposes = [(purpose.pk, purpose_label(purpose)) for purpose in consent_purpose_list(tenant_id=tenant.pk)]
    rows = []
    for index, column in enumerate(job.columns):
        chosen = post.get(f"use_{index}", "") if post is not None else job.mapping.get(column, "")
        key = post.get(f"key_{index}", "") if post is not None else ""
        if chosen.startswith(imports.ATTRIBUTE):
            chosen, key = "attribute", chosen[len(imports.ATTRIBUTE) :]
        rows.append(
            {
                "index": index,
                "column": column,
                "chosen": chosen,
                "key": key or column[: imports.ATTRIBUTE_KEY_MAX],
                "samples": [row[index] if index < len(row) else "" for row in job.sample],
            }
        )
    chosen_labels = [int(pk) for pk in post.getlist("labels") if pk.isdigit()] if post is not None else []
    return {
        "job": job,
        "rows": rows,
        "targets": _targets(),
        "labels": labels,
        "chosen_labels": chosen_labels,
        "purposes": purposes,
        "chosen_purpose": post.get("consent_purpose", "") if post is not None else "",
        "proof": post.get("consent_proof", "") if post is not None else "",
    }


def _mapping_of(job: ContactImport, post: QueryDict) -> dict[str, str]:
    mapping = {}
    for index, column in enumerate(job.columns):
        use = post.get(f"use_{index}", "")
        if use == "attribute":
            use = f"{imports.ATTRIBUTE}{post.get(f'key_{index}', '').strip()}"
        mapping[column] = use
    return mapping


@require_http_methods(["GET", "POST"])
@require_perm(Perm.MANAGE_BROADCASTS)
def contact_import_detail_page(request: HttpRequest, tenant_slug: str, contact_import_id: int) -> HttpResponse:
    job = _import(request, contact_import_id)
    if job.status != ContactImport.Status.MAPPING:
        if request.method == "POST":
            return redirect("contact_import_detail", tenant_slug=tenant_slug, contact_import_id=job.pk)
        return render(request, "campaigns/contact_import_progress.html", _progress_context(job))
    error = ""
    if request.method == "POST":
        purpose = request.POST.get("consent_purpose", "")
        try:
            imports.contact_import_start(
                actor=request.membership,  # type: ignore[attr-defined]
                contact_import=job,
                mapping=_mapping_of(job, request.POST),
                label_ids=[int(pk) for pk in request.POST.getlist("labels") if pk.isdigit()],
                consent_purpose_id=int(purpose) if purpose.isdigit() else None,
                consent_proof=request.POST.get("consent_proof", ""),
                request=request,
            )
        except ApplicationError as exc:
            error = exc.message
        else:
            messages.success(request, _("The import has started: it goes on if you leave this page."))
            return redirect("contact_import_detail", tenant_slug=tenant_slug, contact_import_id=job.pk)
    context = _mapping_context(request, job, request.POST if request.method == "POST" else None)
    context["error"] = error
    return render(request, "campaigns/contact_import_mapping.html", context, status=400 if error else 200)


def _progress_context(job: ContactImport) -> dict[str, Any]:
    finished = job.status in (ContactImport.Status.DONE, ContactImport.Status.FAILED)
    errors = [
        {"row": error.row, "column": error.column, "message": imports.import_error_message(error)}
        for error in ContactImportError.objects.filter(contact_import=job).order_by("row", "id")[:ERRORS_SHOWN]
    ]
    percent = int(job.processed_rows * 100 / job.total_rows) if job.total_rows else 0
    return {
        "job": job,
        "finished": finished,
        "percent": percent,
        "errors": errors if finished else [],
        "more_errors": max(job.error_count - ERRORS_SHOWN, 0),
    }


@require_GET
@require_perm(Perm.MANAGE_BROADCASTS)
def contact_import_progress_page(request: HttpRequest, tenant_slug: str, contact_import_id: int) -> HttpResponse:
    """The progress card alone: the page's htmx asks for it every second until the import is finished."""
    job = _import(request, contact_import_id)
    context = _progress_context(job)
    if not request.headers.get("HX-Request"):
        # Opened as a page (without htmx): the whole page.
        return render(request, "campaigns/contact_import_progress.html", context)
    response = render(request, "campaigns/_contact_import_progress.html", context)
    if context["finished"]:
        # The whole page once more, with the report of the rows refused.
        response["HX-Refresh"] = "true"
    return response


@require_GET
@require_perm(Perm.MANAGE_BROADCASTS)
def contact_import_errors_page(request: HttpRequest, tenant_slug: str, contact_import_id: int) -> HttpResponse:
    job = _import(request, contact_import_id)
    response = HttpResponse(imports.import_errors_csv(job), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="contact-import-{job.pk}-errors.csv"'
    return response


# --- segments ---------------------------------------------------------------------------------------------------


@require_GET
@require_perm(Perm.MANAGE_BROADCASTS)
def segment_list_page(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    tenant = _tenant(request)
    rows = [
        {"segment": segment, "count": segment_contacts(tenant=tenant, filters=segment.filters).count()}
        for segment in segment_list(tenant=tenant)
    ]
    return render(request, "campaigns/segment_list.html", {"rows": rows})


def _day_start(text: str, tenant: Tenant) -> str:
    """The start of a day (YYYY-MM-DD, what a date field sends) in the workspace's time zone, as ISO; "" if none."""
    try:
        day = parse_date(text.strip())
    except ValueError:
        day = None
    if day is None:
        return text.strip()  # what cannot be read is refused by the filters' check, with its message
    try:
        zone = zoneinfo.ZoneInfo(tenant.timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        zone = zoneinfo.ZoneInfo("UTC")
    return datetime.combine(day, time.min, tzinfo=zone).isoformat()


def filters_from_form(data: QueryDict, tenant: Tenant) -> dict[str, Any]:
    """The filter builder's fields as segment filters (checked afterwards by ``segment_filters_clean``)."""
    filters: dict[str, Any] = {}
    for name in ("labels_any", "labels_all", "labels_none"):
        ids = [value for value in data.getlist(name) if value]
        if ids:
            filters[name] = ids
    attributes = []
    raw_rows = str(data.get("attribute_rows", ""))
    for index in range(min(int(raw_rows), ATTRIBUTE_ROWS_MAX) if raw_rows.isdigit() else ATTRIBUTE_ROWS_MIN):
        key = data.get(f"attr_key_{index}", "").strip()
        if key:
            attributes.append(
                {"key": key, "op": data.get(f"attr_op_{index}", "eq"), "value": data.get(f"attr_value_{index}", "")}
            )
    if attributes:
        filters["attributes"] = attributes
    if data.get("consent_state"):
        filters["consent"] = {"purpose": data.get("consent_purpose") or MARKETING, "state": data["consent_state"]}
    if data.get("inbox"):
        filters["inbox"] = str(data.get("inbox"))
    for name in ("last_inbound_after", "last_inbound_before"):
        value = str(data.get(name, "")).strip()
        if value:
            filters[name] = _day_start(value, tenant)
    open_conversation = data.get("has_open_conversation", "")
    if open_conversation in ("yes", "no"):
        filters["has_open_conversation"] = open_conversation == "yes"
    return filters


def _builder_context(request: HttpRequest, segment: Segment | None, filters: dict[str, Any]) -> dict[str, Any]:
    tenant = _tenant(request)
    attributes = list(filters.get("attributes", []))
    rows = max(ATTRIBUTE_ROWS_MIN, len(attributes) + 1)
    attributes += [{"key": "", "op": "eq", "value": ""}] * (rows - len(attributes))
    consent = filters.get("consent") or {}

    def day(name: str) -> str:
        value = str(filters.get(name, ""))
        return value[:10]

    open_conversation = filters.get("has_open_conversation")
    return {
        "segment": segment,
        "labels": list(Label.objects.filter(tenant=tenant).order_by("name")),
        "inboxes": list(Inbox.objects.filter(tenant=tenant).order_by("name")),
        "purposes": list(ConsentPurpose.objects.filter(tenant=tenant).exclude(key=MARKETING).order_by("name")),
        "ops": [
            ("eq", _("is")),
            ("neq", _("is not")),
            ("contains", _("contains")),
            ("set", _("is set")),
            ("unset", _("is not set")),
        ],
        "attributes": [{"index": i, **condition} for i, condition in enumerate(attributes)],
        "attribute_rows": rows,
        "f": {
            "labels_any": [str(pk) for pk in filters.get("labels_any", [])],
            "labels_all": [str(pk) for pk in filters.get("labels_all", [])],
            "labels_none": [str(pk) for pk in filters.get("labels_none", [])],
            "consent_purpose": consent.get("purpose", MARKETING),
            "consent_state": consent.get("state", ""),
            "inbox": str(filters.get("inbox", "")),
            "last_inbound_after": day("last_inbound_after"),
            "last_inbound_before": day("last_inbound_before"),
            "has_open_conversation": "" if open_conversation is None else ("yes" if open_conversation else "no"),
        },
    }


def _segment_form_page(request: HttpRequest, tenant_slug: str, segment: Segment | None) -> HttpResponse:
    tenant = _tenant(request)
    error = ""
    name = segment.name if segment else ""
    description = segment.description if segment else ""
    filters = dict(segment.filters) if segment else {}
    if request.method == "POST":
        name = request.POST.get("name", "")
        description = request.POST.get("description", "")
        filters = filters_from_form(request.POST, tenant)
        try:
            if segment is None:
                segment = segment_create(
                    actor=request.membership,  # type: ignore[attr-defined]
                    tenant=tenant,
                    name=name,
                    description=description,
                    filters=filters,
                    request=request,
                )
                messages.success(request, _("Segment “%(name)s” saved.") % {"name": segment.name})
            else:
                segment_update(
                    actor=request.membership,  # type: ignore[attr-defined]
                    segment=segment,
                    name=name,
                    description=description,
                    filters=filters,
                    request=request,
                )
                messages.success(request, _("Segment “%(name)s” saved.") % {"name": segment.name})
        except ApplicationError as exc:
            error = exc.message
        else:
            return redirect("segment_list", tenant_slug=tenant_slug)
    context = _builder_context(request, segment, filters)
    context.update({"name": name, "description": description, "error": error})
    if not error:
        context.update(_count_context(tenant, filters))
    return render(request, "campaigns/segment_form.html", context, status=400 if error else 200)


@require_http_methods(["GET", "POST"])
@require_perm(Perm.MANAGE_BROADCASTS)
def segment_create_page(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    return _segment_form_page(request, tenant_slug, None)


def _segment(request: HttpRequest, segment_id: int) -> Segment:
    try:
        return segment_get(tenant=_tenant(request), segment_id=segment_id)
    except NotFound:
        raise Http404(_("No such segment.")) from None


@require_http_methods(["GET", "POST"])
@require_perm(Perm.MANAGE_BROADCASTS)
def segment_edit_page(request: HttpRequest, tenant_slug: str, segment_id: int) -> HttpResponse:
    return _segment_form_page(request, tenant_slug, _segment(request, segment_id))


@require_POST
@require_perm(Perm.MANAGE_BROADCASTS)
def segment_delete_page(request: HttpRequest, tenant_slug: str, segment_id: int) -> HttpResponse:
    segment = _segment(request, segment_id)
    segment_delete(actor=request.membership, segment=segment, request=request)  # type: ignore[attr-defined]
    messages.success(request, _("Segment “%(name)s” deleted.") % {"name": segment.name})
    return redirect("segment_list", tenant_slug=tenant_slug)


def _count_context(tenant: Tenant, filters: dict[str, Any]) -> dict[str, Any]:
    try:
        clean = segment_filters_clean(filters, tenant=tenant)
    except ApplicationError as exc:
        return {"count": None, "count_error": exc.message, "preview": []}
    return {
        "count": segment_contacts(tenant=tenant, filters=clean).count(),
        "count_error": "",
        "preview": segment_preview(tenant=tenant, filters=clean, limit=10),
    }


@require_GET
@require_perm(Perm.MANAGE_BROADCASTS)
def segment_count_page(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    """How many contacts the builder's filters select (htmx, as the filters change): nothing is saved."""
    tenant = _tenant(request)
    context = _count_context(tenant, filters_from_form(request.GET, tenant))
    if not request.headers.get("HX-Request"):
        # Opened as a page (without htmx): the count under the page's frame.
        return render(request, "campaigns/segment_count.html", context)
    return render(request, "campaigns/_segment_count.html", context)
