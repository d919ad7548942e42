"""The pages of wa.me links (Settings → wa.me links: the list, a form to create or change one, its QR code as
PNG or SVG, archive and restore; guarded by "Manage automations") and the Sources page (conversations, flows
completed and revenue of each link and ad over a range of days; guarded by "View reports")."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from conversations.selectors import inbox_list
from flows.links import (
    NAME_MAX,
    QR_FORMATS,
    REF_MAX,
    TEXT_MAX,
    SourceRow,
    entry_link_archive,
    entry_link_create,
    entry_link_get,
    entry_link_list,
    entry_link_update,
    flow_choices,
    link_qr,
    link_text,
    sources_report,
    wa_me_urls,
)
from flows.models import EntryLink
from helpdesk.exceptions import ApplicationError
from payments.money import amount_format
from payments.selectors import workspace_zone
from tenants.access import require_perm
from tenants.models import Tenant
from tenants.permissions import Perm

PAGE_SIZE = 50
# The Sources page shows the last 30 days unless asked for others.
DEFAULT_DAYS = 30


class EntryLinkForm(forms.Form):
    name = forms.CharField(
        label=gettext_lazy("Name"),
        max_length=NAME_MAX,
        help_text=gettext_lazy('For you: the Sources page lists the link by it ("Shop window, Rua Augusta").'),
    )
    kind = forms.ChoiceField(label=gettext_lazy("Kind of source"), choices=EntryLink.Kind.choices)
    inbox = forms.ModelChoiceField(
        label=gettext_lazy("Inbox"),
        queryset=EntryLink.objects.none(),
        help_text=gettext_lazy("The link opens a chat with this inbox's number. It cannot be changed later."),
    )
    text = forms.CharField(
        label=gettext_lazy("Prefilled text"),
        max_length=TEXT_MAX,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=gettext_lazy(
            "What the customer's message says when the chat opens; the link's reference is added at its end."
        ),
    )
    flow = forms.ModelChoiceField(
        label=gettext_lazy("Bot flow to start"),
        queryset=EntryLink.objects.none(),
        required=False,
        empty_label=pgettext_lazy("bot flow", "None"),
        help_text=gettext_lazy("Started when a customer's first message comes through this link."),
    )
    ref = forms.CharField(
        label=gettext_lazy("Reference"),
        max_length=REF_MAX,
        required=False,
        help_text=gettext_lazy(
            "6 to 32 lowercase letters or digits, unique in the workspace; leave it empty for a new one. "
            "It cannot be changed later."
        ),
    )

    def __init__(self, *args: Any, tenant: Tenant, link: EntryLink | None = None, **kwargs: Any) -> None:
        if link is not None:
            kwargs["initial"] = {"name": link.name, "kind": link.kind, "text": link.text, "flow": link.flow_id}
        else:
            kwargs["initial"] = {"kind": EntryLink.Kind.SHOP_WINDOW}
        super().__init__(*args, **kwargs)
        self.fields["flow"].queryset = flow_choices(tenant=tenant)  # type: ignore[attr-defined]
        if link is None:
            self.fields["inbox"].queryset = inbox_list(tenant=tenant).order_by("name", "id")  # type: ignore[attr-defined]
        else:
            del self.fields["inbox"]
            del self.fields["ref"]

    def add_service_error(self, exc: ApplicationError) -> None:
        field = exc.details.get("field")
        self.add_error(field if field in self.fields else None, exc.message)


@require_GET
@require_perm(Perm.MANAGE_AUTOMATIONS)
def entry_link_list_page(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    tenant = request.tenant  # type: ignore[attr-defined]
    archived = request.GET.get("archived") == "1"
    page = Paginator(entry_link_list(tenant=tenant, archived=archived), PAGE_SIZE).get_page(request.GET.get("page"))
    urls = wa_me_urls(page.object_list)
    rows = [{"link": link, "url": urls[link.pk]} for link in page.object_list]
    context = {"page": page, "rows": rows, "archived": archived, "query": "archived=1" if archived else ""}
    return render(request, "flows/links.html", context)


def _form_page(request: HttpRequest, form: EntryLinkForm, link: EntryLink | None) -> HttpResponse:
    context: dict[str, Any] = {"form": form, "link": link}
    if link is not None:
        context["url"] = wa_me_urls([link])[link.pk]
        context["text"] = link_text(link)
    status = 400 if request.method == "POST" else 200
    return render(request, "flows/links_form.html", context, status=status)


@require_http_methods(["GET", "POST"])
@require_perm(Perm.MANAGE_AUTOMATIONS)
def entry_link_create_page(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    tenant = request.tenant  # type: ignore[attr-defined]
    form = EntryLinkForm(request.POST or None, tenant=tenant)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            link = entry_link_create(
                actor=request.membership,  # type: ignore[attr-defined]
                inbox=data["inbox"],
                name=data["name"],
                kind=data["kind"],
                text=data["text"],
                flow=data["flow"],
                ref=data["ref"] or None,
                request=request,
            )
        except ApplicationError as exc:
            form.add_service_error(exc)
        else:
            messages.success(request, _("Link %(name)s created.") % {"name": link.name})
            return redirect("entry_link_edit", tenant_slug=tenant_slug, link_id=link.pk)
    return _form_page(request, form, None)


@require_http_methods(["GET", "POST"])
@require_perm(Perm.MANAGE_AUTOMATIONS)
def entry_link_edit_page(request: HttpRequest, tenant_slug: str, link_id: int) -> HttpResponse:
    tenant = request.tenant  # type: ignore[attr-defined]
    link = entry_link_get(tenant=tenant, link_id=link_id)
    form = EntryLinkForm(request.POST or None, tenant=tenant, link=link)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            link = entry_link_update(
                actor=request.membership,  # type: ignore[attr-defined]
                link=link,
                name=data["name"],
                kind=data["kind"],
                text=data["text"],
                flow=data["flow"],
                request=request,
            )
        except ApplicationError as exc:
            form.add_service_error(exc)
        else:
            messages.success(request, _("Link %(name)s saved.") % {"name": link.name})
            return redirect("entry_link_edit", tenant_slug=tenant_slug, link_id=link.pk)
    return _form_page(request, form, link)


@require_POST
@require_perm(Perm.MANAGE_AUTOMATIONS)
def entry_link_archive_page(request: HttpRequest, tenant_slug: str, link_id: int) -> HttpResponse:
    """Archive the link; with ``restore=1``, bring it back."""
    link = entry_link_get(tenant=request.tenant, link_id=link_id)  # type: ignore[attr-defined]
    restore = request.POST.get("restore") == "1"
    link = entry_link_archive(
        actor=request.membership,  # type: ignore[attr-defined]
        link=link,
        archived=not restore,
        request=request,
    )
    if restore:
        messages.success(request, _("Link %(name)s restored.") % {"name": link.name})
    else:
        messages.success(request, _("Link %(name)s archived.") % {"name": link.name})
    return redirect("entry_link_list", tenant_slug=tenant_slug)


@require_GET
@require_perm(Perm.MANAGE_AUTOMATIONS)
def entry_link_qr_page(request: HttpRequest, tenant_slug: str, link_id: int) -> HttpResponse:
    """The link's QR code: ``?format=png`` (the default) or ``svg``."""
    link = entry_link_get(tenant=request.tenant, link_id=link_id)  # type: ignore[attr-defined]
    fmt = request.GET.get("format", "png")
    try:
        image = link_qr(link, fmt)  # type: ignore[arg-type]  # checked by link_qr
    except ApplicationError as exc:
        return render(
            request, "errors/error.html", {"status": exc.status_code, "message": exc.message}, status=exc.status_code
        )
    response = HttpResponse(image, content_type=QR_FORMATS[fmt])
    response["Content-Disposition"] = f'inline; filename="wa-me-{link.ref}.{fmt}"'
    return response


# --- sources -------------------------------------------------------------------------------------------------


class SourcesFilterForm(forms.Form):
    since = forms.DateField(label=gettext_lazy("From"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(label=gettext_lazy("To"), required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("since") and data.get("until") and data["since"] > data["until"]:
            self.add_error("until", _("The end of the range is before its start."))
        return data


def _today(tenant: Tenant) -> date:
    return timezone.localtime(timezone.now(), workspace_zone(tenant)).date()


def _revenue(row: SourceRow) -> str:
    return ", ".join(amount_format(amount, currency=currency) for currency, amount in row.revenue.items())


@require_GET
@require_perm(Perm.VIEW_REPORTS)
def sources_report_page(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    tenant = request.tenant  # type: ignore[attr-defined]
    until = _today(tenant)
    defaults = {"since": until - timedelta(days=DEFAULT_DAYS - 1), "until": until}
    form = SourcesFilterForm(request.GET or None, initial=defaults)
    valid = not request.GET or form.is_valid()
    since: date | None = defaults["since"]
    until_day: date | None = defaults["until"]
    if request.GET and valid:
        since, until_day = form.cleaned_data.get("since"), form.cleaned_data.get("until")
    report = sources_report(tenant=tenant, since=since, until=until_day)
    rows = [{"row": row, "revenue": _revenue(row)} for row in report]
    context = {"form": form, "rows": rows, "since": since, "until": until_day, "filtered": bool(request.GET)}
    return render(request, "flows/sources.html", context, status=200 if valid else 400)
