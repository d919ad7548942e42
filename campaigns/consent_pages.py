"""Pages of consent: a contact's consent (its answer per purpose, the history, and a form for an agent to record
an opt-in or an opt-out with a note; also a section of the inbox's contact panel), and Settings > Consent (the
keywords customers stop and resume marketing with, whether they are confirmed, and the workspace's purposes)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings as django_settings
from django.contrib import messages
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from campaigns.consent import (
    KEYWORD_MAX,
    NOTE_MAX,
    Kind,
    consent_actor_display,
    consent_history,
    consent_purpose_by_key,
    consent_purpose_create,
    consent_purpose_delete,
    consent_purpose_get,
    consent_purpose_list,
    consent_purpose_update,
    consent_record,
    consent_settings_get,
    consent_settings_update,
    consent_states,
    contact_visible,
    purpose_label,
)
from campaigns.keywords import CONFIRMATION_KEYS, confirmation_builtin, confirmation_texts_get, confirmation_texts_set
from campaigns.models import ConsentEvent, ConsentSettings
from conversations.models import Contact, Conversation
from conversations.services.customer_texts import BODY_MAX
from helpdesk.exceptions import ApplicationError, NotFound
from tenants.access import require_perm
from tenants.models import Membership
from tenants.permissions import Perm

HISTORY_SHOWN = 100
SIDEBAR_HISTORY_SHOWN = 5


class ConsentRecordForm(forms.Form):
    purpose = forms.ChoiceField(label=gettext_lazy("Purpose"))
    kind = forms.ChoiceField(
        label=gettext_lazy("Answer"),
        choices=[
            (ConsentEvent.Kind.OPT_IN, gettext_lazy("Opted in")),
            (ConsentEvent.Kind.OPT_OUT, gettext_lazy("Opted out")),
        ],
    )
    note = forms.CharField(
        label=gettext_lazy("How did the customer answer?"),
        max_length=NOTE_MAX,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=gettext_lazy("Required: what they said, where and when (kept as the evidence)."),
    )

    def __init__(self, *args: Any, purposes: list[Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["purpose"].choices = [(p.key, purpose_label(p)) for p in purposes]  # type: ignore[attr-defined]


def _contact(request: HttpRequest, contact_id: int) -> Contact:
    """A contact of a conversation the member may see; 404 otherwise (another workspace's too)."""
    try:
        return contact_visible(principal=request.membership, contact_id=contact_id)  # type: ignore[attr-defined]
    except NotFound as exc:
        raise Http404(exc.message) from None


def _purpose(request: HttpRequest, purpose_id: int) -> Any:
    try:
        return consent_purpose_get(tenant_id=request.membership.tenant_id, purpose_id=purpose_id)  # type: ignore[attr-defined]
    except NotFound as exc:
        raise Http404(exc.message) from None


def _history_rows(contact: Contact, limit: int) -> list[dict[str, Any]]:
    return [
        {"event": event, "purpose": purpose_label(event.purpose), "by": consent_actor_display(event)}
        for event in consent_history(contact=contact, limit=limit)
    ]


def _context(request: HttpRequest, contact: Contact, *, limit: int) -> dict[str, Any]:
    membership: Membership = request.membership  # type: ignore[attr-defined]
    states = consent_states(contact=contact)
    return {
        "contact": contact,
        "states": [{"label": purpose_label(s.purpose), "state": s} for s in states],
        "history": _history_rows(contact, limit),
        "can_record": membership.has_perm(Perm.MANAGE_CONTACTS),
        "form": ConsentRecordForm(purposes=[s.purpose for s in states]),
    }


def contact_consent_section(request: HttpRequest, conversation: Conversation) -> SafeString | None:
    """The contact panel's "Consent" section (the inbox sidebar)."""
    membership = getattr(request, "membership", None)
    if membership is None or conversation.contact_id is None:
        return None
    context = _context(request, conversation.contact, limit=SIDEBAR_HISTORY_SHOWN)
    context.update(conversation=conversation, current_tenant=membership.tenant)
    return SafeString(render_to_string("campaigns/_contact_consent.html", context, request=request))


@require_GET
def contact_consent_page(request: HttpRequest, tenant_slug: str, contact_id: int) -> HttpResponse:
    contact = _contact(request, contact_id)
    context = _context(request, contact, limit=HISTORY_SHOWN)
    context["display_id"] = request.GET.get("display_id", "")
    return render(request, "campaigns/consent_contact.html", context)


@require_POST
@require_perm(Perm.MANAGE_CONTACTS)
def contact_consent_record_page(request: HttpRequest, tenant_slug: str, contact_id: int) -> HttpResponse:
    """An agent records the customer's answer (with a note); back to the conversation it was recorded from."""
    membership: Membership = request.membership  # type: ignore[attr-defined]
    contact = _contact(request, contact_id)
    display_id = request.POST.get("display_id", "")
    form = ConsentRecordForm(request.POST, purposes=[s.purpose for s in consent_states(contact=contact)])
    if not form.is_valid():
        messages.error(request, _("Choose the purpose and the answer, and say how the customer answered."))
    else:
        data = form.cleaned_data
        try:
            consent_record(
                actor=membership,
                contact=contact,
                purpose=consent_purpose_by_key(tenant_id=membership.tenant_id, key=data["purpose"]),
                kind=data["kind"],
                source=ConsentEvent.Source.AGENT,
                note=data["note"],
                request=request,
            )
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, _("Consent recorded."))
    if display_id.isdigit():
        return redirect("inbox_conversation", tenant_slug=tenant_slug, display_id=int(display_id))
    return redirect("contact_consent", tenant_slug=tenant_slug, contact_id=contact.pk)


# --- settings -------------------------------------------------------------------------------------------------


class ConsentSettingsForm(forms.Form):
    opt_out_keywords = forms.CharField(
        label=gettext_lazy("Words that stop marketing"),
        max_length=1000,
        help_text=gettext_lazy(
            "Separated by commas. A customer's message that is only one of them (in any case, with or without "
            "accents and punctuation) opts them out."
        ),
    )
    opt_in_keywords = forms.CharField(
        label=gettext_lazy("Words that resume marketing"),
        max_length=1000,
        required=False,
        help_text=gettext_lazy("Separated by commas. They count only from a customer who had stopped marketing."),
    )
    confirm = forms.BooleanField(label=gettext_lazy("Confirm to the customer in their language"), required=False)

    def __init__(self, *args: Any, settings: ConsentSettings, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The workspace's own confirmation per kind and language; blank for the built-in one, shown as the hint.
        self.text_rows: list[dict[str, Any]] = []
        for code, name in django_settings.LANGUAGES:
            fields: list[forms.BoundField] = []
            row = {"language": name, "fields": fields}
            for kind, label in (
                (Kind.OPT_OUT, gettext_lazy("After a word that stops marketing")),
                (Kind.OPT_IN, gettext_lazy("After a word that resumes marketing")),
            ):
                field_name = f"{kind}_{code}"
                self.fields[field_name] = forms.CharField(
                    label=label,
                    required=False,
                    max_length=BODY_MAX,
                    widget=forms.Textarea(
                        attrs={
                            "rows": 2,
                            "lang": code,
                            "placeholder": confirmation_builtin(settings=settings, kind=kind, language=code),
                        }
                    ),
                )
                fields.append(self[field_name])
            self.text_rows.append(row)

    def texts(self) -> dict[str, dict[str, str]]:
        """Kind → {language: wording} of the cleaned form (blank: the built-in confirmation)."""
        return {
            kind: {code: self.cleaned_data.get(f"{kind}_{code}", "") for code, _name in django_settings.LANGUAGES}
            for kind in CONFIRMATION_KEYS
        }


class ConsentPurposeForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=80)
    description = forms.CharField(label=gettext_lazy("Description"), max_length=255, required=False)


def _settings_page(request: HttpRequest, form: ConsentSettingsForm, status: int = 200) -> HttpResponse:
    tenant_id = request.membership.tenant_id  # type: ignore[attr-defined]
    purposes = consent_purpose_list(tenant_id=tenant_id)
    context = {
        "form": form,
        "purposes": [{"purpose": p, "label": purpose_label(p)} for p in purposes],
        "purpose_form": ConsentPurposeForm(),
        "keyword_max": KEYWORD_MAX,
    }
    return render(request, "campaigns/consent_settings.html", context, status=status)


@require_http_methods(["GET", "POST"])
@require_perm(Perm.MANAGE_BROADCASTS)
def consent_settings_page(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    membership: Membership = request.membership  # type: ignore[attr-defined]
    settings = consent_settings_get(tenant_id=membership.tenant_id)
    initial = {
        "opt_out_keywords": ", ".join(settings.opt_out_keywords or []),
        "opt_in_keywords": ", ".join(settings.opt_in_keywords or []),
        "confirm": settings.confirm,
    }
    for kind, wordings in confirmation_texts_get(tenant_id=membership.tenant_id).items():
        initial.update({f"{kind}_{language}": body for language, body in wordings.items()})
    form = ConsentSettingsForm(request.POST or None, initial=initial, settings=settings)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            with transaction.atomic():
                consent_settings_update(
                    actor=membership,
                    opt_out_keywords=data["opt_out_keywords"],
                    opt_in_keywords=data["opt_in_keywords"],
                    confirm=data["confirm"],
                    request=request,
                )
                confirmation_texts_set(actor=membership, texts=form.texts(), request=request)
        except ApplicationError as exc:
            field = exc.details.get("field")
            if field in CONFIRMATION_KEYS and exc.details.get("language"):
                field = f"{field}_{exc.details['language']}"
            form.add_error(field if field in form.fields else None, exc.message)
        else:
            messages.success(request, _("Consent settings saved."))
            return redirect("consent_settings", tenant_slug=tenant_slug)
    return _settings_page(request, form, status=400 if request.method == "POST" else 200)


@require_POST
@require_perm(Perm.MANAGE_BROADCASTS)
def consent_purpose_create_page(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    form = ConsentPurposeForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Give the purpose a name of 1 to 80 characters."))
        return redirect("consent_settings", tenant_slug=tenant_slug)
    try:
        purpose = consent_purpose_create(
            actor=request.membership,  # type: ignore[attr-defined]
            name=form.cleaned_data["name"],
            description=form.cleaned_data["description"],
            request=request,
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Purpose %(name)s created.") % {"name": purpose.name})
    return redirect("consent_settings", tenant_slug=tenant_slug)


@require_POST
@require_perm(Perm.MANAGE_BROADCASTS)
def consent_purpose_edit_page(request: HttpRequest, tenant_slug: str, purpose_id: int) -> HttpResponse:
    membership: Membership = request.membership  # type: ignore[attr-defined]
    purpose = _purpose(request, purpose_id)
    form = ConsentPurposeForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Give the purpose a name of 1 to 80 characters."))
        return redirect("consent_settings", tenant_slug=tenant_slug)
    try:
        purpose = consent_purpose_update(
            actor=membership,
            purpose=purpose,
            name=form.cleaned_data["name"],
            description=form.cleaned_data["description"],
            request=request,
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Purpose %(name)s saved.") % {"name": purpose.name})
    return redirect("consent_settings", tenant_slug=tenant_slug)


@require_POST
@require_perm(Perm.MANAGE_BROADCASTS)
def consent_purpose_delete_page(request: HttpRequest, tenant_slug: str, purpose_id: int) -> HttpResponse:
    membership: Membership = request.membership  # type: ignore[attr-defined]
    purpose = _purpose(request, purpose_id)
    try:
        consent_purpose_delete(actor=membership, purpose=purpose, request=request)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Purpose %(name)s deleted.") % {"name": purpose.name})
    return redirect(reverse("consent_settings", kwargs={"tenant_slug": tenant_slug}))
