"""Settings pages of SLA policies: the list (in the order they are tried), a form to create or change one,
and delete. Guarded by "Manage automations"."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from automations.models import SLA_TARGET_MINUTES_MAX, SlaPolicy
from automations.sla_policies import (
    SlaPolicySpec,
    sla_policy_create,
    sla_policy_delete,
    sla_policy_get,
    sla_policy_list,
    sla_policy_spec,
    sla_policy_update,
)
from conversations.models import Conversation, Inbox
from conversations.selectors import label_list
from helpdesk.exceptions import ApplicationError
from tenants.access import require_perm
from tenants.permissions import Perm

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

TARGET_HELP = gettext_lazy("Minutes; leave empty for no target.")


def _target(label: StrOrPromise) -> forms.IntegerField:
    return forms.IntegerField(
        label=label,
        required=False,
        min_value=1,
        max_value=SLA_TARGET_MINUTES_MAX,
        help_text=TARGET_HELP,
    )


class SlaPolicyForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=80)
    enabled = forms.BooleanField(label=gettext_lazy("Active"), required=False)
    position = forms.IntegerField(
        label=gettext_lazy("Order"),
        min_value=0,
        max_value=10_000,
        help_text=gettext_lazy("Policies are tried from the lowest number: the first that matches applies."),
    )
    first_response_minutes = _target(gettext_lazy("First response"))
    next_response_minutes = _target(gettext_lazy("Next response"))
    resolution_minutes = _target(gettext_lazy("Resolution"))
    business_hours_only = forms.BooleanField(
        label=gettext_lazy("Count business hours only"),
        help_text=gettext_lazy("In the business hours of the conversation's inbox; without them, every hour counts."),
        required=False,
    )
    inbox_ids = forms.ModelMultipleChoiceField(
        label=gettext_lazy("Inboxes"),
        queryset=Inbox.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=gettext_lazy("None chosen: every inbox."),
    )
    label_ids = forms.ModelMultipleChoiceField(
        label=gettext_lazy("Labels"),
        queryset=Inbox.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=gettext_lazy("A conversation with any of them; none chosen: with or without labels."),
    )
    priorities = forms.MultipleChoiceField(
        label=gettext_lazy("Priorities"),
        choices=Conversation.Priority.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=gettext_lazy("None chosen: any priority."),
    )

    def __init__(self, *args: Any, tenant_id: int, spec: SlaPolicySpec, **kwargs: Any) -> None:
        kwargs["initial"] = {
            "name": spec.name,
            "enabled": spec.enabled,
            "position": spec.position,
            "first_response_minutes": spec.first_response_minutes,
            "next_response_minutes": spec.next_response_minutes,
            "resolution_minutes": spec.resolution_minutes,
            "business_hours_only": spec.business_hours_only,
            "inbox_ids": list(spec.inbox_ids),
            "label_ids": list(spec.label_ids),
            "priorities": list(spec.priorities),
        }
        super().__init__(*args, **kwargs)
        self.fields["inbox_ids"].queryset = Inbox.objects.filter(tenant_id=tenant_id).order_by("name", "id")  # type: ignore[attr-defined]
        self.fields["label_ids"].queryset = label_list(tenant=tenant_id)  # type: ignore[attr-defined]

    def spec(self) -> SlaPolicySpec:
        data = self.cleaned_data
        return SlaPolicySpec(
            name=data["name"],
            enabled=bool(data.get("enabled")),
            position=data["position"],
            first_response_minutes=data.get("first_response_minutes"),
            next_response_minutes=data.get("next_response_minutes"),
            resolution_minutes=data.get("resolution_minutes"),
            business_hours_only=bool(data.get("business_hours_only")),
            inbox_ids=tuple(inbox.pk for inbox in data.get("inbox_ids") or ()),
            label_ids=tuple(label.pk for label in data.get("label_ids") or ()),
            priorities=tuple(data.get("priorities") or ()),
        )

    def add_service_error(self, exc: ApplicationError) -> None:
        field = exc.details.get("field")
        self.add_error(field if field in self.fields else None, exc.message)


def _names(policy: SlaPolicy, inboxes: dict[int, str], labels: dict[int, str]) -> dict[str, Any]:
    priorities = dict(Conversation.Priority.choices)
    return {
        "policy": policy,
        "inboxes": [inboxes[pk] for pk in policy.inbox_ids if pk in inboxes],
        "labels": [labels[pk] for pk in policy.label_ids if pk in labels],
        "priorities": [priorities[value] for value in policy.priorities if value in priorities],
    }


@require_GET
@require_perm(Perm.MANAGE_AUTOMATIONS)
def sla_policy_list_page(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    tenant = request.tenant  # type: ignore[attr-defined]
    inboxes = dict(Inbox.objects.filter(tenant=tenant).values_list("pk", "name"))
    labels = dict(label_list(tenant=tenant).values_list("pk", "name"))
    rows = [_names(policy, inboxes, labels) for policy in sla_policy_list(tenant=tenant)]
    return render(request, "automations/sla_policies.html", {"rows": rows})


def _form_page(request: HttpRequest, form: SlaPolicyForm, policy: SlaPolicy | None) -> HttpResponse:
    status = 400 if request.method == "POST" else 200
    return render(request, "automations/sla_policy_form.html", {"form": form, "policy": policy}, status=status)


@require_http_methods(["GET", "POST"])
@require_perm(Perm.MANAGE_AUTOMATIONS)
def sla_policy_create_page(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    tenant = request.tenant  # type: ignore[attr-defined]
    position = (
        sla_policy_list(tenant=tenant).order_by("-position").values_list("position", flat=True).first() or 0
    ) + 1
    form = SlaPolicyForm(request.POST or None, tenant_id=tenant.pk, spec=SlaPolicySpec(name="", position=position))
    if request.method == "POST" and form.is_valid():
        try:
            policy = sla_policy_create(actor=request.membership, spec=form.spec(), request=request)  # type: ignore[attr-defined]
        except ApplicationError as exc:
            form.add_service_error(exc)
        else:
            messages.success(request, _("SLA policy %(name)s created.") % {"name": policy.name})
            return redirect("sla_policy_list", tenant_slug=tenant_slug)
    return _form_page(request, form, None)


@require_http_methods(["GET", "POST"])
@require_perm(Perm.MANAGE_AUTOMATIONS)
def sla_policy_edit_page(request: HttpRequest, tenant_slug: str, policy_id: int) -> HttpResponse:
    tenant = request.tenant  # type: ignore[attr-defined]
    policy = sla_policy_get(tenant=tenant, policy_id=policy_id)
    form = SlaPolicyForm(request.POST or None, tenant_id=tenant.pk, spec=sla_policy_spec(policy))
    if request.method == "POST" and form.is_valid():
        try:
            policy = sla_policy_update(actor=request.membership, policy=policy, spec=form.spec(), request=request)  # type: ignore[attr-defined]
        except ApplicationError as exc:
            form.add_service_error(exc)
        else:
            messages.success(request, _("SLA policy %(name)s saved.") % {"name": policy.name})
            return redirect("sla_policy_list", tenant_slug=tenant_slug)
    return _form_page(request, form, policy)


@require_POST
@require_perm(Perm.MANAGE_AUTOMATIONS)
def sla_policy_delete_page(request: HttpRequest, tenant_slug: str, policy_id: int) -> HttpResponse:
    policy = sla_policy_get(tenant=request.tenant, policy_id=policy_id)  # type: ignore[attr-defined]
    name = policy.name
    sla_policy_delete(actor=request.membership, policy=policy, request=request)  # type: ignore[attr-defined]
    messages.success(request, _("SLA policy %(name)s deleted.") % {"name": name})
    return redirect("sla_policy_list", tenant_slug=tenant_slug)
