"""Campaigns → Broadcasts: the list, a draft's form (template, audience, values, consent, schedule, quiet hours,
with a preview and the cost before sending), the live page of a broadcast (progress, counters, cost, why it
waits, pause/resume/cancel) with its fragment polled while it runs, the recipients' CSV, and Settings →
Message prices. Guarded by "Manage broadcasts"; every change goes through the services."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from campaigns.broadcast_forms import BroadcastForm, PriceTable
from campaigns.broadcasts import (
    audience_count,
    broadcast_create,
    broadcast_delete,
    broadcast_get,
    broadcast_list,
    broadcast_preview,
    broadcast_recipients_csv,
    broadcast_stats,
    broadcast_update,
    template_find,
)
from campaigns.models import Broadcast, MessagePrice, Segment
from campaigns.prices import broadcast_cost_estimate, cost_display, message_prices_save, price_rows
from campaigns.sending import broadcast_cancel, broadcast_pause, broadcast_resume, broadcast_start
from conversations.channels import messaging_limit_of
from helpdesk.exceptions import ApplicationError
from tenants.access import require_perm
from tenants.models import Tenant
from tenants.permissions import Perm
from tenants.timezones import UTC, zone_or_none

# While a broadcast is in one of these, its live page asks for fresh counters every POLL_SECONDS.
LIVE = (
    Broadcast.Status.SCHEDULED,
    Broadcast.Status.PLANNING,
    Broadcast.Status.SENDING,
    Broadcast.Status.WAITING,
)
POLL_SECONDS = 2
EDITABLE = (Broadcast.Status.DRAFT,)
STARTABLE = (Broadcast.Status.DRAFT,)
PAUSABLE = (Broadcast.Status.SENDING, Broadcast.Status.WAITING)
RESUMABLE = (Broadcast.Status.PAUSED,)
CANCELABLE = (*LIVE, Broadcast.Status.PAUSED)


def _zone(tenant: Tenant) -> Any:
    return zone_or_none(tenant.timezone) or UTC


def _broadcast(request: HttpRequest, broadcast_id: int) -> Broadcast:
    broadcast = broadcast_get(tenant=request.tenant, broadcast_id=broadcast_id)  # type: ignore[attr-defined]
    if broadcast is None:
        raise Http404(_("No such broadcast."))
    return broadcast


def _moment(value: datetime, now: datetime | None = None) -> str:
    """A time in the member's zone: "14:05" today, with the date otherwise."""
    local = timezone.localtime(value)
    if local.date() == timezone.localtime(now or timezone.now()).date():
        return formats.time_format(local, "TIME_FORMAT")
    return formats.date_format(local, "SHORT_DATETIME_FORMAT")


def wait_text(broadcast: Broadcast, *, now: datetime | None = None) -> str:
    """Why a waiting broadcast waits, in words, and when it goes on (or why the sender paused it)."""
    if broadcast.status == Broadcast.Status.PAUSED and broadcast.wait_reason == "quality":
        return _("Paused: the number's quality rating is low. Resume it once the rating has recovered.")
    if broadcast.status != Broadcast.Status.WAITING:
        return ""
    until = _moment(broadcast.wait_until, now) if broadcast.wait_until is not None else ""
    if broadcast.wait_reason == "messaging_limit":
        limit = messaging_limit_of(broadcast.inbox)
        if limit and until:
            return _("Waiting: today's messaging limit of %(limit)s customers is used up; continues at %(time)s.") % {
                "limit": formats.number_format(limit, force_grouping=True),
                "time": until,
            }
        if until:
            return _("Waiting: today's messaging limit is used up; continues at %(time)s.") % {"time": until}
        return _("Waiting: today's messaging limit is used up.")
    if broadcast.wait_reason == "quiet_hours":
        if until:
            return _("Waiting: quiet hours; continues at %(time)s.") % {"time": until}
        return _("Waiting: quiet hours.")
    if broadcast.wait_reason == "quality":
        if until:
            return _("Waiting: the number's quality rating is low; tries again at %(time)s.") % {"time": until}
        return _("Waiting: the number's quality rating is low.")
    if until:
        return _("Waiting; continues at %(time)s.") % {"time": until}
    return _("Waiting.")


def _live_context(broadcast: Broadcast) -> dict[str, Any]:
    return {
        "broadcast": broadcast,
        "stats": broadcast_stats(broadcast),
        "cost": cost_display(broadcast_cost_estimate(broadcast)),
        "wait_text": wait_text(broadcast),
        "live": broadcast.status in LIVE,
        "poll_seconds": POLL_SECONDS,
        "can_edit": broadcast.status in EDITABLE,
        "can_start": broadcast.status in STARTABLE,
        "can_pause": broadcast.status in PAUSABLE,
        "can_resume": broadcast.status in RESUMABLE,
        "can_cancel": broadcast.status in CANCELABLE,
    }


# --- the list ---------------------------------------------------------------------------------------------------


@require_GET
@require_perm(Perm.MANAGE_BROADCASTS)
def broadcast_list_page(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    rows = []
    for broadcast in broadcast_list(tenant=request.tenant):  # type: ignore[attr-defined]
        total = broadcast.recipient_count  # type: ignore[attr-defined]
        done = broadcast.done  # type: ignore[attr-defined]
        rows.append(
            {
                "broadcast": broadcast,
                "total": total,
                "done": done,
                "percent": (200 * done + total) // (2 * total) if total else 0,
            }
        )
    return render(request, "campaigns/broadcast_list.html", {"rows": rows})


# --- a draft ----------------------------------------------------------------------------------------------------


def _draft_summary(form: BroadcastForm) -> dict[str, Any]:
    """What the form's current choices come to: the template's text, a preview, the audience and the cost."""
    template = form.chosen_template
    summary: dict[str, Any] = {"template": template}
    if template is None or form.chosen_inbox is None:
        return summary
    values = form.data if form.is_bound else form.initial
    probe = Broadcast(
        tenant=form.tenant,
        inbox=form.chosen_inbox,
        template_name=template["name"],
        template_language=template["language"],
        template_category=str(template.get("category") or "").upper(),
    )
    if form.broadcast is not None and values.get("audience") == "csv":
        probe.audience_file = form.broadcast.audience_file
    segment_id = values.get("segment")
    if values.get("audience", "segment") == "segment" and str(segment_id or "").isdigit():
        probe.segment = Segment.objects.filter(tenant=form.tenant, pk=int(str(segment_id))).first()
    if probe.segment is None and not probe.audience_file:
        return summary
    probe.variables = form.variables()
    summary["count"] = audience_count(probe)
    summary["preview"] = broadcast_preview(probe, template)
    summary["cost"] = cost_display(broadcast_cost_estimate(probe))
    return summary


def _form_page(request: HttpRequest, tenant_slug: str, broadcast: Broadcast | None) -> HttpResponse:
    tenant = request.tenant  # type: ignore[attr-defined]
    zone = _zone(tenant)
    status = 200
    if request.method == "POST":
        form = BroadcastForm(request.POST, request.FILES, tenant=tenant, zone=zone, broadcast=broadcast)
        if form.is_valid():
            try:
                spec, content, filename = form.spec()
                if broadcast is None:
                    broadcast = broadcast_create(
                        actor=request.membership,  # type: ignore[attr-defined]
                        tenant=tenant,
                        spec=spec,
                        audience_csv=content,
                        audience_filename=filename or "audience.csv",
                        request=request,
                    )
                    messages.success(request, _("Draft “%(name)s” saved.") % {"name": broadcast.name})
                else:
                    broadcast = broadcast_update(
                        actor=request.membership,  # type: ignore[attr-defined]
                        broadcast=broadcast,
                        spec=spec,
                        audience_csv=content,
                        audience_filename=filename or "audience.csv",
                        request=request,
                    )
                    messages.success(request, _("Draft “%(name)s” saved.") % {"name": broadcast.name})
            except ApplicationError as exc:
                form.add_service_error(exc)
            else:
                return redirect("broadcast_detail", tenant_slug=tenant_slug, broadcast_id=broadcast.pk)
        status = 400
    elif request.GET.get("refresh"):
        # The form redrawn for new choices (another inbox or template): what was typed stays.
        form = BroadcastForm(initial=request.GET.dict(), tenant=tenant, zone=zone, broadcast=broadcast)
    else:
        form = BroadcastForm(tenant=tenant, zone=zone, broadcast=broadcast)
    refresh = (
        reverse("broadcast_edit", kwargs={"tenant_slug": tenant_slug, "broadcast_id": broadcast.pk})
        if broadcast is not None
        else reverse("broadcast_create", kwargs={"tenant_slug": tenant_slug})
    )
    context = {
        "form": form,
        "broadcast": broadcast,
        "summary": _draft_summary(form),
        "refresh_url": refresh,
        "zone_name": tenant.timezone,
    }
    return render(request, "campaigns/broadcast_form.html", context, status=status)


@require_http_methods(["GET", "POST"])
@require_perm(Perm.MANAGE_BROADCASTS)
def broadcast_create_page(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    return _form_page(request, tenant_slug, None)


@require_http_methods(["GET", "POST"])
@require_perm(Perm.MANAGE_BROADCASTS)
def broadcast_edit_page(request: HttpRequest, tenant_slug: str, broadcast_id: int) -> HttpResponse:
    broadcast = _broadcast(request, broadcast_id)
    if broadcast.status not in EDITABLE:
        messages.error(request, _("Only a draft can be changed."))
        return redirect("broadcast_detail", tenant_slug=tenant_slug, broadcast_id=broadcast.pk)
    return _form_page(request, tenant_slug, broadcast)


@require_POST
@require_perm(Perm.MANAGE_BROADCASTS)
def broadcast_delete_page(request: HttpRequest, tenant_slug: str, broadcast_id: int) -> HttpResponse:
    broadcast = _broadcast(request, broadcast_id)
    try:
        broadcast_delete(actor=request.membership, broadcast=broadcast, request=request)  # type: ignore[attr-defined]
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("broadcast_detail", tenant_slug=tenant_slug, broadcast_id=broadcast.pk)
    messages.success(request, _("Draft “%(name)s” deleted.") % {"name": broadcast.name})
    return redirect("broadcast_list", tenant_slug=tenant_slug)


# --- the live page ----------------------------------------------------------------------------------------------


def _detail(request: HttpRequest, broadcast: Broadcast) -> HttpResponse:
    template = template_find(broadcast.inbox, broadcast.template_name, broadcast.template_language)
    context = {
        **_live_context(broadcast),
        "template": template,
        "preview": broadcast_preview(broadcast, template) if template is not None else None,
        "audience_count": audience_count(broadcast) if broadcast.status == Broadcast.Status.DRAFT else None,
    }
    return render(request, "campaigns/broadcast_detail.html", context)


@require_GET
@require_perm(Perm.MANAGE_BROADCASTS)
def broadcast_detail_page(request: HttpRequest, tenant_slug: str, broadcast_id: int) -> HttpResponse:
    return _detail(request, _broadcast(request, broadcast_id))


@require_GET
@require_perm(Perm.MANAGE_BROADCASTS)
def broadcast_live_fragment(request: HttpRequest, tenant_slug: str, broadcast_id: int) -> HttpResponse:
    """The live part of the page (status, progress, counters, cost, buttons), polled while it runs; the whole
    page when a browser opens the address itself."""
    broadcast = _broadcast(request, broadcast_id)
    if not request.htmx:  # type: ignore[attr-defined]
        return _detail(request, broadcast)
    response = render(request, "campaigns/broadcast_live.html", _live_context(broadcast))
    response["Cache-Control"] = "no-store"
    return response


def _act(
    request: HttpRequest, tenant_slug: str, broadcast_id: int, operation: Callable[..., Broadcast], done: str
) -> HttpResponse:
    broadcast = _broadcast(request, broadcast_id)
    try:
        operation(actor=request.membership, broadcast=broadcast, request=request)  # type: ignore[attr-defined]
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, done % {"name": broadcast.name})
    return redirect("broadcast_detail", tenant_slug=tenant_slug, broadcast_id=broadcast.pk)


@require_POST
@require_perm(Perm.MANAGE_BROADCASTS)
def broadcast_start_page(request: HttpRequest, tenant_slug: str, broadcast_id: int) -> HttpResponse:
    return _act(request, tenant_slug, broadcast_id, broadcast_start, _("Broadcast “%(name)s” started."))


@require_POST
@require_perm(Perm.MANAGE_BROADCASTS)
def broadcast_pause_page(request: HttpRequest, tenant_slug: str, broadcast_id: int) -> HttpResponse:
    return _act(request, tenant_slug, broadcast_id, broadcast_pause, _("Broadcast “%(name)s” paused."))


@require_POST
@require_perm(Perm.MANAGE_BROADCASTS)
def broadcast_resume_page(request: HttpRequest, tenant_slug: str, broadcast_id: int) -> HttpResponse:
    return _act(request, tenant_slug, broadcast_id, broadcast_resume, _("Broadcast “%(name)s” resumed."))


@require_POST
@require_perm(Perm.MANAGE_BROADCASTS)
def broadcast_cancel_page(request: HttpRequest, tenant_slug: str, broadcast_id: int) -> HttpResponse:
    return _act(request, tenant_slug, broadcast_id, broadcast_cancel, _("Broadcast “%(name)s” canceled."))


@require_GET
@require_perm(Perm.MANAGE_BROADCASTS)
def broadcast_recipients_csv_page(request: HttpRequest, tenant_slug: str, broadcast_id: int) -> HttpResponse:
    broadcast = _broadcast(request, broadcast_id)
    lines = broadcast_recipients_csv(broadcast, zone=_zone(broadcast.tenant))
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="broadcast-{broadcast.pk}-recipients.csv"'
    response["Cache-Control"] = "no-store"
    return response  # type: ignore[return-value]  # streamed


# --- message prices ---------------------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@require_perm(Perm.MANAGE_BROADCASTS)
def message_prices_page(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    tenant = request.tenant  # type: ignore[attr-defined]
    status = 200
    if request.method == "POST":
        table = PriceTable(request.POST, rows=[])
        rows = table.rows()
        if rows is not None:
            try:
                message_prices_save(actor=request.membership, tenant=tenant, rows=rows, request=request)  # type: ignore[attr-defined]
            except ApplicationError as exc:
                table.error = exc.message
            else:
                messages.success(request, _("Message prices saved."))
                return redirect("message_prices", tenant_slug=tenant_slug)
        status = 400
    else:
        table = PriceTable(rows=price_rows(tenant))
    stored = MessagePrice.objects.filter(tenant=tenant).exists()
    return render(request, "campaigns/broadcast_prices.html", {"table": table, "stored": stored}, status=status)
