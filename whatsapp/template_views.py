"""Message template pages of a number: the list (status, Meta's reasons, quality), a new template with a live
preview, editing, and deleting with confirmation. All need "Manage broadcasts"; another workspace's number or
template is a 404."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import pgettext_lazy
from django.views.decorators.http import require_GET, require_http_methods

from helpdesk.exceptions import ApplicationError
from tenants.access import require_perm
from tenants.permissions import Perm
from whatsapp import authoring, selectors, template_services
from whatsapp.models import MessageTemplate, WhatsAppChannel
from whatsapp.template_forms import ButtonFormSet, TemplateForm, draft_of, initial_of, show_errors

# Meta's reasons for a rejection (message_template_status_update ``reason``), in words.
REASONS = {
    "ABUSIVE_CONTENT": pgettext_lazy("template rejection reason", "Abusive content"),
    "CATEGORY_NOT_AVAILABLE": pgettext_lazy("template rejection reason", "Category not available"),
    "INCORRECT_CATEGORY": pgettext_lazy("template rejection reason", "Incorrect category"),
    "INVALID_FORMAT": pgettext_lazy("template rejection reason", "Invalid format"),
    "PROMOTIONAL": pgettext_lazy("template rejection reason", "Promotional content in a utility template"),
    "SCAM": pgettext_lazy("template rejection reason", "Suspected scam"),
    "TAG_CONTENT_MISMATCH": pgettext_lazy("template rejection reason", "Content does not match the category"),
}
QUALITY = {
    "GREEN": pgettext_lazy("template quality", "High"),
    "YELLOW": pgettext_lazy("template quality", "Medium"),
    "RED": pgettext_lazy("template quality", "Low"),
    "UNKNOWN": pgettext_lazy("template quality", "Not rated yet"),
}


def _channel(request: HttpRequest, channel_id: int) -> WhatsAppChannel:
    channel = selectors.channel_get(tenant=request.tenant, channel_id=channel_id)  # type: ignore[attr-defined]
    if channel is None:
        raise Http404("No such channel.")
    return channel


def _template(channel: WhatsAppChannel, template_id: int) -> MessageTemplate:
    template = selectors.template_list(channel=channel).filter(pk=template_id).first()
    if template is None or template.status == MessageTemplate.Status.DELETED:
        raise Http404("No such template.")
    return template


def _preview_text() -> dict[str, str]:
    """The words the live preview shows (translated here, read by static/js/template_editor.js)."""
    return {
        "IMAGE": _("Image"),
        "VIDEO": _("Video"),
        "DOCUMENT": _("Document"),
        "COPY_CODE": _("Copy offer code"),
        "auth_body": _("{{1}} is your verification code."),
        "auth_security": _("For your security, do not share this code."),
        "auth_expires": _("This code expires in %(minutes)s minutes."),
        "auth_code": "123456",
    }


@require_GET
@require_perm(Perm.MANAGE_BROADCASTS)
def template_list(request: HttpRequest, tenant_slug: str, channel_id: int) -> HttpResponse:
    channel = _channel(request, channel_id)
    rows = [
        {
            "template": t,
            "reason": REASONS.get(t.status_reason, t.status_reason),
            "quality": QUALITY.get(t.quality_score, t.quality_score),
            "editable": t.status in template_services.EDITABLE_STATUSES
            and bool(t.meta_id)
            and authoring.components_supported(t.components or []),
        }
        for t in selectors.template_list(channel=channel)
        .exclude(status=MessageTemplate.Status.DELETED)
        .order_by("name", "language")
    ]
    return render(request, "whatsapp/templates.html", {"channel": channel, "rows": rows})


def _editor(
    request: HttpRequest,
    channel: WhatsAppChannel,
    *,
    form: TemplateForm,
    buttons: Any,
    template: MessageTemplate | None,
    status: int = 200,
) -> HttpResponse:
    context = {
        "channel": channel,
        "template": template,
        "form": form,
        "buttons": buttons,
        "preview_text": _preview_text(),
        "max_buttons": authoring.BUTTONS_MAX,
    }
    return render(request, "whatsapp/template_form.html", context, status=status)


@require_http_methods(["GET", "POST"])
@require_perm(Perm.MANAGE_BROADCASTS)
def template_create(request: HttpRequest, tenant_slug: str, channel_id: int) -> HttpResponse:
    channel = _channel(request, channel_id)
    if request.method != "POST":
        return _editor(
            request, channel, form=TemplateForm(initial={"language": "pt_BR"}), buttons=ButtonFormSet(), template=None
        )
    form = TemplateForm(request.POST, request.FILES)
    buttons = ButtonFormSet(request.POST)
    if form.is_valid() and buttons.is_valid():
        draft, rows = draft_of(form, buttons)
        try:
            template = template_services.template_submit(
                actor=request.membership,  # type: ignore[attr-defined]
                channel=channel,
                draft=draft,
                header_sample=form.cleaned_data.get("header_sample"),
                request=request,
            )
        except ApplicationError as exc:
            if not show_errors(form, buttons, exc.details, rows, authentication=draft.category == "AUTHENTICATION"):
                form.add_error(None, exc.message)
        else:
            messages.success(
                request,
                _("Template %(name)s sent to Meta for review.") % {"name": f"{template.name} ({template.language})"},
            )
            return redirect("channel_template_list", tenant_slug=tenant_slug, channel_id=channel.pk)
    return _editor(request, channel, form=form, buttons=buttons, template=None, status=400)


@require_http_methods(["GET", "POST"])
@require_perm(Perm.MANAGE_BROADCASTS)
def template_edit(request: HttpRequest, tenant_slug: str, channel_id: int, template_id: int) -> HttpResponse:
    channel = _channel(request, channel_id)
    template = _template(channel, template_id)
    if not authoring.components_supported(template.components or []):
        messages.error(request, _("This template has parts that can only be edited in Meta's WhatsApp Manager."))
        return redirect("channel_template_list", tenant_slug=tenant_slug, channel_id=channel.pk)
    stored = authoring.draft_from_components(
        name=template.name,
        language=template.language,
        category=template.category,
        parameter_format=template.parameter_format,
        components_=template.components or [],
    )
    initial, button_initial = initial_of(stored)
    if request.method != "POST":
        return _editor(
            request,
            channel,
            form=TemplateForm(initial=initial, editing=True),
            buttons=ButtonFormSet(initial=button_initial),
            template=template,
        )
    form = TemplateForm(request.POST, request.FILES, initial=initial, editing=True)
    buttons = ButtonFormSet(request.POST, initial=button_initial)
    if form.is_valid() and buttons.is_valid():
        draft, rows = draft_of(form, buttons, name=template.name, language=template.language)
        try:
            template_services.template_edit(
                actor=request.membership,  # type: ignore[attr-defined]
                template=template,
                channel=channel,
                draft=draft,
                header_sample=form.cleaned_data.get("header_sample"),
                request=request,
            )
        except ApplicationError as exc:
            if not show_errors(form, buttons, exc.details, rows, authentication=draft.category == "AUTHENTICATION"):
                form.add_error(None, exc.message)
        else:
            messages.success(request, _("Template %(name)s sent to Meta for review again.") % {"name": str(template)})
            return redirect("channel_template_list", tenant_slug=tenant_slug, channel_id=channel.pk)
    return _editor(request, channel, form=form, buttons=buttons, template=template, status=400)


@require_http_methods(["GET", "POST"])
@require_perm(Perm.MANAGE_BROADCASTS)
def template_delete(request: HttpRequest, tenant_slug: str, channel_id: int, template_id: int) -> HttpResponse:
    channel = _channel(request, channel_id)
    template = _template(channel, template_id)
    if request.method == "POST":
        try:
            template_services.template_delete(
                actor=request.membership,  # type: ignore[attr-defined]
                template=template,
                channel=channel,
                request=request,
            )
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, _("Template %(name)s deleted.") % {"name": str(template)})
        return redirect("channel_template_list", tenant_slug=tenant_slug, channel_id=channel.pk)
    return render(request, "whatsapp/template_delete.html", {"channel": channel, "template": template})
