"""Settings pages of auto-resolve: every inbox's auto-resolve at a glance, and one inbox's form. Guarded by
"Manage automations"."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings as django_settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import get_language_info, gettext_lazy
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from automations.auto_resolve import (
    AutoResolveRow,
    AutoResolveSpec,
    auto_resolve_row,
    auto_resolve_rows,
    auto_resolve_update,
)
from automations.models import AUTO_RESOLVE_HOURS_MAX, AUTO_RESOLVE_HOURS_MIN
from conversations.models import CustomerTextVariant, Label
from conversations.selectors import label_list
from helpdesk.exceptions import ApplicationError
from tenants.access import require_perm
from tenants.permissions import Perm

# Past this, the customer's 24-hour window has always closed by the time a conversation is due.
WINDOW_HOURS = 24


def language_name(code: str) -> str:
    try:
        return str(get_language_info(code)["name_translated"])
    except KeyError:
        return code


def _field_name(language: str) -> str:
    return "closing_" + language.replace("-", "_")


class AutoResolveForm(forms.Form):
    enabled = forms.BooleanField(label=gettext_lazy("Resolve quiet conversations of this inbox"), required=False)
    after_hours = forms.IntegerField(
        label=gettext_lazy("Hours without customer activity"),
        help_text=gettext_lazy(
            "Counted from the conversation's last message, yours or the customer's: the customer has had "
            "this long to write again. From 1 to 720 hours (30 days)."
        ),
        widget=forms.NumberInput(attrs={"min": AUTO_RESOLVE_HOURS_MIN, "max": AUTO_RESOLVE_HOURS_MAX}),
    )
    include_waiting = forms.BooleanField(
        label=gettext_lazy("Also resolve conversations waiting for an agent"),
        help_text=gettext_lazy(
            "Their last message is the customer's. Left off, they stay open until someone answers them."
        ),
        required=False,
    )
    label = forms.ModelChoiceField(
        label=gettext_lazy("Label to add"),
        queryset=Label.objects.none(),
        required=False,
        empty_label=gettext_lazy("No label"),
    )

    def __init__(self, *args: Any, tenant_id: int, row: AutoResolveRow, **kwargs: Any) -> None:
        spec = row.spec
        initial = {
            "enabled": spec.enabled,
            "after_hours": spec.after_hours,
            "include_waiting": spec.include_waiting,
            "label": spec.label_id,
            **{_field_name(lang): body for lang, body in spec.closing_message.items()},
        }
        kwargs["initial"] = initial
        super().__init__(*args, **kwargs)
        self.fields["label"].queryset = label_list(tenant=tenant_id)  # type: ignore[attr-defined]
        # The product's languages, and any other the message was written in (through the API): kept on saving.
        languages = [code.lower() for code, _name in django_settings.LANGUAGES]
        languages += sorted(set(spec.closing_message) - set(languages))
        self.languages = languages
        for language in languages:
            self.fields[_field_name(language)] = forms.CharField(
                label=_("Closing message in %(language)s") % {"language": language_name(language)},
                required=False,
                max_length=CustomerTextVariant.BODY_MAX,
                strip=True,
                widget=forms.Textarea(attrs={"rows": 3}),
            )

    @property
    def closing_fields(self) -> list[forms.BoundField]:
        return [self[_field_name(language)] for language in self.languages]

    def spec(self) -> AutoResolveSpec:
        data = self.cleaned_data
        label = data.get("label")
        return AutoResolveSpec(
            enabled=bool(data.get("enabled")),
            after_hours=data["after_hours"],
            label_id=label.pk if label is not None else None,
            include_waiting=bool(data.get("include_waiting")),
            closing_message={
                language: data[_field_name(language)] for language in self.languages if data.get(_field_name(language))
            },
        )

    def add_service_error(self, field: str | None, message: str, language: str | None = None) -> None:
        if field == "closing_message" and language in self.languages:
            target: str | None = _field_name(language)
        elif field == "label_id":
            target = "label"
        else:
            target = field if field in self.fields else None
        self.add_error(target, message)


@require_GET
@require_perm(Perm.MANAGE_AUTOMATIONS)
def auto_resolve_list(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    rows = [
        {"row": row, "languages": [language_name(language) for language in row.closing_message]}
        for row in auto_resolve_rows(tenant=request.tenant)  # type: ignore[attr-defined]
    ]
    return render(request, "automations/auto_resolve.html", {"rows": rows})


@require_http_methods(["GET", "POST"])
@require_perm(Perm.MANAGE_AUTOMATIONS)
def auto_resolve_edit(request: HttpRequest, tenant_slug: str, inbox_id: int) -> HttpResponse:
    tenant = request.tenant  # type: ignore[attr-defined]
    row = auto_resolve_row(tenant=tenant, inbox_id=inbox_id)
    form = AutoResolveForm(request.POST or None, tenant_id=tenant.pk, row=row)
    if request.method == "POST" and form.is_valid():
        try:
            actor = request.membership  # type: ignore[attr-defined]
            auto_resolve_update(actor=actor, inbox=row.inbox, spec=form.spec(), request=request)
        except ApplicationError as exc:
            form.add_service_error(exc.details.get("field"), exc.message, exc.details.get("language"))
        else:
            messages.success(request, _("Auto-resolve of %(inbox)s saved.") % {"inbox": row.inbox.name})
            return redirect("auto_resolve_list", tenant_slug=tenant_slug)
    spec = row.spec
    context = {
        "form": form,
        "row": row,
        "window_hours": WINDOW_HOURS,
        "closing_never_sent": bool(spec.closing_message) and spec.after_hours >= WINDOW_HOURS,
    }
    status = 400 if request.method == "POST" else 200
    return render(request, "automations/auto_resolve_form.html", context, status=status)
