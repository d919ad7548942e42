"""Settings pages of greeting and away messages: the inboxes and whether each greets and answers out of
hours, and one inbox's settings and wording with a preview in each language. Guarded by "Manage
automations"."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from automations import business_hours, selectors
from automations.greeting_forms import GreetingForm
from automations.greeting_media import greeting_media_set, media_describe
from automations.greeting_services import GreetingSpec, greeting_settings_update, greeting_spec
from automations.greeting_texts import SAMPLE_CONTACT, body_render, next_open_phrase, sample_values
from automations.models import AutomatedMessage, BusinessCalendar, GreetingSettings
from conversations.models import Inbox
from helpdesk.exceptions import ApplicationError
from tenants.access import require_perm
from tenants.permissions import Perm

Kind = AutomatedMessage.Kind


@require_GET
@require_perm(Perm.MANAGE_AUTOMATIONS)
def greeting_list(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    tenant = request.tenant  # type: ignore[attr-defined]
    by_inbox = selectors.greeting_settings_by_inbox(tenant=tenant)
    calendars = selectors.inbox_calendar_names(tenant=tenant)
    rows = [
        {"inbox": inbox, "settings": by_inbox.get(inbox.pk), "calendar": calendars.get(inbox.pk)}
        for inbox in selectors.inbox_list(tenant=tenant)
    ]
    return render(request, "automations/greeting_list.html", {"rows": rows})


@dataclass(frozen=True)
class PreviewRow:
    kind: str
    language: str
    language_name: str
    text: str


def _preview_opening(calendar: BusinessCalendar | None, now: datetime) -> datetime | None:
    """The opening an away message would name: the next one now, or after the next closing if open now."""
    if calendar is None:
        return None
    loaded = selectors.calendar_load(calendar)
    moment = now if not business_hours.is_open(loaded, now) else business_hours.next_close(loaded, now)
    return None if moment is None else business_hours.next_open(loaded, moment)


def _preview(inbox: Inbox, spec: GreetingSpec, calendar: BusinessCalendar | None) -> list[PreviewRow]:
    now = timezone.now()
    opens = _preview_opening(calendar, now)
    zone = selectors.calendar_load(calendar).zone if calendar is not None else None
    rows = []
    names = dict(settings.LANGUAGES)
    for kind, texts in ((Kind.GREETING, spec.greeting_texts), (Kind.AWAY, spec.away_texts)):
        for language, body in texts.items():
            if not body.strip():
                continue
            phrase = next_open_phrase(opens, now=now, zone=zone, language=language) if zone is not None else ""
            text = body_render(body, sample_values(inbox_name=inbox.name, next_open=phrase))
            rows.append(PreviewRow(kind, language, str(names.get(language, language)), text))
    return rows


@transaction.atomic
def _save(request: HttpRequest, inbox: Inbox, spec: GreetingSpec, files: dict[str, Any]) -> None:
    """The settings and the files, all or nothing: a file taken away first (its wording may then grow
    longer than a caption), one added last (checked against the wording just saved)."""
    actor = request.membership  # type: ignore[attr-defined]
    for kind, upload in files.items():
        if upload is None:
            greeting_media_set(actor=actor, inbox=inbox, kind=kind, upload=None, request=request)
    greeting_settings_update(actor=actor, inbox=inbox, spec=spec, request=request)
    for kind, upload in files.items():
        if upload is not None:
            greeting_media_set(actor=actor, inbox=inbox, kind=kind, upload=upload, request=request)


@require_http_methods(["GET", "POST"])
@require_perm(Perm.MANAGE_AUTOMATIONS)
def greeting_edit(request: HttpRequest, tenant_slug: str, inbox_id: int) -> HttpResponse:
    tenant = request.tenant  # type: ignore[attr-defined]
    inbox = selectors.inbox_get(tenant=tenant, inbox_id=inbox_id)
    spec = greeting_spec(inbox=inbox)
    form = GreetingForm(request.POST or None, request.FILES or None, spec=spec)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            spec = form.spec()
            if "preview" in request.POST:
                status = 200
            else:
                try:
                    _save(request, inbox, spec, form.media_changes())
                except ApplicationError as exc:
                    form.add_service_error(exc.details.get("field"), exc.details.get("language"), exc.message)
                else:
                    saved = _("Greeting and away messages of %(inbox)s saved.") % {"inbox": inbox.name}
                    messages.success(request, saved)
                    return redirect("greeting_edit", tenant_slug=tenant_slug, inbox_id=inbox.pk)
    calendar = selectors.inbox_calendar(inbox=inbox)
    context = {
        "form": form,
        "inbox": inbox,
        "calendar": calendar,
        "preview": _preview(inbox, spec, calendar),
        "sample_contact": SAMPLE_CONTACT,
        "files": _files(inbox),
    }
    return render(request, "automations/greeting_form.html", context, status=status)


def _files(inbox: Inbox) -> dict[str, dict[str, Any] | None]:
    """What each message's file is now (name, kind, size), or None."""
    row = GreetingSettings.objects.filter(tenant_id=inbox.tenant_id, inbox=inbox).first()
    return {kind: media_describe(row, kind) for kind in (Kind.GREETING, Kind.AWAY)}
