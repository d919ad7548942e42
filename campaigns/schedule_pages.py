"""Scheduled messages in the inbox: the contact panel's "Scheduled" section (what will be sent to this contact,
when in the viewer's time zone, by whom, with a Cancel button) and the page where an agent schedules a text or a
template for the conversation's customer. Added through ``conversations.extensions``: the core knows none of it.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from campaigns.scheduling import (
    TemplateSpec,
    message_schedule,
    scheduled_by,
    scheduled_for_contact,
    scheduled_message_cancel,
    scheduled_message_get,
    scheduled_preview,
)
from conversations import channels
from conversations.models import Conversation
from conversations.selectors import conversation_get
from helpdesk.exceptions import ApplicationError, NotFound
from tenants.access import require_perm
from tenants.models import Membership
from tenants.permissions import Perm

SECTION_SHOWN = 10


def _may_schedule(membership: Membership) -> bool:
    return membership.has_perm(Perm.REPLY) or membership.has_perm(Perm.SEND_TEMPLATES)


def scheduled_section(request: HttpRequest, conversation: Conversation) -> SafeString | None:
    """The contact panel's "Scheduled" section: the customer's messages still to be sent, soonest first."""
    membership: Membership | None = getattr(request, "membership", None)
    if membership is None or not _may_schedule(membership) or conversation.contact_id is None:
        return None
    upcoming = scheduled_for_contact(tenant_id=conversation.tenant_id, contact_id=conversation.contact_id)
    rows = [
        {"scheduled": item, "preview": scheduled_preview(item), "by": scheduled_by(item)}
        for item in upcoming[:SECTION_SHOWN]
    ]
    context = {
        "rows": rows,
        "more": max(0, len(upcoming) - SECTION_SHOWN),
        "conversation": conversation,
        "current_tenant": membership.tenant,
    }
    return SafeString(render_to_string("campaigns/scheduled_section.html", context, request=request))


def schedule_composer_action(request: HttpRequest, conversation: Conversation) -> SafeString | None:
    """The composer's "Schedule" button, beside Send: opens the page that schedules a message for later."""
    membership: Membership | None = getattr(request, "membership", None)
    if membership is None or not membership.has_perm(Perm.REPLY):
        return None
    context = {"conversation": conversation, "current_tenant": membership.tenant}
    return SafeString(render_to_string("campaigns/scheduled_composer_action.html", context, request=request))


class ScheduleForm(forms.Form):
    """When to send what. A template's values have a field each (its header's, its body's, its buttons'), shown
    once the template is chosen: the page is sent back with ``pick`` (script does it when the template changes)."""

    KINDS = [
        ("template", pgettext_lazy("kind of scheduled message", "Template")),
        ("text", pgettext_lazy("kind of scheduled message", "Text")),
    ]
    # Buttons whose value the sender gives (a URL's variable part, a code to copy, a one-time password).
    BUTTON_VALUES = ("url", "copy_code", "otp")

    send_at = forms.DateTimeField(
        label=gettext_lazy("Send at"),
        input_formats=["%Y-%m-%dT%H:%M"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text=gettext_lazy("In your time zone."),
    )
    kind = forms.ChoiceField(label=gettext_lazy("Message"), choices=KINDS, widget=forms.RadioSelect)
    template = forms.ChoiceField(
        label=gettext_lazy("Template"),
        required=False,
        widget=forms.Select(attrs={"data-submit-on-change": "pick"}),
    )
    text = forms.CharField(
        label=gettext_lazy("Text"),
        required=False,
        max_length=4096,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=gettext_lazy("Only while the customer's reply window will still be open."),
    )

    def __init__(self, *args: Any, templates: list[dict[str, Any]], kinds: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.templates = {f"{t['name']}|{t['language']}": t for t in templates}
        template_field: Any = self.fields["template"]
        template_field.choices = [("", _("Choose a template…"))] + [
            (key, f"{t['name']} ({t['language']})") for key, t in self.templates.items()
        ]
        kind_field: Any = self.fields["kind"]
        kind_field.choices = [choice for choice in self.KINDS if choice[0] in kinds]
        self.fields["kind"].initial = kinds[0] if kinds else ""
        chosen = self.data.get("template") if self.is_bound else self.initial.get("template")
        self.chosen = self.templates.get(chosen or "")
        self.value_fields: list[str] = []
        if self.chosen is not None:
            self._value_fields_add(self.chosen)

    def _value_fields_add(self, template: dict[str, Any]) -> None:
        def add(name: str, label: Any, example: str = "", *, url: bool = False) -> None:
            attrs = {"placeholder": example} if example else {}
            field: forms.Field = (
                forms.URLField(label=label, max_length=2048, assume_scheme="https", widget=forms.URLInput(attrs=attrs))
                if url
                else forms.CharField(label=label, max_length=1024, widget=forms.TextInput(attrs=attrs))
            )
            self.fields[name] = field
            self.value_fields.append(name)

        for param in template.get("header_params") or []:
            add(f"header.{param['name']}", param["label"], param.get("example", ""))
        if template.get("header_format") and template["header_format"] != "TEXT":
            add(
                "header.link",
                _("Link to the header's file (%(format)s)") % {"format": str(template["header_format"]).lower()},
                url=True,
            )
        for param in template.get("body_params") or []:
            add(f"body.{param['name']}", param["label"], param.get("example", ""))
        for button in template.get("buttons") or []:
            if button.get("needs") in self.BUTTON_VALUES:
                add(f"button.{button['index']}", _("Button “%(text)s”") % {"text": button.get("text", "")})

    @property
    def value_bound_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in self.value_fields]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        kind = data.get("kind")
        if kind == "template" and not data.get("template"):
            self.add_error("template", _("Choose a template."))
        if kind == "text" and not (data.get("text") or "").strip():
            self.add_error("text", _("Write the text to send."))
        return data

    def template_spec(self) -> TemplateSpec:
        template = self.templates[self.cleaned_data["template"]]
        named = template.get("parameter_format") == "NAMED"
        params: dict[str, Any] = {}
        for name in self.value_fields:
            part, key = name.split(".", 1)
            value = (self.cleaned_data.get(name) or "").strip()
            if part == "button":
                params.setdefault("buttons", {})[key] = value
            elif key == "link":
                params["header"] = [{"link": value}]
            elif named:
                params.setdefault(part, {})[key] = value
            else:
                params.setdefault(part, []).append(value)
        return TemplateSpec(name=template["name"], language=template["language"], params=params)


@require_http_methods(["GET", "POST"])
@require_perm(Perm.REPLY)
def schedule_page(request: HttpRequest, tenant_slug: str, display_id: int) -> HttpResponse:
    """Schedule a template (or a text) for the conversation's customer."""
    membership: Membership = request.membership  # type: ignore[attr-defined]
    conversation = conversation_get(membership=membership, display_id=display_id)
    kinds = [
        kind for kind, perm in (("template", Perm.SEND_TEMPLATES), ("text", Perm.REPLY)) if membership.has_perm(perm)
    ]
    templates = (
        channels.backend_for(conversation.inbox).templates_for(conversation.inbox) if "template" in kinds else []
    )
    initial = {"template": request.GET.get("template", ""), "kind": "template" if request.GET.get("template") else None}
    form = ScheduleForm(
        request.POST if request.method == "POST" else None,
        templates=templates,
        kinds=kinds,
        initial={key: value for key, value in initial.items() if value},
    )
    if request.method == "POST" and "pick" in request.POST:
        # The template was chosen: the page again, with its values' fields and nothing refused yet.
        form = ScheduleForm(None, templates=templates, kinds=kinds, initial=request.POST.dict())
        context = {"form": form, "conversation": conversation, "templates": templates}
        return render(request, "campaigns/scheduled_form.html", context)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            message_schedule(
                actor=membership,
                contact=conversation.contact,
                inbox=conversation.inbox,
                send_at=data["send_at"],
                template=form.template_spec() if data["kind"] == "template" else None,
                text=data["text"] if data["kind"] == "text" else None,
            )
        except ApplicationError as exc:
            field = exc.details.get("field") if isinstance(exc.details, dict) else None
            form.add_error(field if field in form.fields else None, exc.message)
        else:
            messages.success(request, _("Message scheduled."))
            return redirect("inbox_conversation", tenant_slug=tenant_slug, display_id=display_id)
    context = {"form": form, "conversation": conversation, "templates": templates}
    status = 400 if request.method == "POST" else 200
    return render(request, "campaigns/scheduled_form.html", context, status=status)


@require_POST
@require_perm(Perm.REPLY)
def scheduled_cancel_page(request: HttpRequest, tenant_slug: str, scheduled_id: int) -> HttpResponse:
    """Cancel a scheduled message from the contact panel; back to the conversation it was shown in."""
    membership: Membership = request.membership  # type: ignore[attr-defined]
    try:
        scheduled = scheduled_message_get(principal=membership, scheduled_id=scheduled_id)
    except NotFound:
        raise Http404(_("No such scheduled message.")) from None
    try:
        scheduled_message_cancel(actor=membership, scheduled=scheduled)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Scheduled message canceled."))
    display_id = request.POST.get("conversation", "")
    if display_id.isascii() and display_id.isdigit():
        return redirect("inbox_conversation", tenant_slug=tenant_slug, display_id=int(display_id))
    return redirect("inbox", tenant_slug=tenant_slug)
