"""The CSAT pages: the ratings with their figures (guarded by "View reports"), and each inbox's survey
settings (guarded by "Manage automations")."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings as django_settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods

from automations.auto_resolve_pages import language_name
from automations.csat import (
    PARTS,
    CsatRow,
    CsatSpec,
    csat_row,
    csat_rows,
    csat_update,
    part_default,
    template_choices,
    text_languages,
)
from automations.csat_reports import CsatFilters, csat_not_sent_list, csat_response_list, csat_summary
from automations.models import CSAT_COMMENT_MINUTES_MAX, CsatSettings
from conversations.selectors import inbox_list, team_list
from helpdesk.exceptions import ApplicationError
from tenants import selectors as tenant_selectors
from tenants.access import require_perm
from tenants.languages import language_or_none
from tenants.models import Tenant
from tenants.permissions import Perm

PAGE_SIZE = 50


class CsatFilterForm(forms.Form):
    date_from = forms.DateField(
        label=gettext_lazy("From"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(label=gettext_lazy("To"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    inbox = forms.TypedChoiceField(label=gettext_lazy("Inbox"), required=False, coerce=int, empty_value=None)
    agent = forms.TypedChoiceField(label=gettext_lazy("Agent"), required=False, coerce=int, empty_value=None)
    team = forms.TypedChoiceField(label=gettext_lazy("Team"), required=False, coerce=int, empty_value=None)
    rating = forms.TypedChoiceField(
        label=gettext_lazy("Rating"),
        required=False,
        coerce=int,
        empty_value=None,
        choices=[("", gettext_lazy("Any")), *[(str(n), str(n)) for n in (5, 4, 3, 2, 1)]],
    )

    def __init__(self, *args: Any, tenant: Tenant, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        any_choice = ("", _("Any"))
        inboxes = [(str(inbox.pk), inbox.name) for inbox in inbox_list(tenant=tenant).order_by("name", "id")]
        self.fields["inbox"].choices = [any_choice, *inboxes]  # type: ignore[attr-defined]
        members = [(str(m.user_id), m.user.email) for m in tenant_selectors.member_list(tenant=tenant)]
        self.fields["agent"].choices = [any_choice, *members]  # type: ignore[attr-defined]
        teams = [(str(team.pk), team.name) for team in team_list(tenant=tenant).order_by("name", "id")]
        self.fields["team"].choices = [any_choice, *teams]  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("date_from") and data.get("date_to") and data["date_from"] > data["date_to"]:
            self.add_error("date_to", _("The end of the range is before its start."))
        return data

    def filters(self) -> CsatFilters:
        data = self.cleaned_data if self.is_valid() else {}
        return CsatFilters(
            date_from=data.get("date_from"),
            date_to=data.get("date_to"),
            inbox_id=data.get("inbox"),
            agent_id=data.get("agent"),
            team_id=data.get("team"),
            rating=data.get("rating"),
        )


@require_GET
@require_perm(Perm.VIEW_REPORTS)
def csat_report(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    tenant = request.tenant  # type: ignore[attr-defined]
    form = CsatFilterForm(request.GET or None, tenant=tenant)
    valid = not request.GET or form.is_valid()
    filters = form.filters() if valid else CsatFilters()
    page = Paginator(csat_response_list(tenant=tenant, filters=filters), PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "form": form,
        "summary": csat_summary(tenant=tenant, filters=filters),
        "page": page,
        "not_sent": csat_not_sent_list(tenant=tenant, filters=filters),
        "query": query.urlencode(),
    }
    return render(request, "automations/csat.html", context, status=200 if valid else 400)


# --- settings ----------------------------------------------------------------------------------------


def _field_name(part: str, language: str) -> str:
    return f"text_{part}_{language.replace('-', '_')}"


class CsatSettingsForm(forms.Form):
    enabled = forms.BooleanField(label=gettext_lazy("Send the satisfaction survey in this inbox"), required=False)
    style = forms.ChoiceField(label=gettext_lazy("Format"), choices=CsatSettings.Style.choices)
    send_on_resolve = forms.BooleanField(
        label=gettext_lazy("Send it when the conversation is resolved"), required=False
    )
    send_before_window_closes = forms.BooleanField(
        label=gettext_lazy("Send it shortly before the reply window closes"),
        help_text=gettext_lazy("On a resolved conversation that got no survey yet: the last moment it can be sent."),
        required=False,
    )
    ask_comment = forms.BooleanField(label=gettext_lazy("Ask for a comment after the rating"), required=False)
    comment_minutes = forms.IntegerField(
        label=gettext_lazy("Minutes to write the comment"),
        help_text=gettext_lazy("The customer's next message within this time is their comment."),
        min_value=1,
        max_value=CSAT_COMMENT_MINUTES_MAX,
    )
    template = forms.ChoiceField(
        label=gettext_lazy("Template when the reply window is closed"),
        help_text=gettext_lazy(
            "An approved UTILITY template with nothing to fill in and 2, 3 or 5 quick-reply buttons (the ratings, "
            "best first). Without one, nothing is sent then and the survey is recorded as not sent."
        ),
        required=False,
    )

    def __init__(self, *args: Any, row: CsatRow, **kwargs: Any) -> None:
        spec = row.spec
        template = f"{spec.template_name}\x1f{spec.template_language}" if spec.template_name else ""
        initial: dict[str, Any] = {
            "enabled": spec.enabled,
            "style": spec.style,
            "send_on_resolve": spec.send_on_resolve,
            "send_before_window_closes": spec.send_before_window_closes,
            "ask_comment": spec.ask_comment,
            "comment_minutes": spec.comment_minutes,
            "template": template,
        }
        self.languages = list(text_languages())
        for part in PARTS:
            for language in self.languages:
                initial[_field_name(part.name, language)] = spec.texts.get(part.name, {}).get(language, "")
        kwargs["initial"] = initial
        super().__init__(*args, **kwargs)
        choices = [("", _("None: record the survey as not sent"))]
        for t in template_choices(row.inbox):
            choices.append((f"{t['name']}\x1f{t['language']}", f"{t['name']} ({t['language']})"))
        if template and template not in dict(choices):
            choices.append((template, f"{spec.template_name} ({spec.template_language})"))
        self.fields["template"].choices = choices  # type: ignore[attr-defined]
        self.text_groups = []
        for part in PARTS:
            names = []
            for language in self.languages:
                name = _field_name(part.name, language)
                self.fields[name] = forms.CharField(
                    label=_("%(part)s in %(language)s") % {"part": part.label, "language": language_name(language)},
                    required=False,
                    max_length=part.limit,
                    strip=True,
                    widget=forms.TextInput() if part.limit <= 24 else forms.Textarea(attrs={"rows": 2}),
                )
                names.append(name)
            self.text_groups.append((part, names))

    @property
    def grouped_text_fields(self) -> list[tuple[str, str, list[forms.BoundField]]]:
        """(the part's label, its built-in wording in the page's language, its field per language)."""
        language = translation.get_language() or django_settings.LANGUAGE_CODE
        return [
            (
                str(part.label),
                part_default(part.name, language_or_none(language) or django_settings.LANGUAGE_CODE),
                [self[name] for name in names],
            )
            for part, names in self.text_groups
        ]

    def spec(self) -> CsatSpec:
        data = self.cleaned_data
        name, _sep, language = (data.get("template") or "").partition("\x1f")
        texts: dict[str, dict[str, str]] = {}
        for part in PARTS:
            for lang in self.languages:
                body = data.get(_field_name(part.name, lang))
                if body:
                    texts.setdefault(part.name, {})[lang] = body
        return CsatSpec(
            enabled=bool(data.get("enabled")),
            style=data["style"],
            send_on_resolve=bool(data.get("send_on_resolve")),
            send_before_window_closes=bool(data.get("send_before_window_closes")),
            ask_comment=bool(data.get("ask_comment")),
            comment_minutes=data["comment_minutes"],
            template_name=name,
            template_language=language,
            texts=texts,
        )

    def add_service_error(self, details: dict[str, Any], message: str) -> None:
        field = details.get("field")
        part, language = details.get("part"), details.get("language")
        if field == "texts" and part and language and _field_name(part, language) in self.fields:
            self.add_error(_field_name(part, language), message)
        elif field == "template_name":
            self.add_error("template", message)
        else:
            self.add_error(field if field in self.fields else None, message)


@require_GET
@require_perm(Perm.MANAGE_AUTOMATIONS)
def csat_settings_list(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    rows = csat_rows(tenant=request.tenant)  # type: ignore[attr-defined]
    return render(request, "automations/csat_settings.html", {"rows": rows})


@require_http_methods(["GET", "POST"])
@require_perm(Perm.MANAGE_AUTOMATIONS)
def csat_settings_edit(request: HttpRequest, tenant_slug: str, inbox_id: int) -> HttpResponse:
    tenant = request.tenant  # type: ignore[attr-defined]
    row = csat_row(tenant=tenant, inbox_id=inbox_id)
    form = CsatSettingsForm(request.POST or None, row=row)
    if request.method == "POST" and form.is_valid():
        try:
            csat_update(actor=request.membership, inbox=row.inbox, spec=form.spec(), request=request)  # type: ignore[attr-defined]
        except ApplicationError as exc:
            form.add_service_error(exc.details, exc.message)
        else:
            messages.success(request, _("Satisfaction survey of %(inbox)s saved.") % {"inbox": row.inbox.name})
            return redirect("csat_settings_list", tenant_slug=tenant_slug)
    status = 400 if request.method == "POST" else 200
    return render(request, "automations/csat_settings_form.html", {"form": form, "row": row}, status=status)
