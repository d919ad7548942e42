"""The message template form: what an admin types, turned into an ``authoring.TemplateDraft`` (Meta's rules are
checked by the service, and its refusals are put back beside the fields they are about)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from whatsapp import authoring
from whatsapp.authoring import ButtonDraft, TemplateDraft
from whatsapp.models import MessageTemplate

# The languages offered first; Meta takes many more (its code list), typed as e.g. "fr" or "de".
LANGUAGES = [
    ("pt_BR", "Português (Brasil)"),
    ("pt_PT", "Português (Portugal)"),
    ("en_US", "English (US)"),
    ("en_GB", "English (UK)"),
    ("en", "English"),
    ("es", "Español"),
    ("es_AR", "Español (Argentina)"),
    ("es_MX", "Español (México)"),
    ("es_ES", "Español (España)"),
]

HEADER_FORMATS = [
    ("NONE", pgettext_lazy("template header", "None")),
    ("TEXT", pgettext_lazy("template header", "Text")),
    ("IMAGE", pgettext_lazy("template header", "Image")),
    ("VIDEO", pgettext_lazy("template header", "Video")),
    ("DOCUMENT", pgettext_lazy("template header", "Document (PDF)")),
]

BUTTON_TYPES = [
    ("", pgettext_lazy("template button", "No button")),
    ("QUICK_REPLY", pgettext_lazy("template button", "Quick reply")),
    ("URL", pgettext_lazy("template button", "Visit website")),
    ("PHONE_NUMBER", pgettext_lazy("template button", "Call phone number")),
    ("COPY_CODE", pgettext_lazy("template button", "Copy offer code")),
]


class NeededCharField(forms.CharField):
    """Shown as required, but an empty value reaches the draft: Meta's rules (``authoring``) say what is missing,
    in their own words (and an authentication template's message text must stay empty)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(required=True, **kwargs)

    def validate(self, value: Any) -> None:
        return None


class TemplateForm(forms.Form):
    name = NeededCharField(
        label=_("Name"),
        max_length=authoring.NAME_MAX,
        help_text=_("Lowercase letters, digits and underscores, e.g. summer_sale_2025. It cannot be changed later."),
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    language = forms.ChoiceField(label=_("Language"), choices=LANGUAGES)
    category = forms.ChoiceField(
        label=_("Category"),
        choices=MessageTemplate.Category.choices,
        help_text=_("Marketing: offers and news. Utility: about an order or an account. Authentication: codes."),
    )
    parameter_format = forms.ChoiceField(
        label=_("Variables"),
        choices=[("POSITIONAL", _("Numbered: {{1}}, {{2}}…")), ("NAMED", _("Named: {{first_name}}…"))],
        initial="POSITIONAL",
    )
    header_format = forms.ChoiceField(label=_("Header"), choices=HEADER_FORMATS, initial="NONE")
    header_text = forms.CharField(
        label=_("Header text"),
        required=False,
        max_length=200,
        help_text=_("Up to 60 characters and one variable."),
    )
    header_example = forms.CharField(label=_("Example of the header's variable"), required=False, max_length=200)
    header_sample = forms.FileField(
        label=_("Sample file"),
        required=False,
        help_text=_("Meta reviews the template with it: JPEG or PNG up to 5 MB, MP4 up to 16 MB, PDF up to 100 MB."),
        widget=forms.ClearableFileInput(attrs={"accept": "image/jpeg,image/png,video/mp4,application/pdf"}),
    )
    body = NeededCharField(
        label=_("Message text"),
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text=_("Up to 1024 characters. Write variables as {{1}} (numbered) or {{first_name}} (named)."),
    )
    body_examples = forms.CharField(
        label=_("Examples of the variables"),
        required=False,
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("One per line, in order: {{1}}, {{2}}… (numbered) or as they first appear (named)."),
    )
    footer = forms.CharField(label=_("Footer"), required=False, max_length=200, help_text=_("Up to 60 characters."))
    add_security_recommendation = forms.BooleanField(
        label=_("Add “For your security, do not share this code.”"), required=False, initial=True
    )
    code_expiration_minutes = forms.IntegerField(
        label=_("Code expires after (minutes)"), required=False, min_value=1, max_value=90
    )
    otp_type = forms.ChoiceField(
        label=_("Code button"),
        choices=[("COPY_CODE", _("Copy code")), ("ONE_TAP", _("One-tap autofill (Android)"))],
        initial="COPY_CODE",
    )
    otp_text = forms.CharField(label=_("Button text"), required=False, max_length=100, initial=_("Copy code"))
    autofill_text = forms.CharField(label=_("Autofill button text"), required=False, max_length=100)
    package_name = forms.CharField(label=_("Android package name"), required=False, max_length=255)
    signature_hash = forms.CharField(label=_("App signing key hash"), required=False, max_length=64)

    def __init__(self, *args: Any, editing: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if editing:
            # Meta never changes a template's name or language (which may be one not offered for new ones).
            self.fields["name"].disabled = True
            self.fields["language"].disabled = True
            language = str(self.initial.get("language") or "")
            if language and language not in dict(LANGUAGES):
                self.fields["language"].choices = [*LANGUAGES, (language, language)]  # type: ignore[attr-defined]


class ButtonForm(forms.Form):
    type = forms.ChoiceField(label=_("Button"), choices=BUTTON_TYPES, required=False)
    text = forms.CharField(label=_("Button text"), required=False, max_length=100)
    url = forms.CharField(
        label=_("Website address"),
        required=False,
        max_length=authoring.URL_MAX,
        help_text=_("May end with {{1}}, filled in when sending."),
    )
    url_example = forms.CharField(label=_("Example address"), required=False, max_length=authoring.URL_MAX)
    phone_number = forms.CharField(label=_("Phone number"), required=False, max_length=32)
    example = forms.CharField(label=_("Example offer code"), required=False, max_length=50)


ButtonFormSet = forms.formset_factory(ButtonForm, extra=authoring.BUTTONS_MAX, max_num=authoring.BUTTONS_MAX)


def examples_for(body: str, parameter_format: str, lines: str) -> dict[str, str]:
    """The examples typed one per line, given to the body's variables in order."""
    names = authoring.distinct_variables(body)
    if parameter_format == "POSITIONAL":
        names = sorted(names, key=lambda name: int(name) if name.isdigit() else 0)
    values = [line.strip() for line in lines.splitlines()]
    return {name: values[index] for index, name in enumerate(names) if index < len(values)}


def example_lines(draft: TemplateDraft) -> str:
    names = authoring.distinct_variables(draft.body)
    if draft.parameter_format == "POSITIONAL":
        names = sorted(names, key=lambda name: int(name) if name.isdigit() else 0)
    return "\n".join(draft.body_examples.get(name, "") for name in names)


def draft_of(
    form: TemplateForm, buttons: Any, *, name: str = "", language: str = ""
) -> tuple[TemplateDraft, list[int]]:
    """The draft the (valid) forms describe, and for each of its buttons the row of the formset it came from."""
    data = form.cleaned_data
    draft = TemplateDraft(
        name=(name or data["name"]).strip(),
        language=language or data["language"],
        category=data["category"],
        parameter_format=data["parameter_format"],
        header_format=data["header_format"],
        header_text=data["header_text"],
        header_example=data["header_example"].strip(),
        body=data["body"].replace("\r\n", "\n"),
        footer=data["footer"],
    )
    draft.body_examples = examples_for(draft.body, draft.parameter_format, data["body_examples"])
    rows: list[int] = []
    if draft.category == "AUTHENTICATION":
        draft.header_format = "NONE"
        draft.add_security_recommendation = bool(data["add_security_recommendation"])
        draft.code_expiration_minutes = data["code_expiration_minutes"]
        draft.buttons = [
            ButtonDraft(
                type="OTP",
                otp_type=data["otp_type"],
                text=data["otp_text"].strip(),
                autofill_text=data["autofill_text"].strip(),
                package_name=data["package_name"].strip(),
                signature_hash=data["signature_hash"].strip(),
            )
        ]
        return draft, [0]
    for row, button_form in enumerate(buttons.forms):
        values = button_form.cleaned_data
        if not values.get("type"):
            continue
        draft.buttons.append(
            ButtonDraft(
                type=values["type"],
                text=values["text"].strip(),
                url=values["url"].strip(),
                url_example=values["url_example"].strip(),
                phone_number=values["phone_number"].strip(),
                example=values["example"].strip(),
            )
        )
        rows.append(row)
    return draft, rows


# Where a refusal about an authentication template's one button is shown on the form.
OTP_FIELDS = {
    "otp_type": "otp_type",
    "text": "otp_text",
    "autofill_text": "autofill_text",
    "package_name": "package_name",
    "signature_hash": "signature_hash",
}


def show_errors(
    form: TemplateForm, buttons: Any, details: dict[str, Any], rows: list[int], *, authentication: bool
) -> bool:
    """Put the service's refusals (``details``: messages by draft field) beside their fields. False when the
    details are not about fields (the caller then shows the error's message)."""
    if not details or not all(isinstance(v, list) and all(isinstance(m, str) for m in v) for v in details.values()):
        return False
    for where, messages in details.items():
        for message in messages:
            if where.startswith("buttons."):
                _index, _sep, field = where.removeprefix("buttons.").partition(".")
                index = int(_index) if _index.isdigit() else -1
                if authentication:
                    form.add_error(OTP_FIELDS.get(field), message)
                elif 0 <= index < len(rows) and field in ButtonForm.base_fields:
                    buttons.forms[rows[index]].add_error(field, message)
                else:
                    form.add_error(None, message)
            elif where in form.fields and not form.fields[where].disabled:
                form.add_error(where, message)
            else:
                form.add_error(None, message)
    return True


def initial_of(draft: TemplateDraft) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The forms' initial values for a stored template's draft."""
    initial: dict[str, Any] = {
        "name": draft.name,
        "language": draft.language,
        "category": draft.category,
        "parameter_format": draft.parameter_format,
        "header_format": draft.header_format,
        "header_text": draft.header_text,
        "header_example": draft.header_example,
        "body": draft.body,
        "body_examples": example_lines(draft),
        "footer": draft.footer,
        "add_security_recommendation": draft.add_security_recommendation,
        "code_expiration_minutes": draft.code_expiration_minutes,
    }
    if draft.category == "AUTHENTICATION" and draft.buttons:
        otp = draft.buttons[0]
        initial.update(
            otp_type=otp.otp_type or "COPY_CODE",
            otp_text=otp.text,
            autofill_text=otp.autofill_text,
            package_name=otp.package_name,
            signature_hash=otp.signature_hash,
        )
        return initial, []
    buttons = [
        {
            "type": b.type,
            "text": b.text,
            "url": b.url,
            "url_example": b.url_example,
            "phone_number": b.phone_number,
            "example": b.example,
        }
        for b in draft.buttons
    ]
    return initial, buttons
