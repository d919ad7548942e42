"""Settings pages of business hours: the calendars, one calendar's hours, holidays and dates, and
whether it is open now. Guarded by "Manage automations"."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from automations import selectors, services
from automations.display import status_now, upcoming_holidays
from automations.forms import CalendarForm
from automations.models import BusinessCalendar
from helpdesk.exceptions import ApplicationError
from tenants.access import require_perm
from tenants.permissions import Perm


@require_GET
@require_perm(Perm.MANAGE_AUTOMATIONS)
def business_hours_list(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    now = timezone.now()
    rows = [
        {
            "calendar": calendar,
            "status": status_now(selectors.calendar_load(calendar), now),
            "inboxes": selectors.calendar_inboxes(calendar),
        }
        for calendar in selectors.calendar_list(tenant=request.tenant)  # type: ignore[attr-defined]
    ]
    return render(request, "automations/business_hours.html", {"rows": rows})


def _save(request: HttpRequest, form: CalendarForm, calendar: BusinessCalendar | None) -> BusinessCalendar | None:
    """The calendar created or saved from the form, or None (the refusal is on the form)."""
    actor = request.membership  # type: ignore[attr-defined]
    try:
        if calendar is None:
            return services.calendar_create(actor=actor, spec=form.spec(), request=request)
        return services.calendar_update(actor=actor, calendar=calendar, spec=form.spec(), request=request)
    except ApplicationError as exc:
        form.add_service_error(exc.details.get("field"), exc.message)
        return None


@require_http_methods(["GET", "POST"])
@require_perm(Perm.MANAGE_AUTOMATIONS)
def business_hours_create(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    tenant = request.tenant  # type: ignore[attr-defined]
    spec = services.calendar_defaults(tenant=tenant)
    form = CalendarForm(request.POST or None, tenant_id=tenant.pk, spec=spec)
    if request.method == "POST" and form.is_valid():
        calendar = _save(request, form, None)
        if calendar is not None:
            messages.success(request, _("Business hours %(name)s created.") % {"name": form.spec().name.strip()})
            return redirect("business_hours_edit", tenant_slug=tenant_slug, calendar_id=calendar.pk)
    status = 400 if request.method == "POST" else 200
    return render(request, "automations/business_hours_form.html", {"form": form, "calendar": None}, status=status)


@require_http_methods(["GET", "POST"])
@require_perm(Perm.MANAGE_AUTOMATIONS)
def business_hours_edit(request: HttpRequest, tenant_slug: str, calendar_id: int) -> HttpResponse:
    tenant = request.tenant  # type: ignore[attr-defined]
    calendar = selectors.calendar_get(tenant=tenant, calendar_id=calendar_id)
    form = CalendarForm(request.POST or None, tenant_id=tenant.pk, spec=services.calendar_spec(calendar))
    if request.method == "POST" and form.is_valid() and _save(request, form, calendar) is not None:
        messages.success(request, _("Business hours %(name)s saved.") % {"name": calendar.name})
        return redirect("business_hours_edit", tenant_slug=tenant_slug, calendar_id=calendar.pk)
    loaded = selectors.calendar_load(calendar)
    now = timezone.now()
    context = {
        "form": form,
        "calendar": calendar,
        "status": status_now(loaded, now),
        "holidays": upcoming_holidays(calendar, loaded, now.astimezone(loaded.zone).date()),
    }
    status = 400 if request.method == "POST" else 200
    return render(request, "automations/business_hours_form.html", context, status=status)


@require_POST
@require_perm(Perm.MANAGE_AUTOMATIONS)
def business_hours_delete(request: HttpRequest, tenant_slug: str, calendar_id: int) -> HttpResponse:
    calendar = selectors.calendar_get(tenant=request.tenant, calendar_id=calendar_id)  # type: ignore[attr-defined]
    name = calendar.name
    try:
        services.calendar_delete(actor=request.membership, calendar=calendar, request=request)  # type: ignore[attr-defined]
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Business hours %(name)s deleted.") % {"name": name})
    return redirect("business_hours_list", tenant_slug=tenant_slug)
