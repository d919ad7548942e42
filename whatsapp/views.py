"""Channel settings pages: connect a number, test it, see its templates and failed webhook events."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from helpdesk.exceptions import ApplicationError
from tenants.access import require_perm
from tenants.permissions import Perm
from whatsapp import catalog, selectors, services
from whatsapp.forms import CatalogForm, ChannelForm
from whatsapp.models import WebhookEvent, WhatsAppChannel


def _channel(request: HttpRequest, channel_id: int) -> WhatsAppChannel:
    channel = selectors.channel_get(tenant=request.tenant, channel_id=channel_id)  # type: ignore[attr-defined]
    if channel is None:
        raise Http404("No such channel.")
    return channel


def _event(request: HttpRequest, event_id: int) -> WebhookEvent:
    event = selectors.webhook_event_get(tenant=request.tenant, event_id=event_id)  # type: ignore[attr-defined]
    if event is None:
        raise Http404("No such webhook event.")
    return event


@require_GET
@require_perm(Perm.MANAGE_CHANNELS)
def channel_list(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    tenant = request.tenant  # type: ignore[attr-defined]
    channels = selectors.channel_list(tenant=tenant)
    failed = selectors.webhook_events_failed_count(tenant=tenant)
    return render(request, "whatsapp/channels.html", {"channels": channels, "failed_events": failed})


@require_http_methods(["GET", "POST"])
@require_perm(Perm.MANAGE_CHANNELS)
def channel_create(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    form = ChannelForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        values = dict(form.cleaned_data)
        catalog_id = values.pop("catalog_id", "")
        try:
            channel = services.channel_create(actor=request.membership, request=request, **values)  # type: ignore[attr-defined]
            if catalog_id:
                catalog.channel_catalog_set(
                    actor=request.membership,  # type: ignore[attr-defined]
                    channel=channel,
                    catalog_id=catalog_id,
                    request=request,
                )
        except ApplicationError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, _("Number connected. Paste the webhook URL and verify token into Meta."))
            return redirect("channel_detail", tenant_slug=tenant_slug, channel_id=channel.pk)
    status = 400 if request.method == "POST" else 200
    return render(request, "whatsapp/channel_form.html", {"form": form}, status=status)


@require_GET
@require_perm(Perm.MANAGE_CHANNELS)
def channel_detail(request: HttpRequest, tenant_slug: str, channel_id: int) -> HttpResponse:
    channel = _channel(request, channel_id)
    webhook_url = request.build_absolute_uri(reverse("whatsapp_webhook", kwargs={"webhook_key": channel.webhook_key}))
    templates = selectors.template_list(channel=channel)
    catalog_form = CatalogForm(initial={"catalog_id": channel.catalog_id})
    return render(
        request,
        "whatsapp/channel_detail.html",
        {"channel": channel, "webhook_url": webhook_url, "templates": templates, "catalog_form": catalog_form},
    )


@require_POST
@require_perm(Perm.MANAGE_CHANNELS)
def channel_catalog(request: HttpRequest, tenant_slug: str, channel_id: int) -> HttpResponse:
    channel = _channel(request, channel_id)
    form = CatalogForm(request.POST)
    if form.is_valid():
        try:
            channel = catalog.channel_catalog_set(
                actor=request.membership,  # type: ignore[attr-defined]
                channel=channel,
                catalog_id=form.cleaned_data["catalog_id"],
                request=request,
            )
        except ApplicationError as exc:
            form.add_error("catalog_id", exc.message)
        else:
            messages.success(request, _("Catalog saved. The products are synced from Settings → Catalog."))
            return redirect("channel_detail", tenant_slug=tenant_slug, channel_id=channel.pk)
    webhook_url = request.build_absolute_uri(reverse("whatsapp_webhook", kwargs={"webhook_key": channel.webhook_key}))
    context = {
        "channel": channel,
        "webhook_url": webhook_url,
        "templates": selectors.template_list(channel=channel),
        "catalog_form": form,
    }
    return render(request, "whatsapp/channel_detail.html", context, status=400)


@require_POST
@require_perm(Perm.MANAGE_CHANNELS)
def channel_test(request: HttpRequest, tenant_slug: str, channel_id: int) -> HttpResponse:
    channel = _channel(request, channel_id)
    ok, detail = services.channel_check(channel=channel)
    (messages.success if ok else messages.error)(request, detail)
    return redirect("channel_detail", tenant_slug=tenant_slug, channel_id=channel.pk)


@require_POST
@require_perm(Perm.MANAGE_CHANNELS)
def channel_sync_templates(request: HttpRequest, tenant_slug: str, channel_id: int) -> HttpResponse:
    channel = _channel(request, channel_id)
    try:
        count = services.templates_sync(channel=channel)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    except Exception as exc:
        messages.error(request, _("Could not fetch templates: %(error)s") % {"error": exc})
    else:
        messages.success(
            request, ngettext("%(count)s template synced.", "%(count)s templates synced.", count) % {"count": count}
        )
    return redirect("channel_detail", tenant_slug=tenant_slug, channel_id=channel.pk)


@require_GET
@require_perm(Perm.MANAGE_CHANNELS)
def webhook_event_list(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    tenant = request.tenant  # type: ignore[attr-defined]
    status = request.GET.get("status", WebhookEvent.Status.FAILED)
    if status not in WebhookEvent.Status.values:
        status = WebhookEvent.Status.FAILED
    events = selectors.webhook_event_list(tenant=tenant, status=status)
    page = Paginator(events, 50).get_page(request.GET.get("page"))
    return render(
        request,
        "whatsapp/webhook_events.html",
        {"page": page, "status": status, "statuses": WebhookEvent.Status.choices},
    )


@require_GET
@require_perm(Perm.MANAGE_CHANNELS)
def webhook_event_detail(request: HttpRequest, tenant_slug: str, event_id: int) -> HttpResponse:
    event = _event(request, event_id)
    body = bytes(event.body).decode("utf-8", errors="replace")
    return render(request, "whatsapp/webhook_event_detail.html", {"event": event, "body": body})


@require_POST
@require_perm(Perm.MANAGE_CHANNELS)
def webhook_event_reprocess(request: HttpRequest, tenant_slug: str, event_id: int) -> HttpResponse:
    event = _event(request, event_id)
    try:
        event = services.webhook_event_reprocess(actor=request.membership, event=event, request=request)  # type: ignore[attr-defined]
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        if event.status == WebhookEvent.Status.PROCESSED:
            messages.success(request, _("The event was processed."))
        else:
            messages.error(request, _("The event failed again: %(error)s") % {"error": event.error})
    return redirect("webhook_event_detail", tenant_slug=tenant_slug, event_id=event.pk)
