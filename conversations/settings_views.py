"""Settings pages of the agent inbox: labels, quick replies, each member's availability, and the
workspace's event deliveries."""

from __future__ import annotations

from typing import cast

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from conversations import selectors
from conversations.events import delivery as event_delivery
from conversations.events import selectors as event_selectors
from conversations.forms import AvailabilityForm, LabelForm, QuickReplyForm
from conversations.models import EventDelivery, QuickReply
from conversations.services import library
from helpdesk.exceptions import ApplicationError
from tenants.access import require_perm
from tenants.permissions import Perm
from tenants.selectors import member_list


def _add_error(form: forms.Form, exc: ApplicationError) -> None:
    field = exc.details.get("field")
    form.add_error(field if field in form.fields else None, exc.message)


# --- labels ----------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@require_perm(Perm.MANAGE_LABELS)
def label_list(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    form = LabelForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            label = library.label_create(membership=request.membership, request=request, **form.cleaned_data)  # type: ignore[attr-defined]
        except ApplicationError as exc:
            _add_error(form, exc)
        else:
            messages.success(request, _("Label %(name)s created.") % {"name": label.name})
            return redirect("label_list", tenant_slug=tenant_slug)
    labels = selectors.label_list(tenant=request.tenant)  # type: ignore[attr-defined]
    status = 400 if request.method == "POST" else 200
    return render(request, "conversations/settings/labels.html", {"form": form, "labels": labels}, status=status)


@require_http_methods(["GET", "POST"])
@require_perm(Perm.MANAGE_LABELS)
def label_edit(request: HttpRequest, tenant_slug: str, label_id: int) -> HttpResponse:
    label = selectors.label_get(tenant=request.tenant, label_id=label_id)  # type: ignore[attr-defined]
    initial = {"name": label.name, "color": label.color, "description": label.description}
    form = LabelForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            library.label_update(membership=request.membership, label=label, request=request, **form.cleaned_data)  # type: ignore[attr-defined]
        except ApplicationError as exc:
            _add_error(form, exc)
        else:
            messages.success(request, _("Label %(name)s saved.") % {"name": label.name})
            return redirect("label_list", tenant_slug=tenant_slug)
    status = 400 if request.method == "POST" else 200
    return render(request, "conversations/settings/label_form.html", {"form": form, "label": label}, status=status)


@require_POST
@require_perm(Perm.MANAGE_LABELS)
def label_delete(request: HttpRequest, tenant_slug: str, label_id: int) -> HttpResponse:
    label = selectors.label_get(tenant=request.tenant, label_id=label_id)  # type: ignore[attr-defined]
    name = label.name
    try:
        library.label_delete(membership=request.membership, label=label, request=request)  # type: ignore[attr-defined]
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Label %(name)s deleted.") % {"name": name})
    return redirect("label_list", tenant_slug=tenant_slug)


# --- quick replies ---------------------------------------------------------------------------


def _quick_reply_form(request: HttpRequest, **kwargs: object) -> QuickReplyForm:
    membership = request.membership  # type: ignore[attr-defined]
    return QuickReplyForm(
        request.POST or None,
        request.FILES or None,
        inboxes=selectors.inbox_list(tenant=request.tenant),  # type: ignore[attr-defined]
        can_share=membership.has_perm(Perm.MANAGE_LABELS),
        **kwargs,  # type: ignore[arg-type]
    )


@require_http_methods(["GET", "POST"])
@require_perm(Perm.REPLY)
def quick_reply_list(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    membership = request.membership  # type: ignore[attr-defined]
    form = _quick_reply_form(request)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            quick_reply = library.quick_reply_create(
                membership=membership,
                shortcut=data["shortcut"],
                text=data["text"],
                scope=data["scope"],
                inbox=data.get("inbox"),
                attachment=data.get("attachment"),
                request=request,
            )
        except ApplicationError as exc:
            _add_error(form, exc)
        else:
            messages.success(request, _("Quick reply /%(shortcut)s created.") % {"shortcut": quick_reply.shortcut})
            return redirect("quick_reply_list", tenant_slug=tenant_slug)
    rows = [
        (qr, library.quick_reply_can_manage(membership=membership, quick_reply=qr))
        for qr in selectors.quick_reply_settings_list(membership=membership)
    ]
    status = 400 if request.method == "POST" else 200
    return render(request, "conversations/settings/quick_replies.html", {"form": form, "rows": rows}, status=status)


@require_http_methods(["GET", "POST"])
@require_perm(Perm.REPLY)
def quick_reply_edit(request: HttpRequest, tenant_slug: str, quick_reply_id: int) -> HttpResponse:
    membership = request.membership  # type: ignore[attr-defined]
    quick_reply = selectors.quick_reply_get(membership=request.membership, quick_reply_id=quick_reply_id)  # type: ignore[attr-defined]
    can_manage = library.quick_reply_can_manage(membership=membership, quick_reply=quick_reply)
    if request.method == "POST" and not can_manage:
        raise PermissionDenied(_("Only members who manage quick replies can change a shared one."))
    initial = {
        "shortcut": quick_reply.shortcut,
        "text": quick_reply.text,
        "scope": quick_reply.scope,
        "inbox": quick_reply.inbox_id,
    }
    form = _quick_reply_form(request, initial=initial, has_attachment=bool(quick_reply.attachment))
    if can_manage and quick_reply.scope != QuickReply.Scope.PERSONAL:
        # A shared reply stays shared: handing it to one member would take it from everyone else.
        cast(forms.ChoiceField, form.fields["scope"]).choices = [
            c for c in QuickReply.Scope.choices if c[0] != QuickReply.Scope.PERSONAL
        ]
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            library.quick_reply_update(
                membership=membership,
                quick_reply=quick_reply,
                shortcut=data["shortcut"],
                text=data["text"],
                scope=data["scope"],
                inbox=data.get("inbox"),
                attachment=data.get("attachment"),
                remove_attachment=data.get("remove_attachment", False),
                request=request,
            )
        except ApplicationError as exc:
            _add_error(form, exc)
        else:
            messages.success(request, _("Quick reply /%(shortcut)s saved.") % {"shortcut": quick_reply.shortcut})
            return redirect("quick_reply_list", tenant_slug=tenant_slug)
    status = 400 if request.method == "POST" else 200
    context = {"form": form, "quick_reply": quick_reply, "can_manage": can_manage}
    return render(request, "conversations/settings/quick_reply_form.html", context, status=status)


@require_POST
@require_perm(Perm.REPLY)
def quick_reply_delete(request: HttpRequest, tenant_slug: str, quick_reply_id: int) -> HttpResponse:
    quick_reply = selectors.quick_reply_get(membership=request.membership, quick_reply_id=quick_reply_id)  # type: ignore[attr-defined]
    shortcut = quick_reply.shortcut
    try:
        library.quick_reply_delete(membership=request.membership, quick_reply=quick_reply, request=request)  # type: ignore[attr-defined]
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Quick reply /%(shortcut)s deleted.") % {"shortcut": shortcut})
    return redirect("quick_reply_list", tenant_slug=tenant_slug)


# --- availability ----------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@require_perm(Perm.REPLY)
def availability(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    membership = request.membership  # type: ignore[attr-defined]
    form = AvailabilityForm(request.POST or None, initial={"availability": membership.availability})
    if request.method == "POST" and form.is_valid():
        try:
            library.membership_availability_set(
                membership=membership, availability=form.cleaned_data["availability"], request=request
            )
        except ApplicationError as exc:
            _add_error(form, exc)
        else:
            messages.success(
                request,
                _("Your availability is now %(availability)s.")
                % {"availability": membership.get_availability_display()},
            )
            return redirect("availability_settings", tenant_slug=tenant_slug)
    members = [m for m in member_list(tenant=request.tenant) if m.has_perm(Perm.REPLY)]  # type: ignore[attr-defined]
    status = 400 if request.method == "POST" else 200
    return render(
        request, "conversations/settings/availability.html", {"form": form, "members": members}, status=status
    )


# --- event deliveries ------------------------------------------------------------------------


@require_GET
@require_perm(Perm.MANAGE_AUTOMATIONS)
def event_delivery_list(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    state = request.GET.get("state", EventDelivery.State.FAILED)
    if state not in EventDelivery.State.values:
        state = EventDelivery.State.FAILED
    deliveries = event_selectors.event_delivery_list(tenant=request.tenant, state=state)  # type: ignore[attr-defined]
    states = [(value, label) for value, label in EventDelivery.State.choices]
    return render(
        request,
        "conversations/settings/event_deliveries.html",
        {"deliveries": deliveries, "state": state, "states": states},
    )


@require_POST
@require_perm(Perm.MANAGE_AUTOMATIONS)
def event_delivery_retry(request: HttpRequest, tenant_slug: str, delivery_id: int) -> HttpResponse:
    delivery = event_selectors.event_delivery_get(tenant=request.tenant, delivery_id=delivery_id)  # type: ignore[attr-defined]
    if event_delivery.event_delivery_retry(membership=request.membership, delivery=delivery, request=request):  # type: ignore[attr-defined]
        messages.success(request, _("The delivery will be tried again."))
    else:
        messages.error(request, _("Only a failed delivery can be tried again."))
    return redirect("event_delivery_list", tenant_slug=tenant_slug)
